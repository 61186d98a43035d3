"""Async views protected by ``scopes_required`` and ``ProtectedResourceMixin`` (issue 12),
through Django's ASGI handler (``AsyncClient``, or an ASGI scope built here when a test needs
raw headers or the client's address).

Each async view has a sync twin with the same declaration (tests/api_views.py); the answers
must be the same: status, ``WWW-Authenticate``, ``Allow``, JSON body. The tokens are verified
by the async path (``oauth_cc.resource.asynchronous``): a request on a cold cache loads the
keys off the event loop (Django would raise ``SynchronousOnlyOperation`` on the loop, and
verification would fail closed), so a 200 on a cold cache is itself the check that nothing
touched the database from the loop. No test sets ``DJANGO_ALLOW_ASYNC_UNSAFE``.

Checklist items (../shared/spec/CHECKLIST.md) are named in each test: BEARER-01, BEARER-05,
BEARER-06, BEARER-08, GEN-09, RSV-01..09, REV-06, DPOP-10, DPOP-16, DPOP-20, DPOP-21,
MTLS-05, INTRO-03.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.test import AsyncClient
from django.test import Client as HttpClient
from django.test.client import FakePayload
from django.urls import resolve
from hypothesis import assume, given
from hypothesis import strategies as st

from oauth_cc import caches
from oauth_cc.resource import asynchronous
from oauth_cc.resource.local import DatabaseStore
from tests import test_hostile_input as hostile
from tests import test_jwt_mutations as mutations
from tests.conftest import (
    NO_TOKEN_CHALLENGE,
    broken_signature,
    forge,
    get_token,
    post_token,
    valid_claims,
)

# The fixtures of the suites run again here against the async view.
from tests.test_hostile_input import world  # noqa: F401
from tests.test_jwt_mutations import keyset, original  # noqa: F401

READ = "inventory:read"


# --- sending requests through the ASGI handler ----------------------------------------------

async def asend(method: str, path: str, headers: dict[str, str] | None = None, *,
                body: bytes = b"", secure: bool = True, query: str = "",
                client_address: str = "127.0.0.1", http: AsyncClient | None = None) -> Any:
    """One request through Django's ASGI handler, with these exact headers (names as sent
    on the wire), body, scheme and client address."""
    http = http or AsyncClient()
    raw_headers = [(b"host", b"testserver")]
    for name, value in (headers or {}).items():
        raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    if body and not any(name == b"content-length" for name, _ in raw_headers):
        raw_headers.append((b"content-length", str(len(body)).encode("ascii")))
    return await http.request(
        method=method, path=path, query_string=query, headers=raw_headers,
        scheme="https" if secure else "http",
        server=("testserver", "443" if secure else "80"), client=[client_address, 50000],
        _body_file=FakePayload(body))


def send(method: str, path: str, headers: dict[str, str] | None = None, **options: Any) -> Any:
    """``asend`` from a sync test: one event loop for the request."""
    return async_to_sync(asend)(method, path, headers, **options)


def authorization(token: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


#: Sync view -> its async twin (same required_scopes, same body).
TWINS = {
    "/t/plain-alternatives": "/t/async/plain-alternatives",
    "/t/plain-class": "/t/async/plain-class",
    "/t/plain-per-method": "/t/async/plain-per-method",
}


def wire(response: Any) -> tuple[Any, ...]:
    """What the client sees of an answer (Django's sync and async handlers differ in
    nothing else here)."""
    return (response.status_code, response.get("WWW-Authenticate"), response.get("Allow"),
            response.get("Content-Type"), response.content)


def both(method: str, sync_path: str, headers: dict[str, str], body: bytes = b"",
         content_type: str | None = None) -> Any:
    """The sync view's answer (WSGI test client) and its async twin's (ASGI): equal."""
    environ = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    sync = HttpClient().generic(method, sync_path, body, secure=True,
                                content_type=content_type or "application/octet-stream",
                                **environ)
    if content_type:
        headers = {**headers, "Content-Type": content_type}
    answer = send(method, TWINS[sync_path], headers, body=body)
    assert wire(answer) == wire(sync)
    return answer


@pytest.fixture
def token_for(api_client: Any, make_client: Any, client: HttpClient) -> Callable[[str], str]:
    def issue(scope: str) -> str:
        c, secret = make_client(scope=scope, default_scope=scope)
        return get_token(client, c, secret)

    return issue


def test_no_unsafe_async_escape_hatch():
    # The async path must work without Django's escape hatch (issue 12).
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ


def test_the_protected_views_are_async_and_csrf_exempt():
    for path in TWINS.values():
        view = resolve(path).func
        assert iscoroutinefunction(view), path
        assert getattr(view, "csrf_exempt", False), path
    for path in TWINS:
        assert not iscoroutinefunction(resolve(path).func), path
    assert inspect.iscoroutinefunction(asynchronous.authenticate)
    assert inspect.iscoroutinefunction(asynchronous.protect)


# --- the same answers as the sync views -----------------------------------------------------

@pytest.mark.parametrize("path", list(TWINS))
def test_valid_token_is_200_on_a_cold_cache_RSV_01(path, token_for):
    # RSV-01: the keys are loaded on first sight, off the event loop; then from memory.
    token = token_for("a b")
    caches.clear()
    for _ in range(2):
        response = send("GET", TWINS[path], authorization(token))
        assert response.status_code == 200, response.content
    assert both("GET", path, authorization(token)).status_code == 200


@pytest.mark.parametrize("path", list(TWINS))
def test_no_token_is_a_bare_challenge_BEARER_08_DPOP_20(path, db):
    # BEARER-08, DPOP-20: every scheme offered, no error code.
    response = both("GET", path, {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == NO_TOKEN_CHALLENGE
    assert "error" not in response.json()


@pytest.mark.parametrize("path", list(TWINS))
@pytest.mark.parametrize("token", [
    pytest.param(lambda: forge(valid_claims(exp=int(time.time()) - 3600)), id="expired"),
    pytest.param(lambda: forge(valid_claims(aud="https://other.example.test")), id="audience"),
    pytest.param(lambda: broken_signature(forge(valid_claims())), id="signature"),
    pytest.param(lambda: "not-a-jwt", id="garbage"),
])
def test_invalid_token_is_401_invalid_token_RSV_03_RSV_05_RSV_06_BEARER_06(
        path, token, signing_key):
    # RSV-03, RSV-05, RSV-06, BEARER-05, BEARER-06
    response = both("GET", path, authorization(token()))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("path", list(TWINS))
def test_missing_scope_is_403_insufficient_scope_RSV_07(path, token_for):
    # RSV-07: 403 with the scope the view needs in the challenge.
    response = both("GET", path, authorization(token_for("c")))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert ', scope="' in response["WWW-Authenticate"]
    assert response.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("path", list(TWINS))
@pytest.mark.parametrize("header", ["Bearer", "Bearer  a b", "Bearer\ttoken", "Bearer a,b"])
def test_malformed_header_is_400_invalid_request_BEARER_01(path, header, db):
    # BEARER-01, BEARER-05
    response = both("GET", path, {"Authorization": header})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/t/plain-per-method"),   # a mapping without the method: 405 with Allow
    ("PUT", "/t/plain-class"),           # a method the class does not handle
    ("OPTIONS", "/t/plain-class"),
])
def test_methods_without_an_entry_are_405_GEN_09(method, path, token_for):
    # GEN-09: 405 with Allow, for the sync and the async view alike.
    response = both(method, path, authorization(token_for("a b")))
    assert response.status_code == 405
    assert response.has_header("Allow")


def test_per_method_scopes_on_async_views(token_for):
    for path in ("/t/plain-class", "/t/plain-per-method"):
        assert both("POST", path, authorization(token_for("a"))).status_code == 403
        assert both("POST", path, authorization(token_for("b"))).status_code == 200
        assert both("HEAD", path, authorization(token_for("a"))).status_code == 200


def test_async_views_are_csrf_exempt_BEARER_05(token_for):
    # A token is the credential: no CSRF cookie is needed (AsyncClient enforces CSRF).
    response = send("POST", "/t/async/plain-class", authorization(token_for("b")),
                    body=b"x=1", http=AsyncClient(enforce_csrf_checks=True))
    assert response.status_code == 200


def test_request_carries_the_token_and_the_principal(token_for):
    token = token_for("b")
    response = send("GET", "/t/async/plain-alternatives", authorization(token))
    assert response.status_code == 200
    assert response.json()["scope"] == ["b"]


def test_refusals_are_logged_without_the_token_BEARER_10(signing_key, caplog):
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    token = forge(valid_claims(aud="https://other.example.test"))
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 401
    assert token not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- the demo's async views -----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/async/stock", "/api/async/stats"])
def test_demo_async_views(path, token_for, db):
    assert send("GET", path, authorization(token_for(READ))).status_code == 200
    assert send("GET", path, authorization(token_for("inventory:write"))).status_code == 403
    assert send("GET", path).status_code == 401
    assert send("GET", "/api/async/health").json() == {"status": "ok"}


# --- asynchronous.protect (for integrations such as django-ninja) ----------------------------

def test_protect_raises_the_sync_paths_errors(token_for, rf):
    from django.core.handlers.asgi import ASGIRequest  # noqa: F401 (the kind of request)

    from oauth_cc.errors import InsufficientScope, MethodNotAllowed, NoCredentials

    token = token_for("a")
    request = rf.get("/anything", HTTP_AUTHORIZATION=f"Bearer {token}", secure=True)
    found = async_to_sync(asynchronous.protect)(request, ["a"])
    assert found.scopes == {"a"}
    with pytest.raises(InsufficientScope) as refused:
        async_to_sync(asynchronous.protect)(request, ["b"])
    assert refused.value.scheme == "Bearer"
    with pytest.raises(MethodNotAllowed):
        async_to_sync(asynchronous.protect)(request, {"POST": "a"})
    with pytest.raises(NoCredentials):
        async_to_sync(asynchronous.protect)(rf.get("/anything"), ["a"])


# --- revocation and opaque tokens (local mode) ----------------------------------------------

def test_revoked_token_is_refused_REV_06(client, make_client, signing_key):
    # REV-06: revoked at the revocation endpoint; the async view refuses it on its next
    # request (the version is read with one stat(), the set reloaded off the loop).
    c, secret = make_client(scope=READ, default_scope=READ)
    token = get_token(client, c, secret)
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 200
    response = post_token(client, {"token": token}, url="/oauth/revoke",
                          auth=(c.client_id, secret))
    assert response.status_code == 200
    refused = send("GET", "/t/async/whoami", authorization(token))
    assert refused.status_code == 401
    assert refused.json()["error_description"] == "The access token has been revoked."


def test_revocations_through_a_shared_cache_REV_06(client, make_client, signing_key,
                                                   settings, tmp_path):
    # REV-06: with a shared cache (here Django's file cache) the version is read with the
    # cache's async methods.
    settings.CACHES = {**settings.CACHES, "shared": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path / "cache")}}
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REVOCATION_CACHE": "shared"}
    c, secret = make_client(scope=READ, default_scope=READ)
    token = get_token(client, c, secret)
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 200
    post_token(client, {"token": token}, url="/oauth/revoke", auth=(c.client_id, secret))
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 401


def test_opaque_token_by_its_row_RSV_04(client, make_client, signing_key):
    # RSV-04: an opaque token is looked up by its SHA-256, off the loop; a revoked one is not
    # accepted.
    c, secret = make_client(scope=READ, default_scope=READ, token_format="opaque")
    token = get_token(client, c, secret)
    assert "." not in token
    for _ in range(2):
        response = send("GET", "/t/async/whoami", authorization(token))
        assert response.status_code == 200, response.content
        assert response.json()["client_id"] == c.client_id
    post_token(client, {"token": token}, url="/oauth/revoke", auth=(c.client_id, secret))
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 401
    unknown = token[:-4] + "AAAA"
    assert send("GET", "/t/async/whoami", authorization(unknown)).status_code == 401


def test_store_without_async_methods_is_used_in_a_thread(client, make_client, signing_key,
                                                         monkeypatch):
    # A LocalStore with only the sync protocol (a project's own) still works on the loop.
    from oauth_cc.resource import stores

    class SyncOnly:
        def __init__(self) -> None:
            self.inner = DatabaseStore()

        def published_jwks(self) -> Any:
            return self.inner.published_jwks()

        def revocations(self, now: float) -> Any:
            return self.inner.revocations(now)

        def opaque_claims(self, hex_digest: str) -> Any:
            return self.inner.opaque_claims(hex_digest)

    monkeypatch.setattr(stores, "_installed", [SyncOnly()])
    c, secret = make_client(scope=READ, default_scope=READ, token_format="opaque")
    assert send("GET", "/t/async/whoami",
                authorization(get_token(client, c, secret))).status_code == 200


def test_database_down_fails_closed_RSV_09(token_for, monkeypatch):
    # The key load fails (in its thread): 401 "cannot be verified right now", nothing kept.
    token = token_for(READ)
    caches.clear()

    def broken(self: Any) -> Any:
        raise RuntimeError("database down")

    monkeypatch.setattr(DatabaseStore, "published_jwks", broken)
    response = send("GET", "/t/async/whoami", authorization(token))
    assert response.status_code == 401
    assert response.json()["error_description"] == "The token cannot be verified right now."
    monkeypatch.undo()
    caches.clear()
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 200


# --- DPoP and certificate-bound tokens ------------------------------------------------------

def _dpop_setup(client: HttpClient, make_client: Any) -> tuple[Any, str]:
    from tests.test_dpop import TOKEN_URI, Prover

    prover = Prover("ES256")
    c, secret = make_client(scope=f"{READ} read", default_scope=READ)
    response = post_token(client, {"grant_type": "client_credentials"},
                          auth=(c.client_id, secret),
                          HTTP_DPOP=prover.proof("POST", TOKEN_URI))
    assert response.json()["token_type"] == "DPoP"
    return prover, response.json()["access_token"]


@pytest.mark.parametrize("replay_cache", ["per-process", "shared"])
def test_dpop_token_on_an_async_view_DPOP_16_DPOP_10_DPOP_21(
        client, make_client, signing_key, settings, tmp_path, replay_cache):
    # DPOP-16: the token with a proof for this request; DPOP-08: a proof used twice is
    # refused; DPOP-10, DPOP-21: a proof by another key is invalid_token; RSV-08: as Bearer,
    # refused. With a shared replay cache the proof is checked in a thread.
    from tests.test_dpop import Prover

    if replay_cache == "shared":
        settings.CACHES = {**settings.CACHES, "replay": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "replay")}}
        settings.OAUTH_CC = {**settings.OAUTH_CC, "REPLAY_CACHE": "replay"}
    prover, token = _dpop_setup(client, make_client)
    uri = "https://testserver/t/async/whoami"
    proof = prover.proof("GET", uri, access_token=token)
    headers = {**authorization(token, "DPoP"), "DPoP": proof}
    response = send("GET", "/t/async/whoami", headers)
    assert response.status_code == 200, response.content
    replayed = send("GET", "/t/async/whoami", headers)
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_dpop_proof"
    assert replayed["WWW-Authenticate"].startswith('DPoP realm="api"')
    other = Prover("ES256", fresh=True).proof("GET", uri, access_token=token)
    stolen = send("GET", "/t/async/whoami", {**authorization(token, "DPoP"), "DPoP": other})
    assert stolen.json()["error"] == "invalid_token"
    as_bearer = send("GET", "/t/async/whoami", authorization(token))
    assert as_bearer.status_code == 401
    assert as_bearer.json()["error"] == "invalid_token"
    assert send("GET", "/t/async/whoami", authorization(token, "DPoP")).status_code == 401


def test_certificate_bound_token_on_an_async_view_MTLS_05(client, make_client, signing_key,
                                                         settings):
    # MTLS-05: accepted with its certificate (from the trusted proxy), refused without it or
    # with another one, on every request (past the verified-token cache).
    from tests.mtls_nginx.certificates import issue, make_ca, name, san
    from tests.test_mtls import CERT_HEADER, GRANT, PROXY, VERIFY_HEADER

    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": [PROXY],
                         "CLIENT_CERTIFICATE_HEADER": CERT_HEADER,
                         "CLIENT_CERTIFICATE_VERIFY_HEADER": VERIFY_HEADER}
    ca = make_ca()
    billing = issue(ca, name("billing"), san(dns="billing.example.test"))
    shipping = issue(ca, name("shipping"), san(dns="shipping.example.test"))
    c, secret = make_client(scope=READ, default_scope=READ,
                            tls_client_certificate_bound_access_tokens=True)
    response = post_token(client, GRANT, auth=(c.client_id, secret), REMOTE_ADDR=PROXY,
                          HTTP_X_SSL_CLIENT_CERT=billing.escaped(),
                          HTTP_X_SSL_CLIENT_VERIFY="SUCCESS")
    token = response.json()["access_token"]

    def call(certificate: Any) -> Any:
        headers = authorization(token)
        if certificate is not None:
            headers[CERT_HEADER] = certificate.escaped()
        return send("GET", "/t/async/whoami", headers, client_address=PROXY)

    for _ in range(2):
        assert call(billing).status_code == 200
    for certificate in (None, shipping):
        refused = call(certificate)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"


# --- remote mode: JWKS and introspection over HTTP ------------------------------------------

@pytest.fixture
def served() -> Any:
    """PATH_INFO of every request the live server (WSGI) handles; the ASGI requests of the
    tests themselves are not counted."""
    from django.core.signals import request_started

    seen: list[str] = []

    def record(sender: Any, **kwargs: Any) -> None:
        environ = kwargs.get("environ")
        if environ is not None:
            seen.append(environ.get("PATH_INFO", ""))

    request_started.connect(record, weak=False, dispatch_uid="test_async_views.served")
    yield seen
    request_started.disconnect(dispatch_uid="test_async_views.served")


def test_remote_jwks_fetched_off_the_loop_RSV_05_RSV_09(remote, live_server, make_client,
                                                       served):
    # RSV-05: keys from the JWKS at JWKS_URI, fetched once (in a thread) and then reused.
    from tests.test_remote_mode import issue

    c, secret = make_client(scope=READ, default_scope=READ)
    token = issue(live_server, c.client_id, secret)
    served.clear()
    for _ in range(3):
        response = send("GET", "/t/async/whoami", authorization(token))
        assert response.status_code == 200, response.content
    assert served.count("/oauth/jwks") == 1
    # A token signed by a key the JWKS does not have: one more fetch at most, then 401.
    unknown = forge(valid_claims(iss="https://as.example.test"), key=_other_key())
    assert send("GET", "/t/async/whoami", authorization(unknown)).status_code == 401


def _other_key() -> Any:
    from oauth_cc.server import keys

    return keys.generate_private_key("RS256")


def test_remote_jwks_unreachable_fails_closed_RSV_09(remote, make_client, live_server):
    from tests.test_remote_mode import issue

    c, secret = make_client(scope=READ, default_scope=READ)
    token = issue(live_server, c.client_id, secret)
    remote(JWKS_URI="http://127.0.0.1:9/jwks")
    response = send("GET", "/t/async/whoami", authorization(token))
    assert response.status_code == 401
    assert response.json()["error_description"] == "The token cannot be verified right now."


def test_remote_introspection_on_an_async_view_INTRO_03_REV_06(
        client, live_server, make_client, served, fake_clock, remote, settings):
    # INTRO-03, REV-06: a JWT is verified locally and asked about once per cache time; an
    # opaque token's claims come from the answer; a revoked token is refused after the cache
    # time.
    from tests.test_remote_introspection import CACHE_SECONDS, INTROSPECT_PATH, revoke
    from tests.test_remote_mode import issue

    settings.SECURE_PROXY_SSL_HEADER = ("SERVER_PROTOCOL", "HTTP/1.1")
    inspector, inspector_secret = make_client(can_introspect=True, name="resource server")
    remote(INTROSPECTION_ENDPOINT=f"{live_server.url}{INTROSPECT_PATH}",
           INTROSPECTION_CLIENT_ID=inspector.client_id,
           INTROSPECTION_CLIENT_SECRET=inspector_secret,
           INTROSPECTION_CACHE_SECONDS=CACHE_SECONDS)
    c, secret = make_client(scope=READ, default_scope=READ)
    token = issue(live_server, c.client_id, secret)
    served.clear()
    for _ in range(3):
        assert send("GET", "/t/async/whoami", authorization(token)).status_code == 200
    assert served.count(INTROSPECT_PATH) == 1
    revoke(live_server, c.client_id, secret, token)
    assert send("GET", "/t/async/whoami", authorization(token)).status_code == 200  # cached
    fake_clock.advance(CACHE_SECONDS + 1)
    refused = send("GET", "/t/async/whoami", authorization(token))
    assert refused.status_code == 401
    assert refused.json()["error_description"] == "The access token is not active."
    opaque_client, opaque_secret = make_client(scope=READ, default_scope=READ,
                                               token_format="opaque")
    opaque = issue(live_server, opaque_client.client_id, opaque_secret)
    response = send("GET", "/t/async/whoami", authorization(opaque))
    assert response.status_code == 200, response.content
    assert response.json()["client_id"] == opaque_client.client_id
    remote(INTROSPECTION_ENDPOINT="http://127.0.0.1:9/introspect",
           INTROSPECTION_CLIENT_ID=inspector.client_id,
           INTROSPECTION_CLIENT_SECRET=inspector_secret)
    caches.clear()
    assert send("GET", "/t/async/whoami", authorization(opaque)).status_code == 401


# --- the JWT mutation suite against the async view ------------------------------------------

ASYNC_WHOAMI = "/t/async/whoami"


class AsyncWhoami:
    """What ``test_jwt_mutations.check_refused`` needs of a test client, sending its calls
    to ``/api/whoami`` to the async view through the ASGI handler instead."""

    def get(self, path: str, *, secure: bool = False, HTTP_AUTHORIZATION: str = "") -> Any:
        assert path == mutations.WHOAMI
        return send("GET", ASYNC_WHOAMI, {"Authorization": HTTP_AUTHORIZATION}, secure=secure)


MUTATIONS = [pytest.param(m, id=f"{group}-{m.name}")
             for group, members in mutations.REFUSED.items() for m in members]


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("mutation", MUTATIONS)
def test_jwt_mutation_is_refused_by_the_async_view_RSV_01_RSV_03_RSV_05_RSV_07_RSV_09(
        original, mutation, caplog):  # noqa: F811 (the fixture)
    # RSV-01, RSV-03..09, BEARER-01, BEARER-05, BEARER-06, BEARER-09, BEARER-10, GEN-06
    try:
        mutation.build(original).encode("latin-1")
    except UnicodeEncodeError:
        pytest.skip("not a header value an ASGI server can deliver (latin-1 only)")
    mutations.check_refused(AsyncWhoami(), original, mutation, caplog)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("mutation", [pytest.param(m, id=m.name) for m in mutations.CONTROLS])
def test_equivalent_token_is_accepted_by_the_async_view_RSV_01(
        original, mutation):  # noqa: F811 (the fixture)
    mutations.assert_accepted(AsyncWhoami(), mutation.build(original))


# --- a slice of the hostile-input fuzzer against the async view -----------------------------


def send_hostile(request: Any) -> Any:
    """``HostileRequest.send`` through the ASGI handler, header for header."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name.removeprefix("HTTP_").replace("_", "-")] = value
    if request.authorization is not None:
        headers["Authorization"] = request.authorization
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    headers["Content-Length"] = (str(len(request.body)) if request.content_length is None
                                 else request.content_length)
    return send(request.method, hostile.ENDPOINTS[request.endpoint][0], headers,
                body=request.body, secure=request.secure, query=request.query or "",
                http=AsyncClient(raise_request_exception=False, enforce_csrf_checks=True))


def test_hostile_requests_at_the_async_view_BEARER_05_BEARER_08_BEARER_10(
        world, caplog, monkeypatch):  # noqa: F811 (the fixture)
    # BEARER-03, BEARER-05, BEARER-06, BEARER-08, BEARER-09, BEARER-10, GEN-09: the fuzzer's
    # requests at the plain view, sent to its async twin through the ASGI handler.
    monkeypatch.setitem(hostile.ENDPOINTS, "plain", (ASYNC_WHOAMI, "GET", False))
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    caplog.set_level(logging.DEBUG, logger="django")

    @hostile.FUZZ_SETTINGS
    @given(data=st.data())
    def run(data: Any) -> None:
        request = data.draw(hostile.hostile_requests(world, "plain"), label="request")
        assume(hostile.django_builds(request))
        caplog.clear()
        response = send_hostile(request)
        hostile.check_response(request, response, world)
        hostile.scan_logs(caplog, request, world)

    run()

