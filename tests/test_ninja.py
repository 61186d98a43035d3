"""django-ninja operations protected by ``oauth_cc.contrib.ninja.OAuthToken``, over HTTP.

The APIs are in tests/ninja_api.py. Each behaviour is checked on a sync and an async
operation, through the WSGI test client (Django runs an async view on a loop of its own) and
through ``AsyncClient`` (the ASGI handler), without ``DJANGO_ALLOW_ASYNC_UNSAFE``: a
synchronous database call on the event loop would fail the request.

Each test names the checklist items (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from typing import Any

import jwt
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient
from django.test import Client as HttpClient
from hypothesis import assume, given
from hypothesis import strategies as st
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError

from oauth_cc import caches
from oauth_cc.contrib import ninja as ninja_contrib
from oauth_cc.contrib.ninja import AnyOf, OAuthToken, TokenRefused, install
from oauth_cc.errors import NoCredentials
from oauth_cc.models import Client, Scope
from oauth_cc.resource import asynchronous, verification
from tests import test_jwt_mutations as mutations
from tests.conftest import (
    NO_TOKEN_CHALLENGE,
    bearer_form,
    forge,
    get_token,
    post_token,
    valid_claims,
)
from tests.mtls_nginx.certificates import Issued, issue, make_ca, name, san
from tests.ninja_api import SERVICE_KEY, api_bare
from tests.test_dpop import Prover
from tests.test_dpop import bound_token as dpop_bound_token
from tests.test_hostile_input import (
    CONTENT_TYPES,
    FUZZ_SETTINGS,
    METHODS,
    HostileRequest,
    World,
    authorizations,
    headers,
    latin1,
    scan_logs,
    strict_json,
)
from tests.test_introspection import revoke

READ, WRITE = "inventory:read", "inventory:write"
AUDIT, ADMIN = "inventory:audit", "inventory:admin"
DESCRIPTION = "The access token does not grant the required scope."
ERROR_TEXT = mutations.ERROR_TEXT

#: (path, operation kind) of the two operations most tests run on.
ITEMS = [("/ninja/items", "sync"), ("/ninja/async/items", "async")]
TRANSPORTS = ["wsgi", "asgi"]


# --- sending requests -------------------------------------------------------------------------

def send(http: Any, transport: str, method: str, path: str, *,
         authorization: str | None = None, body: Any = None,
         extra: dict[str, str] | None = None, secure: bool = True) -> Any:
    """One request through the WSGI test client or ``AsyncClient``; ``extra`` holds more
    headers by their HTTP names (``DPoP``)."""
    header_map = dict(extra or {})
    if authorization is not None:
        header_map["Authorization"] = authorization
    data = "" if body is None else json.dumps(body)
    content_type = "application/json"
    if transport == "asgi":
        return asgi(method, path, data, content_type=content_type, secure=secure,
                    headers=header_map)
    return http.generic(method, path, data, content_type=content_type, secure=secure,
                        headers=header_map)


@async_to_sync
async def asgi(method: str, path: str, data: Any, **options: Any) -> Any:
    """A request through Django's ASGI handler (``AsyncClient``), from sync code."""
    return await AsyncClient(raise_request_exception=False).generic(method, path, data,
                                                                    **options)


@pytest.fixture
def caller(make_client: Any, signing_key: Any) -> tuple[Client, str]:
    """A client allowed every inventory scope; tokens carry ``inventory:read`` by default."""
    return make_client(scope=f"{READ} {WRITE} {AUDIT} {ADMIN} read", default_scope=READ)


@pytest.fixture
def token(client: Any, caller: tuple[Client, str]) -> Any:
    """``token(scope)``: a token from the token endpoint (the default scope without one)."""
    return lambda scope=None: get_token(client, *caller, scope=scope)


def assert_no_token(response: Any) -> None:
    """BEARER-08, DPOP-20: 401, every scheme challenged, no error details, no-store."""
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == NO_TOKEN_CHALLENGE
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error_description": "An access token is required."}


def assert_challenge(response: Any, status: int, error: str, scheme: str = "Bearer") -> str:
    """BEARER-05, BEARER-06, BEARER-09: status, challenge in ``scheme`` with the error, the
    same error in the JSON body, no-store."""
    assert response.status_code == status, response.content
    challenge = str(response["WWW-Authenticate"])
    assert challenge.startswith(f'{scheme} realm="api"'), challenge
    assert f'error="{error}"' in challenge, challenge
    assert response["Cache-Control"] == "no-store"
    assert response.json()["error"] == error
    return challenge


def assert_insufficient(response: Any, scope: str) -> None:
    """RSV-07, BEARER-09: 403 insufficient_scope naming the scope, in header and body."""
    assert response.status_code == 403, response.content
    assert response["WWW-Authenticate"] == (
        f'Bearer realm="api", error="insufficient_scope", error_description="{DESCRIPTION}", '
        f'scope="{scope}"')
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"error": "insufficient_scope", "error_description": DESCRIPTION,
                               "scope": scope}


def assert_served(response: Any, kind: str, client_id: str, scope: str = READ) -> dict[str, Any]:
    """200; the operation saw request.auth (the AccessToken), request.user (the
    ClientPrincipal of the same client) and request.oauth_token."""
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert body["mode"] == kind
    assert body["client_id"] == client_id
    assert body["scope"] == scope
    assert body["auth"] == "AccessToken"
    assert body["user"] == "ClientPrincipal"
    assert body["principal"] is True
    assert body["same_token"] is True
    return body


