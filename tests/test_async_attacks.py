"""Async views, ASGI and django-ninja under review: the problems a review found (a request
after a revocation joining an older reload; a list of Ninja auth callables stopping at the
first; a 401 without a challenge when install() was forgotten), each kept fixed by an
HTTP-level test here, and risky cases checked and found fine.

Checklist items (../shared/spec/CHECKLIST.md): GEN-09, BEARER-08, RSV-07, REV-06, X-11.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_started
from django.db import reset_queries
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient
from django.urls import include, path
from django.views import View
from ninja import NinjaAPI

from oauth_cc.contrib.ninja import SCHEME_NAME, OAuthToken, install
from oauth_cc.decorators import ProtectedResourceMixin
from oauth_cc.resource import key_sources, local
from oauth_cc.resource.local import DatabaseStore
from tests.conftest import get_token, post_token
from tests.ninja_api import ServiceKey  # the same other way in as test_ninja's API
from tests.test_async_views import asend, authorization, send

READ, WRITE = "review:read", "review:write"
#: What /t/async/whoami requires.
WHOAMI = "inventory:read"


# --- a Ninja API with several auth callables (mounted by this module's urlpatterns) ----------

review_api = install(NinjaAPI(title="review", urls_namespace="oauth_cc_review_ninja"))


def _who(request: HttpRequest) -> dict[str, Any]:
    auth = request.auth  # type: ignore[attr-defined]
    return {"auth": auth if isinstance(auth, str) else auth.client_id}


@review_api.get("/either", auth=[OAuthToken(READ), OAuthToken(WRITE)])
def either(request: HttpRequest) -> dict[str, Any]:
    return _who(request)


@review_api.get("/async/either", auth=[OAuthToken(READ), OAuthToken(WRITE)])
async def either_async(request: HttpRequest) -> dict[str, Any]:
    return _who(request)


@review_api.get("/token-or-key", auth=[OAuthToken(READ), ServiceKey()])
def token_or_key(request: HttpRequest) -> dict[str, Any]:
    return _who(request)


@review_api.get("/async/token-or-key", auth=[OAuthToken(READ), ServiceKey()])
async def token_or_key_async(request: HttpRequest) -> dict[str, Any]:
    return _who(request)


urlpatterns = [
    path("", include("tests.urls")),
    path("review-ninja/", review_api.urls),
]

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def token_for(make_client: Any, signing_key: Any, client: Any) -> Any:
    def issue(scope: str) -> str:
        c, secret = make_client(scope=scope, default_scope=scope)
        return get_token(client, c, secret)

    return issue


def ninja_get(client: Any, transport: str, url: str, headers: dict[str, str]) -> Any:
    if transport == "asgi":
        return send("GET", url.replace("/review-ninja/", "/review-ninja/async/"), headers)
    return client.get(url, secure=True, headers=headers)


# --- 1. Ninja: several auth callables ----------------------------------------------------------

def test_openapi_lists_each_auth_callable_as_an_alternative(db):
    # What the schema promises (OpenAPI security: any one requirement object suffices).
    schema = review_api.get_openapi_schema()
    security = schema["paths"]["/review-ninja/either"]["get"]["security"]
    assert security == [{SCHEME_NAME: [READ]}, {SCHEME_NAME: [WRITE]}]
    security = schema["paths"]["/review-ninja/token-or-key"]["get"]["security"]
    assert {SCHEME_NAME: [READ]} in security and {"ServiceKey": []} in security


@pytest.mark.parametrize("transport", ["wsgi", "asgi"])
def test_a_token_for_the_second_alternative_is_accepted_RSV_07(client, token_for, transport):
    response = ninja_get(client, transport, "/review-ninja/either",
                         authorization(token_for(WRITE)))
    assert response.status_code == 200, (response.status_code, response.content)


@pytest.mark.parametrize("transport", ["wsgi", "asgi"])
def test_another_auth_callable_after_oauth_token_is_tried_BEARER_08(client, db, transport):
    response = ninja_get(client, transport, "/review-ninja/token-or-key",
                         {"X-Service-Key": "service-key"})
    assert response.status_code == 200, (response.status_code, response.content)


@pytest.mark.parametrize("transport", ["wsgi", "asgi"])
def test_with_neither_credential_the_refusal_is_ours(client, db, transport):
    # Today's behaviour, kept by any fix: no credentials at all is a 401 with a challenge.
    response = ninja_get(client, transport, "/review-ninja/token-or-key", {})
    assert response.status_code == 401
    assert response.has_header("WWW-Authenticate")


# --- 2. Ninja without install(): a 401 without a challenge -------------------------------------

@pytest.mark.parametrize("url", ["/ninja-bare/items", "/ninja-bare/async/items"])
def test_without_install_a_401_still_has_a_challenge_GEN_09(client, db, url):
    response = send("GET", url, {})
    assert response.status_code == 401
    assert response.has_header("WWW-Authenticate"), response.content


def _setup(ok: bool) -> None:
    """A broken setup is an error, never a failed assertion of the test itself."""
    if not ok:
        raise RuntimeError("the test's setup did not go as planned")


# --- 3. Revocation: a reload already in flight answers a request that came after the revoke ----

def test_a_request_after_a_revocation_never_gets_an_older_set_REV_06(
        client, make_client, signing_key, settings, monkeypatch):
    settings.MIDDLEWARE = []  # no middleware thread hop: the race is on the loop alone
    # The revocation version in a per-process cache, so the file channel (a stat() on the
    # loop): with Redis (make test-postgres) reading it would wait for the thread that the
    # load below holds, and request B could never start before that load ends.
    settings.CACHES = {**settings.CACHES, "revocation-local": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REVOCATION_CACHE": "revocation-local"}
    c, secret = make_client(scope=WHOAMI, default_scope=WHOAMI)
    victim, bystander, unrelated = (get_token(client, c, secret) for _ in range(3))
    _setup(send("GET", "/t/async/whoami", authorization(victim)).status_code == 200)

    # A revocation elsewhere: the next request (A) reloads the set.
    _setup(post_token(client, {"token": unrelated}, url="/oauth/revoke",
                      auth=(c.client_id, secret)).status_code == 200)

    joined = threading.Event()
    release: dict[str, Any] = {}

    class Watched(key_sources.SingleFlight):
        """The real SingleFlight, telling the test when a second request waits on it."""

        async def run(self, key: Any, load: Any) -> Any:
            self.callers = getattr(self, "callers", 0) + 1
            if self.callers == 2:
                joined.set()
            return await super().run(key, load)

    monkeypatch.setattr(local, "_reloads", Watched())
    original = DatabaseStore._load_revocations
    revoked_meanwhile: list[int] = []

    def load_then_revoke(self: DatabaseStore, version: Any, now: float) -> Any:
        snapshot = original(self, version, now)  # the query has run: victim not revoked yet
        if not revoked_meanwhile:
            # The client revokes victim now (as another worker could, right after the query).
            revoked_meanwhile.append(post_token(
                client, {"token": victim}, url="/oauth/revoke",
                auth=(c.client_id, secret)).status_code)
            release["go"]()  # request B starts only now, after the revocation
            if not joined.wait(timeout=10):
                raise RuntimeError("request B never reached the revocation load")
        return snapshot

    monkeypatch.setattr(DatabaseStore, "_load_revocations", load_then_revoke)

    async def scenario() -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        go = asyncio.Event()
        release["go"] = lambda: loop.call_soon_threadsafe(go.set)

        async def request_b() -> Any:
            await go.wait()
            return await asend("GET", "/t/async/whoami", authorization(victim),
                               http=AsyncClient())

        return await asyncio.gather(
            asend("GET", "/t/async/whoami", authorization(bystander), http=AsyncClient()),
            request_b())

    # reset_queries is a sync receiver: it would wait for the thread the load is holding.
    request_started.disconnect(reset_queries)
    try:
        first, second = async_to_sync(scenario)()
    finally:
        request_started.connect(reset_queries)
    _setup(revoked_meanwhile == [200] and first.status_code == 200)
    # B started after the revocation endpoint answered 200: it must be refused.
    assert second.status_code == 401, second.content
    # Once the flight has landed, the next request is refused (the window is one flight).


def test_the_next_request_after_a_revocation_is_refused_REV_06(client, make_client,
                                                               signing_key):
    # Verified fine: without a reload in flight the async path sees a revocation at once.
    c, secret = make_client(scope=WHOAMI, default_scope=WHOAMI)
    token = get_token(client, c, secret)
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 200
    post_token(client, {"token": token}, url="/oauth/revoke", auth=(c.client_id, secret))
    for _ in range(2):
        refused = send("GET", "/t/async/whoami", authorization(token))
        assert refused.status_code == 401
        assert refused.json()["error_description"] == "The access token has been revoked."


# --- 4. Verified fine ----------------------------------------------------------------------------

def test_single_flight_keeps_nothing_for_closed_loops(token_for):
    # Each async_to_sync call (like each AsyncClient request from a sync test) runs a new
    # event loop; the per-loop maps must not keep one entry per loop forever.
    token = token_for(WHOAMI)
    key_sources.local_keys.clear()
    for _ in range(5):
        key_sources.local_keys.clear()
        assert send("GET", "/t/async/whoami", authorization(token)).status_code == 200
    gc.collect()
    # At most the last loop, which asgiref may still hold; none of the earlier four.
    assert len(key_sources.local_keys._flights._loops) <= 1
    assert len(local._reloads._loops) <= 1
    assert all(not flights for flights in key_sources.local_keys._flights._loops.values())


def test_mixed_sync_and_async_handlers_are_refused_by_django():
    # Django's rule for class-based views holds with the mixin: as_view() refuses a class
    # with both kinds of handler, so dispatch never has to pick.
    class Mixed(ProtectedResourceMixin, View):
        required_scopes = [READ]

        def get(self, request: HttpRequest) -> JsonResponse:
            return JsonResponse({})

        async def post(self, request: HttpRequest) -> JsonResponse:
            return JsonResponse({})

    with pytest.raises(ImproperlyConfigured):
        Mixed.as_view()


def test_async_class_view_options_and_head_match_the_sync_twin(token_for):
    from tests.test_async_views import both

    token = token_for("a b")
    for method in ("OPTIONS", "HEAD"):
        both(method, "/t/plain-class", authorization(token))
