"""Views used only by the tests of the DRF integration and decorators."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views import View
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_cc.decorators import ProtectedResourceMixin, scopes_required
from oauth_cc.rest_framework import AnyOf, HasScope, required_scopes


def _describe(request: Request) -> Response:
    user = request.user
    return Response({
        "user": type(user).__name__, "client_id": getattr(user, "client_id", None),
        "is_authenticated": user.is_authenticated, "pk": user.pk,
    })


class AllOf(APIView):
    required_scopes = ["a", "b"]

    def get(self, request: Request) -> Response:
        return _describe(request)


class PerMethod(APIView):
    required_scopes = {"GET": "a", "POST": ["b", "c"]}

    def get(self, request: Request) -> Response:
        return _describe(request)

    def post(self, request: Request) -> Response:
        return _describe(request)

    def delete(self, request: Request) -> Response:  # no entry: misconfigured
        return _describe(request)


class Alternatives(APIView):
    required_scopes = AnyOf(["admin"], ["a", "b"])

    def get(self, request: Request) -> Response:
        return _describe(request)


class Undeclared(APIView):
    def get(self, request: Request) -> Response:
        return _describe(request)


class Bound(APIView):
    permission_classes = [HasScope.require("c")]

    def get(self, request: Request) -> Response:
        return _describe(request)


class AuthenticatedOnly(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return _describe(request)


class Never(BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        return False


class Always(BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        return True


def _composed(permission: object) -> type[APIView]:
    class Composed(APIView):
        permission_classes = [permission]

        def get(self, request: Request) -> Response:
            return _describe(request)

    return Composed


ScopeOrAlways = _composed(HasScope.require("admin") | Always)
ScopeOrNever = _composed(HasScope.require("admin") | Never)
NeverOrScope = _composed(Never | HasScope.require("admin"))
ScopeAndNever = _composed(HasScope.require("a") & Never)
NotScope = _composed(~HasScope.require("admin"))
NotScopeAndNever = _composed(~HasScope.require("admin") & Never)
AuthenticatedAndScope = _composed(IsAuthenticated & HasScope.require("admin"))
class NoAuthenticators(APIView):
    authentication_classes: list[type] = []
    permission_classes = [HasScope.require("a")]

    def get(self, request: Request) -> Response:
        return _describe(request)


HeldScope = _composed((Never | Always) & HasScope.require("admin"))
ScopeOrScope = _composed(HasScope.require("admin") | HasScope.require("b"))
NotOfScopeAndNever = _composed(~(HasScope.require("admin") & Never))


@api_view(["GET"])
@required_scopes("a")
def function_view(request: Request) -> Response:
    return _describe(request)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def function_authenticated(request: Request) -> Response:
    return _describe(request)


@scopes_required(AnyOf(["admin"], ["b"]))
def plain_alternatives(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"client_id": request.user.client_id,
                         "scope": sorted(request.oauth_token.scopes)})


class PlainClassView(ProtectedResourceMixin, View):
    required_scopes = {"GET": "a", "POST": "b"}

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"client_id": request.oauth_token.client_id})

    def post(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"client_id": request.oauth_token.client_id})


@scopes_required({"GET": "a", "POST": "b"})
def plain_per_method(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"method": request.method})


# --- async twins of the plain views (issue 12): same declarations, same answers -------------

@scopes_required(AnyOf(["admin"], ["b"]))
async def async_plain_alternatives(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"client_id": request.user.client_id,
                         "scope": sorted(request.oauth_token.scopes)})


class AsyncPlainClassView(ProtectedResourceMixin, View):
    required_scopes = {"GET": "a", "POST": "b"}

    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"client_id": request.oauth_token.client_id})

    async def post(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"client_id": request.oauth_token.client_id})


@scopes_required({"GET": "a", "POST": "b"})
async def async_plain_per_method(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"method": request.method})


@scopes_required("inventory:read")
async def async_whoami(request: HttpRequest) -> JsonResponse:
    """``/api/whoami``'s answer from an async view (the mutation and hostile-input suites)."""
    token = request.oauth_token
    return JsonResponse({"client_id": token.client_id, "scope": " ".join(sorted(token.scopes)),
                         "aud": list(token.audience)})