# --- accepted ---------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "kind"), ITEMS)
def test_valid_token_is_served_with_request_auth_BEARER_01_RSV_07(
        client, caller, token, transport, path, kind):
    # BEARER-01, RSV-07: the first request verifies with cold caches (keys loaded then), the
    # second comes from the verified-token cache; both set request.auth and request.user.
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ
    access_token = token()
    for _ in range(2):
        response = send(client, transport, "GET", path, authorization=f"Bearer {access_token}")
        assert_served(response, kind, caller[0].client_id)
        assert response.json()["items"] == []


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("path", ["/ninja/items", "/ninja/async/items"])
def test_post_with_the_write_scope_creates_BEARER_01_RSV_07(client, caller, token, transport,
                                                            path):
    # RSV-07: POST needs inventory:write; the body is validated after the token.
    access_token = token(f"{READ} {WRITE}")
    response = send(client, transport, "POST", path, authorization=f"Bearer {access_token}",
                    body={"name": "bolts", "quantity": 3})
    body = assert_served(response, "async" if "async" in path else "sync",
                         caller[0].client_id, f"{READ} {WRITE}")
    assert body["id"] > 0
    listed = send(client, transport, "GET", path, authorization=f"Bearer {access_token}")
    assert listed.json()["items"] == ["bolts"]


def test_bearer_scheme_is_case_insensitive_BEARER_01(client, token):
    response = client.get("/ninja/async/items", headers={"Authorization": f"bEaReR {token()}"})
    assert response.status_code == 200, response.content


def test_async_operations_verify_with_the_async_entry_point(client, token, monkeypatch):
    """An async operation verifies through ``asynchronous.authenticate``; a sync operation
    never does (it verifies in its own thread)."""
    calls: list[str] = []
    original = asynchronous.authenticate

    async def spy(request: Any) -> Any:
        calls.append(request.path)
        return await original(request)

    monkeypatch.setattr(asynchronous, "authenticate", spy)
    access_token = token()
    for transport in TRANSPORTS:
        for path, _ in ITEMS:
            response = send(client, transport, "GET", path,
                            authorization=f"Bearer {access_token}")
            assert response.status_code == 200, response.content
    assert calls == ["/ninja/async/items", "/ninja/async/items"]


def test_async_operation_with_cold_caches_does_not_touch_the_database_on_the_loop(
        client, token):
    """Issue 12: with nothing cached (keys, verified tokens), a valid token at an async
    operation through the ASGI handler is 200, not a fail-closed 401 from a
    ``SynchronousOnlyOperation``."""
    access_token = token()
    caches.clear()
    assert len(verification.verified_tokens) == 0
    response = send(client, "asgi", "GET", "/ninja/async/items",
                    authorization=f"Bearer {access_token}")
    assert response.status_code == 200, response.content


# --- no token, bad tokens ---------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("path", ["/ninja/items", "/ninja/async/items", "/ninja/router/stock",
                                  "/ninja/router/async/stock", "/ninja-wide/items",
                                  "/ninja-wide/async/items", "/ninja/any-token"])
def test_no_token_is_a_bare_challenge_BEARER_05_BEARER_08_DPOP_20(client, signing_key,
                                                                  transport, path):
    # BEARER-05, BEARER-08, DPOP-20: exactly the DRF views' answer, not Ninja's "Unauthorized".
    assert_no_token(send(client, transport, "GET", path))


@pytest.mark.parametrize(("path", "_kind"), ITEMS)
def test_other_scheme_is_no_credentials_BEARER_08(client, signing_key, path, _kind):
    # BEARER-08: an unsupported scheme (Basic) is no credentials: the bare challenge.
    assert_no_token(client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"}))


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "_kind"), ITEMS)
def test_malformed_header_is_invalid_request_BEARER_01_BEARER_09(client, signing_key, transport,
                                                                 path, _kind):
    # BEARER-01, BEARER-09: not "Bearer 1*SP b64token": 400 invalid_request.
    response = send(client, transport, "GET", path, authorization="Bearer a b")
    assert_challenge(response, 400, "invalid_request")


def _expired(http: Any, caller: tuple[Client, str]) -> str:
    now = int(time.time())
    return forge(valid_claims(scope=READ, iat=now - 7200, exp=now - 3600))


def _forged(http: Any, caller: tuple[Client, str]) -> str:
    return forge(valid_claims(scope=READ), key=mutations.attacker_key())


def _wrong_audience(http: Any, caller: tuple[Client, str]) -> str:
    return forge(valid_claims(scope=READ, aud="https://other.example.test"))


def _wrong_issuer(http: Any, caller: tuple[Client, str]) -> str:
    return forge(valid_claims(scope=READ, iss="https://evil.example.test"))


def _revoked(http: Any, caller: tuple[Client, str]) -> str:
    access_token = get_token(http, *caller)
    assert http.get("/ninja/items", headers={"Authorization": f"Bearer {access_token}"}
                    ).status_code == 200  # verified and cached first
    assert revoke(http, access_token, caller).status_code == 200
    return access_token


