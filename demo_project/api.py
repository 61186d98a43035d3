"""The demo's protected API: one of each way to protect a view.

- ``ItemViewSet``: a DRF viewset with a scope per action;
- ``StatsView``: a DRF class-based view;
- ``whoami``: a DRF function view;
- ``plain_stock``: a plain Django view;
- ``HealthView``: an open DRF view (no token, no scope), for load balancers.

Authentication (``BearerTokenAuthentication``) and the scope check (``HasScope``) are the
defaults in ``REST_FRAMEWORK``, so each DRF view only declares ``required_scopes``;
``HealthView`` opts out of both.
"""

from django.db.models import Sum
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import api_view
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_cc.decorators import scopes_required
from oauth_cc.rest_framework import required_scopes

from .models import Item

READ, WRITE = "inventory:read", "inventory:write"


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name", "quantity", "created_at"]


class ItemViewSet(viewsets.ModelViewSet):
    queryset = Item.objects.all()
    serializer_class = ItemSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    required_scopes = {
        "list": READ, "retrieve": READ, "metadata": READ,
        "create": WRITE, "destroy": WRITE,
    }


class StatsSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    total_quantity = serializers.IntegerField()


class WhoAmISerializer(serializers.Serializer):
    client_id = serializers.CharField()
    scope = serializers.CharField()
    aud = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()


class StatsView(APIView):
    required_scopes = [READ]
    serializer_class = StatsSerializer  # what the OpenAPI schema shows

    def get(self, request: Request) -> Response:
        totals = Item.objects.aggregate(total=Sum("quantity"))
        return Response({"items": Item.objects.count(), "total_quantity": totals["total"] or 0})


@extend_schema(responses=WhoAmISerializer)
@api_view(["GET"])
@required_scopes(READ)
def whoami(request: Request) -> Response:
    token = request.auth
    return Response({
        "client_id": request.user.client_id,
        "scope": " ".join(sorted(token.scopes)),
        "aud": list(token.audience),
        "expires_at": token.expires_at.isoformat(),
    })


@scopes_required(READ)
def plain_stock(request: HttpRequest) -> JsonResponse:
    items = Item.objects.values("name", "quantity")
    return JsonResponse({"client_id": request.oauth_token.client_id, "stock": list(items)})


class HealthView(APIView):
    """``GET /api/health``: whether the process answers, for a load balancer. No token, no
    scope, no database query."""

    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = HealthSerializer

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
