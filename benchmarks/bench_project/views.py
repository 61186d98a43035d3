"""The protected views: the same tiny JSON response behind each framework's protection."""

from django.http import HttpRequest, JsonResponse
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_cc.decorators import scopes_required
from oauth_cc.rest_framework import BearerTokenAuthentication, HasScope

BODY = {"items": [{"id": 1, "name": "bolt"}]}


class Bare(APIView):
    """The ceiling: a DRF view with no authentication at all."""

    def get(self, request: Request) -> Response:
        return Response(BODY)


def plain(request: HttpRequest) -> JsonResponse:
    """The floor: a plain Django view."""
    return JsonResponse(BODY)


class OAuthCC(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScope]
    required_scopes = ["read"]

    def get(self, request: Request) -> Response:
        return Response(BODY)


class DOT(APIView):
    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes = ["read"]

    def get(self, request: Request) -> Response:
        return Response(BODY)


# --- async views (benchmarks/asgi_bench.py) ------------------------------------------------

async def async_bare(request: HttpRequest) -> JsonResponse:
    """The async floor: an open async view."""
    return JsonResponse(BODY)


@scopes_required("read")
async def async_protected(request: HttpRequest) -> JsonResponse:
    """The same, behind oauth_cc's decorator (the async verification path)."""
    return JsonResponse(BODY)