BAD_TOKENS = {"expired": _expired, "forged": _forged, "wrong_audience": _wrong_audience,
              "wrong_issuer": _wrong_issuer, "revoked": _revoked}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "_kind"), ITEMS)
@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_invalid_token_is_401_RSV_03_RSV_04_RSV_05_RSV_06_BEARER_09(
        client, caller, transport, path, _kind, case):
    # RSV-03 (issuer), RSV-04 (audience), RSV-05 (signature), RSV-06 (exp), REV-06 (revoked),
    # BEARER-09: 401 invalid_token with a Bearer challenge.
    access_token = BAD_TOKENS[case](client, caller)
    for _ in range(2):  # the second answer may come from the rejected-token cache
        response = send(client, transport, "GET", path, authorization=f"Bearer {access_token}")
        challenge = assert_challenge(response, 401, "invalid_token")
        assert "scope=" not in challenge


# --- scopes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("path", ["/ninja/items", "/ninja/async/items"])
def test_missing_scope_is_403_insufficient_scope_RSV_07_BEARER_05(client, token, transport,
                                                                  path):
    # RSV-07, BEARER-05, BEARER-09: a read token cannot POST; 403 with scope=.
    response = send(client, transport, "POST", path, authorization=f"Bearer {token()}",
                    body={"name": "x"})
    assert_insufficient(response, WRITE)


def test_all_of_needs_every_scope_RSV_07(client, caller, token):
    assert_insufficient(client.get("/ninja/all-of", headers={
        "Authorization": f"Bearer {token()}"}), f"{READ} {WRITE}")
    assert_served(client.get("/ninja/all-of", headers={
        "Authorization": f"Bearer {token(f'{READ} {WRITE}')}"}), "sync", caller[0].client_id,
        f"{READ} {WRITE}")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "kind"), [("/ninja/alternatives", "sync"),
                                            ("/ninja/async/alternatives", "async")])
def test_any_of_alternatives_RSV_07(client, caller, token, transport, path, kind):
    # RSV-07: AnyOf([admin], [read, audit]): either set; the 403 names the first alternative.
    client_id = caller[0].client_id
    assert_insufficient(send(client, transport, "GET", path,
                             authorization=f"Bearer {token()}"), ADMIN)
    assert_insufficient(send(client, transport, "GET", path,
                             authorization=f"Bearer {token(AUDIT)}"), ADMIN)
    assert_served(send(client, transport, "GET", path,
                       authorization=f"Bearer {token(ADMIN)}"), kind, client_id, ADMIN)
    assert_served(send(client, transport, "GET", path,
                       authorization=f"Bearer {token(f'{READ} {AUDIT}')}"), kind, client_id,
                  f"{AUDIT} {READ}")


def test_per_method_mapping_RSV_07(client, caller, token):
    # RSV-07: {"GET": read, "POST": write} on one operation of two methods.
    reader, writer = token(READ), token(WRITE)
    client_id = caller[0].client_id
    assert_served(client.get("/ninja/per-method", headers={"Authorization": f"Bearer {reader}"}),
                  "sync", client_id)
    assert_insufficient(client.post("/ninja/per-method",
                                    headers={"Authorization": f"Bearer {reader}"}), WRITE)
    assert_served(client.post("/ninja/per-method", headers={"Authorization": f"Bearer {writer}"}),
                  "sync", client_id, WRITE)
    assert_insufficient(client.get("/ninja/per-method",
                                   headers={"Authorization": f"Bearer {writer}"}), READ)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_router_level_auth_and_its_overrides_RSV_07(client, caller, token, transport):
    # The router's OAuthToken(read) protects its operations, sync and async; an operation's
    # own auth= replaces it (DELETE needs write; auth=None is open).
    reader = f"Bearer {token()}"
    client_id = caller[0].client_id
    assert_served(send(client, transport, "GET", "/ninja/router/stock", authorization=reader),
                  "sync", client_id)
    assert_served(send(client, transport, "GET", "/ninja/router/async/stock",
                       authorization=reader), "async", client_id)
    assert_insufficient(send(client, transport, "DELETE", "/ninja/router/stock",
                             authorization=reader), WRITE)
    assert_no_token(send(client, transport, "DELETE", "/ninja/router/stock"))
    opened = send(client, transport, "GET", "/ninja/router/open")
    assert opened.status_code == 200
    assert opened.json() == {"status": "ok"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_api_wide_auth_RSV_07(client, caller, token, make_client, transport):
    # NinjaAPI(auth=OAuthToken(read)): every operation; a token without the scope is 403.
    client_id = caller[0].client_id
    for path, kind in [("/ninja-wide/items", "sync"), ("/ninja-wide/async/items", "async")]:
        assert_served(send(client, transport, "GET", path, authorization=f"Bearer {token()}"),
                      kind, client_id)
        assert_insufficient(send(client, transport, "GET", path,
                                 authorization=f"Bearer {token(WRITE)}"), READ)


def test_any_valid_token_without_scopes(client, make_client, signing_key):
    # OAuthToken(): any valid token, whatever its scopes.
    other, secret = make_client(scope="read", default_scope="read")
    access_token = get_token(client, other, secret)
    response = client.get("/ninja/any-token", headers={"Authorization": f"Bearer {access_token}"})
    assert_served(response, "sync", other.client_id, "read")


def test_open_operations_need_no_token(client, db):
    assert client.get("/ninja/open").json() == {"status": "ok"}


# --- DPoP and certificate-bound tokens --------------------------------------------------------

@pytest.fixture
def dpop_reader(make_client: Any, signing_key: Any) -> tuple[Client, str]:
    return make_client(scope=f"{READ} read", default_scope="read")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "kind"), ITEMS)
