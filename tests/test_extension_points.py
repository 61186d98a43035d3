"""The three registries, extended from outside the package as a project would
(``tests/extensions.py``), and used end to end over HTTP.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from oauth_cc import caches, registry
from oauth_cc.models import Client
from tests.conftest import NO_TOKEN_CHALLENGE, assert_error, bearer, post_token, verify
from tests.extensions import (
    CNF_MEMBER,
    FixedScopeGrant,
    HeaderKeyAuth,
    TestProofToken,
    key_digest,
    proof,
)

METADATA_URL = "/.well-known/oauth-authorization-server"
WHOAMI = "/api/whoami"
PLAIN = "/api/plain/stock"
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def header_key_auth() -> Iterator[HeaderKeyAuth]:
    method = registry.client_auth_methods.register(HeaderKeyAuth())
    yield method
    registry.client_auth_methods.unregister(method.name)


@pytest.fixture
def fixed_scope_grant() -> Iterator[FixedScopeGrant]:
    grant = registry.grant_types.register(FixedScopeGrant())
    yield grant
    registry.grant_types.unregister(grant.name)


@pytest.fixture
def proof_token_type() -> Iterator[TestProofToken]:
    token_type = registry.token_types.register(TestProofToken())
    yield token_type
    registry.token_types.unregister(token_type.name)
    caches.clear()


def metadata(http: Any) -> dict[str, Any]:
    response = http.get(METADATA_URL, secure=True)
    assert response.status_code == 200
    return response.json()


# --- client authentication methods ---------------------------------------------------------

def test_registered_method_gets_a_token_and_is_advertised_CAUTH_07_META_06(
        client, signing_key, make_client, header_key_auth):
    # CAUTH-07, META-06, META-07: a method registered by the project works at the token
    # endpoint, is advertised for every endpoint, and is a choice of the model.
    c, secret = make_client(token_endpoint_auth_method=header_key_auth.name)
    c.full_clean()  # the model's choices come from the registry
    response = post_token(client, GRANT, HTTP_X_TEST_CLIENT_ID=c.client_id,
                          HTTP_X_TEST_CLIENT_SECRET=secret)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert verify(client, response.json()["access_token"])["client_id"] == c.client_id
    document = metadata(client)
    for endpoint in ("token", "introspection", "revocation"):
        methods = document[f"{endpoint}_endpoint_auth_methods_supported"]
        assert methods[-1] == header_key_auth.name  # registered last, listed last
        assert {"client_secret_basic", "client_secret_post"} <= set(methods)


def test_registered_method_failures_are_invalid_client_CAUTH_03_X_07(
        client, signing_key, make_client, header_key_auth):
    # CAUTH-03, X-07: a failure of a method that does not use the Authorization header is
    # 400 invalid_client, with no challenge.
    c, secret = make_client(token_endpoint_auth_method=header_key_auth.name)
    response = post_token(client, GRANT, HTTP_X_TEST_CLIENT_ID=c.client_id,
                          HTTP_X_TEST_CLIENT_SECRET=secret + "x")
    assert_error(response, "invalid_client", 400)
    assert "WWW-Authenticate" not in response


def test_registered_method_counts_for_one_method_per_request_CAUTH_05_X_01(
        client, signing_key, make_client, header_key_auth):
    # CAUTH-05, X-01: Basic plus the registered method is two methods: invalid_request.
    c, secret = make_client(token_endpoint_auth_method=header_key_auth.name)
    response = post_token(client, GRANT, auth=(c.client_id, secret),
                          HTTP_X_TEST_CLIENT_ID=c.client_id, HTTP_X_TEST_CLIENT_SECRET=secret)
    assert_error(response, "invalid_request", 400)


def test_client_registered_for_basic_cannot_use_the_new_method_CAUTH_07(
        client, api_client, header_key_auth):
    # CAUTH-07: only the client's registered method is accepted.
    c, secret = api_client
    response = post_token(client, GRANT, HTTP_X_TEST_CLIENT_ID=c.client_id,
                          HTTP_X_TEST_CLIENT_SECRET=secret)
    assert_error(response, "invalid_client", 400)


def test_unregistered_method_is_no_longer_a_choice(make_client, db):
    c, _secret = make_client(token_endpoint_auth_method="test_header_key")
    with pytest.raises(Exception, match="not a valid choice"):
        c.full_clean()


# --- grants --------------------------------------------------------------------------------

def test_registered_grant_is_dispatched_and_advertised_TOK_11_META_05(
        client, api_client, fixed_scope_grant):
    # TOK-11: the token endpoint dispatches on grant_type to the registered handler;
    # META-05: grant_types_supported lists exactly what is registered.
    c, secret = api_client
    assert metadata(client)["grant_types_supported"] == [
        "client_credentials", fixed_scope_grant.name]
    response = post_token(client, {"grant_type": fixed_scope_grant.name, "note": "x"},
                          auth=(c.client_id, secret))
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "read"


def test_grant_unknown_once_unregistered_TOK_11(client, api_client):
    # TOK-11
    c, secret = api_client
    response = post_token(client, {"grant_type": FixedScopeGrant.name},
                          auth=(c.client_id, secret))
    assert_error(response, "unsupported_grant_type")
    assert metadata(client)["grant_types_supported"] == ["client_credentials"]


def test_grant_parameters_are_known_only_with_the_grant_TOK_05(
        client, api_client, fixed_scope_grant):
    # TOK-05: a registered grant's parameter may not repeat.
    c, secret = api_client
    response = post_token(client, [("grant_type", fixed_scope_grant.name), ("note", "a"),
                                   ("note", "b")], auth=(c.client_id, secret))
    assert_error(response, "invalid_request")


# --- token types ---------------------------------------------------------------------------

KEY = "test-pop-key-1"


def pop_headers(token: str, uri: str, method: str = "GET", key: str = KEY,
                proof_value: str | None = None) -> dict[str, str]:
    return {
        "HTTP_AUTHORIZATION": f"TestPoP {token}",
        "HTTP_X_TEST_POP_KEY": key,
        "HTTP_X_TEST_POP_PROOF": proof(key, method, uri) if proof_value is None
        else proof_value,
    }


def bound_token(http: Any, c: Client, secret: str) -> str:
    response = post_token(http, {**GRANT, "scope": "inventory:read"},
                          auth=(c.client_id, secret), HTTP_X_TEST_POP_KEY=KEY)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "TestPoP"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {CNF_MEMBER: key_digest(KEY)}
    return str(body["access_token"])


@pytest.fixture
def reader(make_client: Any, signing_key: Any) -> tuple[Client, str]:
    return make_client(scope="inventory:read read", default_scope="read")


def test_registered_token_type_end_to_end_RSV_08_TOK_07(client, reader, proof_token_type):
    # TOK-07: token_type names the type issued; RSV-08: a bound token is accepted with its
    # proof, through DRF and plain views alike, and refused as a plain Bearer token.
    token = bound_token(client, *reader)
    for url in (WHOAMI, PLAIN):
        uri = f"http://testserver{url}"
        ok = client.get(url, **pop_headers(token, uri))
        assert ok.status_code == 200, ok.content
    refused = client.get(WHOAMI, **bearer(token))
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')


def test_cached_token_never_skips_the_proof_RSV_08(client, reader, proof_token_type):
    # RSV-08: the verified-token cache holds the token after the first call; the type's
    # per-request check still runs, so a wrong proof, a proof for another URI or another
    # method, or none at all, is refused in the type's own scheme.
    token = bound_token(client, *reader)
    uri = f"http://testserver{WHOAMI}"
    assert client.get(WHOAMI, **pop_headers(token, uri)).status_code == 200
    for headers in (pop_headers(token, uri, proof_value="0" * 64),
                    pop_headers(token, "http://testserver/api/other"),
                    pop_headers(token, uri, method="POST"),
                    {"HTTP_AUTHORIZATION": f"TestPoP {token}"}):
        response = client.get(WHOAMI, **headers)
        assert response.status_code == 401, headers
        assert response["WWW-Authenticate"] == (
            'TestPoP realm="api", error="invalid_token", error_description="The proof of '
            'possession is missing or wrong."')
        assert response.json()["error"] == "invalid_token"
    assert client.get(WHOAMI, **pop_headers(token, uri)).status_code == 200


def test_insufficient_scope_challenges_in_the_token_types_scheme_BEARER_05(
        client, reader, proof_token_type):
    # BEARER-05: the 403 challenge uses the scheme the client used.
    token = bound_token(client, *reader)
    uri = "http://testserver/api/items/"
    response = client.post("/api/items/", **pop_headers(token, uri, method="POST"))
    assert response.status_code == 403
    assert response["WWW-Authenticate"].startswith(
        'TestPoP realm="api", error="insufficient_scope"')


def test_unbound_requests_still_get_bearer_tokens_TOK_07(client, reader, proof_token_type):
    # TOK-07: without the type's proof the token endpoint issues a plain Bearer token.
    c, secret = reader
    response = post_token(client, {**GRANT, "scope": "inventory:read"},
                          auth=(c.client_id, secret))
    assert response.json()["token_type"] == "Bearer"
    assert client.get(WHOAMI, **bearer(response.json()["access_token"])).status_code == 200
    assert client.get(WHOAMI)["WWW-Authenticate"] == NO_TOKEN_CHALLENGE


def test_introspection_names_the_bound_type_INTRO_03(client, reader, make_client,
                                                     proof_token_type):
    # INTRO-03: token_type of an active token is the type it was issued as.
    token = bound_token(client, *reader)
    inspector, secret = make_client(can_introspect=True)
    response = post_token(client, {"token": token}, url="/oauth/introspect",
                          auth=(inspector.client_id, secret))
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.json()["token_type"] == "TestPoP"

