"""django-ninja APIs used only by tests/test_ninja.py (``oauth_cc.contrib.ninja``).

- ``api`` (``/ninja/``): ``install()``-ed; sync and async operations, each way to declare
  scopes (all of, ``AnyOf``, per method, any token), a router with its own auth, open
  operations;
- ``api_wide`` (``/ninja-wide/``): ``install()``-ed, auth on the ``NinjaAPI`` itself;
- ``api_bare`` (``/ninja-bare/``): not ``install()``-ed (oauth_cc registers its handlers at
  the first refused request);
- ``api_own`` (``/ninja-own/``): not ``install()``-ed, with its own ``AuthenticationError``
  handler, which is kept.

``api`` also has operations with lists of auth callables: two ``OAuthToken`` objects
(``/either``), ``OAuthToken`` before and after another callable (``ServiceKey``:
``/token-or-key``, ``/key-or-token``), and one with ``ServiceKey`` alone (``/key-only``).

Mounted by one line in tests/urls.py: ``path("", include("tests.ninja_api"))``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from ninja import Field, NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError
from ninja.security import APIKeyHeader

from demo_project.models import Item
from oauth_cc.contrib.ninja import AnyOf, OAuthToken, install
from oauth_cc.resource.principal import ClientPrincipal

READ, WRITE = "inventory:read", "inventory:write"
ALTERNATIVES = AnyOf(["inventory:admin"], [READ, "inventory:audit"])


class ItemIn(Schema):
    name: str
    quantity: int = Field(0, le=2**31 - 1)  # PositiveIntegerField: SQLite int64, PostgreSQL int4


def describe(request: HttpRequest, mode: str) -> dict[str, Any]:
    """What the operation saw: request.auth, request.user, and which path ran it."""
    token = request.auth  # type: ignore[attr-defined]
    user = request.user
    return {
        "mode": mode,
        "client_id": token.client_id,
        "scope": " ".join(sorted(token.scopes)),
        "auth": type(token).__name__,
        "user": type(user).__name__,
        "principal": isinstance(user, ClientPrincipal) and user.client_id == token.client_id,
        "same_token": getattr(request, "oauth_token", None) is token,
    }


api = install(NinjaAPI(title="oauth_cc tests", urls_namespace="oauth_cc_tests_ninja"))


@api.get("/items", auth=OAuthToken(READ))
def list_items(request: HttpRequest) -> dict[str, Any]:
    names = list(Item.objects.values_list("name", flat=True))  # a sync DB call, in a thread
    return {**describe(request, "sync"), "items": names}


@api.post("/items", auth=OAuthToken(WRITE))
def create_item(request: HttpRequest, item: ItemIn) -> dict[str, Any]:
    created = Item.objects.create(name=item.name, quantity=max(item.quantity, 0))
    return {**describe(request, "sync"), "id": created.pk}


@api.get("/async/items", auth=OAuthToken(READ))
async def list_items_async(request: HttpRequest) -> dict[str, Any]:
    names = [name async for name in Item.objects.values_list("name", flat=True)]
    return {**describe(request, "async"), "items": names}


@api.post("/async/items", auth=OAuthToken(WRITE))
async def create_item_async(request: HttpRequest, item: ItemIn) -> dict[str, Any]:
    created = await Item.objects.acreate(name=item.name, quantity=max(item.quantity, 0))
    return {**describe(request, "async"), "id": created.pk}


@api.get("/all-of", auth=OAuthToken(READ, WRITE))
def all_of(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@api.get("/alternatives", auth=OAuthToken(ALTERNATIVES))
def alternatives(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@api.get("/async/alternatives", auth=OAuthToken(ALTERNATIVES))
async def alternatives_async(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "async")


@api.api_operation(["GET", "POST"], "/per-method",
                   auth=OAuthToken({"GET": READ, "POST": WRITE}))
def per_method(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@api.get("/any-token", auth=OAuthToken())
def any_token(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@api.get("/open")
def open_operation(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


router = Router(auth=OAuthToken(READ))


@router.get("/stock")
def stock(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@router.get("/async/stock")
async def stock_async(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "async")


@router.delete("/stock", auth=OAuthToken(WRITE))
def clear_stock(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@router.get("/open", auth=None)
def router_open(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


api.add_router("/router", router)


# --- lists of auth callables ------------------------------------------------------------------

SERVICE_KEY = "service-key"


class ServiceKey(APIKeyHeader):
    """Another way in: a static key in ``X-Service-Key`` (Ninja's own ``APIKeyHeader``)."""

    param_name = "X-Service-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> str | None:
        return key if key == SERVICE_KEY else None


def who(request: HttpRequest, mode: str) -> dict[str, Any]:
    """Which callable accepted: the service key, or a token (with what describe() says)."""
    if request.auth == SERVICE_KEY:  # type: ignore[attr-defined]
        return {"mode": mode, "auth": SERVICE_KEY}
    return describe(request, mode)


EITHER = [OAuthToken(WRITE), OAuthToken(READ)]
TOKEN_OR_KEY = [OAuthToken(READ), ServiceKey()]
KEY_OR_TOKEN = [ServiceKey(), OAuthToken(READ)]


@api.get("/either", auth=EITHER)
def either(request: HttpRequest) -> dict[str, Any]:
    return who(request, "sync")


@api.get("/async/either", auth=EITHER)
async def either_async(request: HttpRequest) -> dict[str, Any]:
    return who(request, "async")


@api.get("/token-or-key", auth=TOKEN_OR_KEY)
def token_or_key(request: HttpRequest) -> dict[str, Any]:
    return who(request, "sync")


@api.get("/async/token-or-key", auth=TOKEN_OR_KEY)
async def token_or_key_async(request: HttpRequest) -> dict[str, Any]:
    return who(request, "async")


@api.get("/key-or-token", auth=KEY_OR_TOKEN)
def key_or_token(request: HttpRequest) -> dict[str, Any]:
    return who(request, "sync")


@api.get("/async/key-or-token", auth=KEY_OR_TOKEN)
async def key_or_token_async(request: HttpRequest) -> dict[str, Any]:
    return who(request, "async")


@api.get("/key-only", auth=ServiceKey())
def key_only(request: HttpRequest) -> dict[str, Any]:
    return who(request, "sync")


api_wide = install(NinjaAPI(title="oauth_cc tests (API-wide auth)", auth=OAuthToken(READ),
                            urls_namespace="oauth_cc_tests_ninja_wide"))


@api_wide.get("/items")
def wide_items(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@api_wide.get("/async/items")
async def wide_items_async(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "async")


api_bare = NinjaAPI(title="oauth_cc tests (not installed)", auth=OAuthToken(READ),
                    urls_namespace="oauth_cc_tests_ninja_bare")


@api_bare.get("/items")
def bare_items(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


@api_bare.get("/async/items")
async def bare_items_async(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "async")


api_own = NinjaAPI(title="oauth_cc tests (own handler)", auth=OAuthToken(READ),
                   urls_namespace="oauth_cc_tests_ninja_own")


@api_own.exception_handler(AuthenticationError)
def own_refusal(request: HttpRequest, exc: Any) -> HttpResponse:
    response = JsonResponse({"detail": "The project's own answer."}, status=401)
    response["WWW-Authenticate"] = 'Custom realm="own"'
    return response


@api_own.get("/items")
def own_items(request: HttpRequest) -> dict[str, Any]:
    return describe(request, "sync")


urlpatterns = [
    path("ninja/", api.urls),
    path("ninja-wide/", api_wide.urls),
    path("ninja-bare/", api_bare.urls),
    path("ninja-own/", api_own.urls),
]