def test_dpop_bound_token_with_its_proof_DPOP_16(client, dpop_reader, transport, path, kind):
    # DPOP-16: Authorization: DPoP <token> plus a proof of the same key for this request.
    prover = Prover("ES256")
    access_token = dpop_bound_token(client, dpop_reader, prover)
    for _ in range(2):  # a fresh proof each time; the token is cached, the proof never
        proof = prover.proof("GET", f"https://testserver{path}", access_token=access_token)
        response = send(client, transport, "GET", path, authorization=f"DPoP {access_token}",
                        extra={"DPoP": proof})
        assert_served(response, kind, dpop_reader[0].client_id)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "_kind"), ITEMS)
def test_dpop_bound_token_refused_without_its_proof_DPOP_17_DPOP_18_RSV_08(
        client, dpop_reader, transport, path, _kind):
    # DPOP-17, RSV-08: as a Bearer token, 401 invalid_token (Bearer challenge).
    # DPOP-18: under DPoP without a proof, or with a proof for another URI or another key,
    # 401 invalid_dpop_proof in the DPoP challenge (with algs).
    prover = Prover("ES256")
    access_token = dpop_bound_token(client, dpop_reader, prover)
    as_bearer = send(client, transport, "GET", path, authorization=f"Bearer {access_token}")
    assert_challenge(as_bearer, 401, "invalid_token")
    without_proof = send(client, transport, "GET", path, authorization=f"DPoP {access_token}")
    assert assert_challenge(without_proof, 401, "invalid_dpop_proof", "DPoP").startswith(
        'DPoP realm="api", algs="')
    other_uri = prover.proof("GET", "https://testserver/ninja/open", access_token=access_token)
    response = send(client, transport, "GET", path, authorization=f"DPoP {access_token}",
                    extra={"DPoP": other_uri})
    assert_challenge(response, 401, "invalid_dpop_proof", "DPoP")
    thief = Prover("ES256", kind="EC", fresh=True)
    stolen = thief.proof("GET", f"https://testserver{path}", access_token=access_token)
    response = send(client, transport, "GET", path, authorization=f"DPoP {access_token}",
                    extra={"DPoP": stolen})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('DPoP realm="api"')


PROXY = "10.9.8.7"


@pytest.fixture(scope="module")
def certificates() -> tuple[Issued, Issued]:
    ca = make_ca()
    return (issue(ca, name("billing"), san(dns="billing.example.test")),
            issue(ca, name("shipping"), san(dns="shipping.example.test")))


def via_proxy(certificate: Issued | None) -> dict[str, str]:
    headers = {"REMOTE_ADDR": PROXY, "HTTP_X_SSL_CLIENT_VERIFY": "SUCCESS"}
    if certificate is not None:
        headers["HTTP_X_SSL_CLIENT_CERT"] = certificate.escaped()
    return headers


@pytest.mark.parametrize(("path", "kind"), ITEMS)
def test_certificate_bound_token_MTLS_05_RSV_08(client, make_client, signing_key, settings,
                                                certificates, path, kind):
    # MTLS-05, RSV-08: a token bound to a client certificate is served with that certificate
    # (from the trusted proxy), and refused with another one or none.
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": [PROXY],
                         "CLIENT_CERTIFICATE_HEADER": "X-SSL-Client-Cert",
                         "CLIENT_CERTIFICATE_VERIFY_HEADER": "X-SSL-Client-Verify"}
    billing, shipping = certificates
    bound, secret = make_client(scope=READ, default_scope=READ,
                                tls_client_certificate_bound_access_tokens=True)
    issued = post_token(client, {"grant_type": "client_credentials"},
                        auth=(bound.client_id, secret), **via_proxy(billing))
    assert issued.status_code == 200, issued.content
    access_token = issued.json()["access_token"]
    assert "x5t#S256" in jwt.decode(access_token, options={"verify_signature": False})["cnf"]
    authorization = {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}
    assert_served(client.get(path, **authorization, **via_proxy(billing)), kind,
                  bound.client_id)
    for presented in (shipping, None):
        response = client.get(path, **authorization, **via_proxy(presented))
        assert_challenge(response, 401, "invalid_token")


# --- lists of auth callables -----------------------------------------------------------------

EITHER = [("/ninja/either", "sync"), ("/ninja/async/either", "async")]
KEY = {"X-Service-Key": SERVICE_KEY}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "kind"), EITHER)
def test_any_oauth_token_of_a_list_accepts_RSV_07(client, caller, token, transport, path,
                                                  kind):
    # RSV-07: auth=[OAuthToken(write), OAuthToken(read)]: a token for either is served,
    # whichever comes first; one for neither is refused with the first refusal (scope=write).
    client_id = caller[0].client_id
    for scope in (READ, WRITE):
        assert_served(send(client, transport, "GET", path,
                           authorization=f"Bearer {token(scope)}"), kind, client_id, scope)
    assert_insufficient(send(client, transport, "GET", path,
                             authorization=f"Bearer {token(AUDIT)}"), WRITE)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "_kind"), EITHER)
def test_a_list_refuses_like_one_oauth_token_BEARER_08_BEARER_09(client, caller, transport,
                                                                 path, _kind):
    # BEARER-08: no token, the bare challenge; BEARER-09: a bad token, invalid_token (the
    # real error, never hidden by a "no token" from another callable).
    assert_no_token(send(client, transport, "GET", path))
    forged = f"Bearer {_forged(client, caller)}"
    response = send(client, transport, "GET", path, authorization=forged)
    assert "scope=" not in assert_challenge(response, 401, "invalid_token")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "kind"), EITHER)
def test_a_list_verifies_a_dpop_proof_once_DPOP_16(client, dpop_reader, transport, path, kind):
    # DPOP-16: the second OAuthToken of the list accepts the token that the first refused
    # for its scope; the proof is checked once per request (twice would be a replay).
    prover = Prover("ES256")
    access_token = dpop_bound_token(client, dpop_reader, prover)
    proof = prover.proof("GET", f"https://testserver{path}", access_token=access_token)
    response = send(client, transport, "GET", path, authorization=f"DPoP {access_token}",
                    extra={"DPoP": proof})
    assert_served(response, kind, dpop_reader[0].client_id)


OTHER_AUTH = [("/ninja/token-or-key", "sync"), ("/ninja/async/token-or-key", "async"),
              ("/ninja/key-or-token", "sync"), ("/ninja/async/key-or-token", "async")]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "kind"), OTHER_AUTH)
def test_another_auth_callable_works_before_or_after_oauth_token_BEARER_08(
        client, caller, token, transport, path, kind):
    # BEARER-08: a request without an access token is no refusal while another auth
    # callable (Ninja's APIKeyHeader) may accept it, in either order.
    served = send(client, transport, "GET", path, extra=KEY)
    assert served.status_code == 200, served.content
    assert served.json() == {"mode": kind, "auth": SERVICE_KEY}
    assert_served(send(client, transport, "GET", path, authorization=f"Bearer {token()}"),
                  kind, caller[0].client_id)
    bad = f"Bearer {_forged(client, caller)}"
    served = send(client, transport, "GET", path, authorization=bad, extra=KEY)
    assert served.json() == {"mode": kind, "auth": SERVICE_KEY}
    # Neither: our answers, the bare challenge or the token's own error.
    assert_no_token(send(client, transport, "GET", path))
    assert_no_token(send(client, transport, "GET", path, extra={"X-Service-Key": "wrong"}))
    assert_challenge(send(client, transport, "GET", path, authorization=bad), 401,
                     "invalid_token")
    assert_insufficient(send(client, transport, "GET", path,
                             authorization=f"Bearer {token(WRITE)}"), READ)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_installed_api_challenges_every_401_GEN_09(client, db, transport):
    # GEN-09 (RFC 9110 §15.5.2): an operation of an install()-ed API protected by another
    # callable alone answers its 401 with the bare challenge, not {"detail": "Unauthorized"}.
    assert_no_token(send(client, transport, "GET", "/ninja/key-only"))
    assert send(client, transport, "GET", "/ninja/key-only", extra=KEY).status_code == 200


def test_openapi_lists_each_callable_of_a_list_in_order(client, db):
    # The schema says what runtime does: any one requirement object suffices.
    schema = client.get("/ninja/openapi.json").json()
    assert _operation(schema, "/ninja/either")["security"] == [{"oauth_cc": [WRITE]},
                                                               {"oauth_cc": [READ]}]
    assert _operation(schema, "/ninja/token-or-key")["security"] == [{"oauth_cc": [READ]},
                                                                     {"ServiceKey": []}]
    assert _operation(schema, "/ninja/key-or-token")["security"] == [{"ServiceKey": []},
                                                                     {"oauth_cc": [READ]}]
    assert "security" in _operation(schema, "/ninja/key-only")
    assert "403" not in _operation(schema, "/ninja/key-only")["responses"]


# --- an API without install() -----------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("path", ["/ninja-bare/items", "/ninja-bare/async/items"])
def test_without_install_refusals_still_carry_their_challenge_GEN_09_BEARER_05(
        client, caller, token, transport, path):
    """GEN-09, BEARER-05: without ``install(api)`` the answers are the same RFC 6750 ones
    (oauth_cc registers its handlers at the first refused request), and a valid token is
    served."""
    assert_no_token(send(client, transport, "GET", path))
    assert_insufficient(send(client, transport, "GET", path,
                             authorization=f"Bearer {token(WRITE)}"), READ)
    assert_challenge(send(client, transport, "GET", path, authorization="Bearer x.y.z"), 401,
                     "invalid_token")
    served = send(client, transport, "GET", path, authorization=f"Bearer {token()}")
    assert_served(served, "async" if "async" in path else "sync", caller[0].client_id)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_without_install_the_handlers_come_once_with_a_warning_GEN_09(
        client, db, transport, monkeypatch, caplog):
    # As at the first refusal after a start: the API has Ninja's handlers only.
    fresh = {exc: handler for exc, handler in api_bare._exception_handlers.items()
             if exc not in (AuthenticationError, TokenRefused)}
    monkeypatch.setattr(api_bare, "_exception_handlers", fresh)
    monkeypatch.delattr(api_bare, ninja_contrib._HANDLERS, raising=False)
    caplog.set_level(logging.WARNING, logger="oauth_cc.contrib.ninja")
    for path in ("/ninja-bare/items", "/ninja-bare/async/items"):
        for _ in range(2):
            assert_no_token(send(client, transport, "GET", path))
    warnings = [r for r in caplog.records if r.name == "oauth_cc.contrib.ninja"]
    assert len(warnings) == 1, warnings
    assert "install(api)" in warnings[0].getMessage()
    assert fresh[AuthenticationError] is ninja_contrib._render_refusal
    # The schema stays Ninja's own: install() is still the way to the oauth_cc scheme.
    assert not hasattr(api_bare, ninja_contrib._INSTALLED)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_without_install_a_projects_own_handler_is_kept(client, caller, token, transport):
    response = send(client, transport, "GET", "/ninja-own/items")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Custom realm="own"'
    assert response.json() == {"detail": "The project's own answer."}
    assert_served(send(client, transport, "GET", "/ninja-own/items",
                       authorization=f"Bearer {token()}"), "sync", caller[0].client_id)


def test_a_refusal_outside_ninjas_urls_is_remembered_never_raised(rf, db, caplog):
    """Called on a request that did not come through a Ninja URL (no API to find), the
    refusal is remembered and logged, nothing raised: the API's handlers answer."""
    request = rf.get("/elsewhere")
    assert OAuthToken(READ)(request) is None
    assert isinstance(getattr(request, ninja_contrib._REFUSAL), NoCredentials)
    assert "cannot find the NinjaAPI" in caplog.text


# --- declarations -----------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [("read write",), ("",), ([],), ({"GET": "a b"},), (42,),
                                  ({"GET": []},)])
def test_malformed_declaration_fails_at_import(spec):
    with pytest.raises(ImproperlyConfigured):
        OAuthToken(*spec)


def test_declarations_read_like_required_scopes():
    assert OAuthToken().alternatives("GET") == (frozenset(),)
    assert OAuthToken("a", "b").alternatives("POST") == (frozenset({"a", "b"}),)
    assert OAuthToken(["a", "b"]).alternatives("GET") == (frozenset({"a", "b"}),)
    assert OAuthToken(AnyOf(["x"], ["a", "b"])).alternatives("GET") == (
        frozenset({"x"}), frozenset({"a", "b"}))
    mapped = OAuthToken({"GET": "a", "*": AnyOf("b", "c")})
    assert mapped.alternatives("GET") == (frozenset({"a"}),)
    assert mapped.alternatives("DELETE") == (frozenset({"b"}), frozenset({"c"}))
    with pytest.raises(ImproperlyConfigured, match="no entry for 'POST'"):
        OAuthToken({"GET": "a"}).alternatives("POST")


# --- OpenAPI ----------------------------------------------------------------------------------

@pytest.fixture
def described_scopes(db: Any) -> None:
    Scope.objects.update_or_create(name=READ, defaults={"description": "Read inventory"})
    Scope.objects.update_or_create(name=WRITE, defaults={"description": "Change inventory"})


def _operation(schema: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    found: dict[str, Any] = schema["paths"][path][method]
    return found


def test_openapi_scheme_is_client_credentials_with_the_scope_table(client, described_scopes):
    schema = client.get("/ninja/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["oauth_cc"]
    # ServiceKey: the operations with a list of auth callables.
    assert set(schema["components"]["securitySchemes"]) == {"oauth_cc", "ServiceKey"}
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "https://as.example.test/oauth/token"
    # The Scope rows with their descriptions, plus every scope an operation requires.
    assert flow["scopes"] == {ADMIN: "", AUDIT: "", READ: "Read inventory",
                              WRITE: "Change inventory"}
    assert list(flow["scopes"]) == sorted(flow["scopes"])
    assert schema["components"]["schemas"]["OAuthError"]["properties"].keys() == {
        "error", "error_description", "scope"}


def test_openapi_security_requirement_per_operation(client, db):
    schema = client.get("/ninja/openapi.json").json()
    expected = {
        ("/ninja/items", "get"): [{"oauth_cc": [READ]}],
        ("/ninja/items", "post"): [{"oauth_cc": [WRITE]}],
        ("/ninja/async/items", "get"): [{"oauth_cc": [READ]}],
        ("/ninja/all-of", "get"): [{"oauth_cc": [READ, WRITE]}],
        ("/ninja/alternatives", "get"): [{"oauth_cc": [ADMIN]}, {"oauth_cc": [AUDIT, READ]}],
        ("/ninja/async/alternatives", "get"): [{"oauth_cc": [ADMIN]},
                                               {"oauth_cc": [AUDIT, READ]}],
        ("/ninja/per-method", "get"): [{"oauth_cc": [READ]}],
        ("/ninja/per-method", "post"): [{"oauth_cc": [WRITE]}],
        ("/ninja/any-token", "get"): [{"oauth_cc": []}],
        ("/ninja/router/stock", "get"): [{"oauth_cc": [READ]}],
        ("/ninja/router/stock", "delete"): [{"oauth_cc": [WRITE]}],
        ("/ninja/router/async/stock", "get"): [{"oauth_cc": [READ]}],
    }
    for (path, method), security in expected.items():
        operation = _operation(schema, path, method)
        assert operation["security"] == security, (path, method)
        responses = operation["responses"]
        assert responses["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/OAuthError"}
        assert "WWW-Authenticate" in responses["401"]["headers"]
        if any(requirement["oauth_cc"] for requirement in security):
            assert "insufficient_scope" in responses["403"]["description"]
        else:
            assert "403" not in responses
    # Open operations: no security, no 401.
    for path in ("/ninja/open", "/ninja/router/open"):
        operation = _operation(schema, path)
        assert "security" not in operation
        assert "401" not in operation["responses"]
    alternatives = _operation(schema, "/ninja/alternatives")["responses"]["403"]["description"]
    assert f"`{ADMIN}` or `{AUDIT} {READ}`" in alternatives


def test_openapi_of_an_api_wide_auth(client, db):
    schema = client.get("/ninja-wide/openapi.json").json()
    for path in ("/ninja-wide/items", "/ninja-wide/async/items"):
        assert _operation(schema, path)["security"] == [{"oauth_cc": [READ]}]
    assert schema["components"]["securitySchemes"]["oauth_cc"]["flows"]["clientCredentials"][
        "scopes"] == {READ: ""}


def test_openapi_options_and_remote_mode(settings, db):
    """``install(api, token_url=..., scopes=...)`` wins; in remote mode the token endpoint
    beside ``JWKS_URI``, and no Scope rows. The schema is built when asked for, not when
    the API is declared."""
    api = NinjaAPI(urls_namespace="oauth_cc_tests_ninja_options")
    router = Router(auth=OAuthToken(AnyOf("b", ["a", "c"])))

    @router.get("/x")
    def x(request: Any) -> dict[str, str]:
        return {}

    api.add_router("/r", router)
    install(api, token_url="https://auth.example.test/token", scopes={"a": "The A scope"})
    schema = api.get_openapi_schema(path_prefix="")
    flow = schema["components"]["securitySchemes"]["oauth_cc"]["flows"]["clientCredentials"]
    assert flow == {"tokenUrl": "https://auth.example.test/token",
                    "scopes": {"a": "The A scope", "b": "", "c": ""}}
    assert schema["paths"]["/r/x"]["get"]["security"] == [{"oauth_cc": ["b"]},
                                                         {"oauth_cc": ["a", "c"]}]
    install(api)  # again: options replaced, nothing wrapped twice
    settings.OAUTH_CC = {**settings.OAUTH_CC, "JWKS_URI": "https://as.example.test/oauth/jwks",
                         "TRUSTED_ISSUER": "https://as.example.test"}
    flow = api.get_openapi_schema(path_prefix="")["components"]["securitySchemes"]["oauth_cc"][
        "flows"]["clientCredentials"]
    assert flow == {"tokenUrl": "https://as.example.test/oauth/token",
                    "scopes": {"a": "", "b": "", "c": ""}}


def test_openapi_without_install_still_names_the_flow(client, db):
    schema = client.get("/ninja-bare/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["OAuthToken"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == (
        "https://as.example.test/oauth/token")
    assert _operation(schema, "/ninja-bare/items")["security"] == [{"OAuthToken": []}]


def test_importing_the_api_reads_no_database(django_assert_num_queries, db):
    """Declaring OAuthToken and install() read nothing: the Scope rows are read once per
    generated schema."""
    with django_assert_num_queries(0):
        api = install(NinjaAPI(urls_namespace="oauth_cc_tests_ninja_queries",
                               auth=OAuthToken("a")))

        @api.get("/y")
        def y(request: Any) -> dict[str, str]:
            return {}

        @api.get("/z")
        def z(request: Any) -> dict[str, str]:
            return {}

    with django_assert_num_queries(1):
        api.get_openapi_schema(path_prefix="")


# --- JWT mutations (a subset of tests/test_jwt_mutations.py) ----------------------------------

SUBSET = [m for group in mutations.REFUSED.values()
          for m in (group if len(group) < 10 else group[::6])]
CONTROLS = mutations.CONTROLS[::3]

_issued: dict[str, mutations.Original] = {}


@pytest.fixture
def original(client: Any, make_client: Any, signing_key: Any) -> mutations.Original:
    """A token from the token endpoint (inventory:read), shared while it has minutes left
    (every test installs the same shared key, so it verifies in every test)."""
    cached = _issued.get("token")
    if cached is not None and cached.claims["exp"] - time.time() > 120:
        return cached
    c, secret = make_client(scope=f"{READ} {WRITE}", default_scope=READ)
    access_token = get_token(client, c, secret)
    header_segment, payload_segment, _ = access_token.split(".")
    _issued["token"] = mutations.Original(
        access_token, json.loads(mutations.b64url_decode(header_segment)),
        json.loads(mutations.b64url_decode(payload_segment)))
    return _issued["token"]


@pytest.mark.parametrize(("path", "_kind"), ITEMS)
@pytest.mark.parametrize("mutation", mutations.ids(SUBSET))
def test_mutated_token_is_refused_RSV_01_RSV_05_RSV_06_RSV_07_RSV_08_BEARER_09(
        client, original, mutation, path, _kind, caplog, no_network):
    # RSV-01, RSV-03..09, BEARER-01, BEARER-05..10, GEN-06: the same answers as at the DRF
    # view, and no network connection attempted (RSV-09).
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    mutated = mutation.build(original)
    authorization = {"HTTP_AUTHORIZATION": f"Bearer {original.token}"}
    assert client.get(path, **authorization).status_code == 200
    for _ in range(2):
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {mutated}")
        mutations.assert_refused(response, mutations.expected_statuses(mutation, mutated))
    assert client.get(path, **authorization).status_code == 200
    mutations.assert_quiet_logs(caplog, original.token, mutated)


@pytest.mark.parametrize(("path", "_kind"), ITEMS)
@pytest.mark.parametrize("mutation", mutations.ids(CONTROLS))
def test_equivalent_token_is_accepted_RSV_01_BEARER_01(client, original, mutation, path, _kind):
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {mutation.build(original)}")
    assert response.status_code == 200, response.content


# --- hostile input ----------------------------------------------------------------------------

@pytest.fixture
def world(client: Any, make_client: Any, signing_key: Any) -> World:
    c, secret = make_client(scope=f"{READ} {WRITE}", default_scope=READ, name="ninja fuzz")
    header_tokens = [get_token(client, c, secret), get_token(client, c, secret, f"{READ} {WRITE}")]
    bad = [forge(valid_claims(scope=READ, exp=1, iat=0)),
           forge(valid_claims(scope=READ, aud="https://other.example.test"))]
    return World({"basic": (c.client_id, secret)}, header_tokens=header_tokens,
                 body_tokens=[], bad_tokens=bad)


BODIES = st.one_of(st.just(b""), st.binary(max_size=200),
                   st.builds(lambda n, q: json.dumps({"name": n, "quantity": q}).encode(),
                             latin1(30), st.integers(-(2**70), 2**70)),
                   st.sampled_from([b"{", b"[]", b"null", b'{"name": null}', b"\xff\xfe",
                                    b'{"name": "x", "quantity": "NaN"}', b"x" * 70_000]))
CHALLENGE_ERRORS = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope"}
#: The DPoP scheme's own challenge start (RFC 9449 §7.1): an Authorization "DPoP ..." value
#: is refused in that scheme, with invalid_token or invalid_dpop_proof (DPOP-18).


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("path", "_kind"), ITEMS)
def test_hostile_requests_never_500_BEARER_03_BEARER_05_BEARER_08_BEARER_10(
        client, world, caplog, transport, path, _kind):
    # BEARER-03, BEARER-05, BEARER-06, BEARER-08, BEARER-09, BEARER-10, GEN-05: any method,
    # Authorization header, content type, body, DPoP and other headers.
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    caplog.set_level(logging.DEBUG, logger="django")
    statuses: Counter[int] = Counter()

    @FUZZ_SETTINGS
    @given(data=st.data())
    def run(data: Any) -> None:
        method = data.draw(st.sampled_from(["GET", "GET", "POST", "POST", *METHODS]))
        authorization = data.draw(authorizations(world))
        content_type = data.draw(CONTENT_TYPES) or "application/octet-stream"
        body = data.draw(BODIES)
        extra = {key.removeprefix("HTTP_").replace("_", "-"): value
                 for key, value in data.draw(headers()).items()}
        if authorization is not None:
            extra["Authorization"] = authorization
        caplog.clear()
        if transport == "asgi":
            # AsyncClient can only send an ASCII Content-Type.
            assume(content_type.isascii())
            response = asgi(method, path, body, content_type=content_type, secure=True,
                            headers=extra)
        else:
            response = HttpClient(raise_request_exception=False).generic(
                method, path, body, content_type=content_type, secure=True, headers=extra)
        statuses[response.status_code] += 1
        check(response, method, authorization)
        scan_logs(caplog, HostileRequest("ninja", method, None, authorization, content_type,
                                         body, None, True, {}), world, stats=Counter())

    def check(response: Any, method: str, authorization: str | None) -> None:
        status = response.status_code
        assert status < 500, (status, response.content[:300])
        assert b"Traceback" not in response.content
        for secret in [*world.secrets, *world.header_tokens]:
            assert secret.encode() not in response.content
        authenticated = any(t in (authorization or "") for t in world.header_tokens)
        if 200 <= status < 300:
            assert authenticated, ("served without a valid token", status)
        challenge = response.get("WWW-Authenticate")
        if status in (401, 403):
            assert challenge is not None, "BEARER-05: refused without a challenge"
        if challenge is not None:
            body = strict_json(response.content)
            if challenge == NO_TOKEN_CHALLENGE:
                assert status == 401 and set(body) == {"error_description"}
            else:
                as_bearer, dpop = bearer_form(challenge)
                match = mutations.CHALLENGE.fullmatch(as_bearer)
                assert match, challenge
                allowed = {CHALLENGE_ERRORS[status]}
                if dpop and status == 401:
                    allowed.add("invalid_dpop_proof")
                assert match["error"] in allowed, (status, challenge)
                assert ERROR_TEXT.fullmatch(match["description"] or "")
                assert body["error"] == match["error"]
        elif status >= 400:
            # Ninja routes by method before authentication (405 with Allow); anything else
            # without a challenge is the operation's own answer (400/422 to a bad body) to
            # an authenticated request.
            assert status == 405 or authenticated, (status, response.content[:300])
            if status == 405:
                assert response.has_header("Allow")

    run()
    assert statuses, statuses
