"""Authorization server metadata (RFC 8414), through HTTP.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import pytest

from oauth_cc.models import Scope, TokenEndpointAuthMethod
from tests.conftest import AUDIENCE, ISSUER, basic, post_token
from tests.test_client_assertions import (
    ASSERTION_TYPE,
    client_private_key,
    jwks_text,
    public_jwk,
    sign,
)

METADATA_URL = "/.well-known/oauth-authorization-server"
GRANT = {"grant_type": "client_credentials"}
BASIC_CHALLENGE = 'Basic realm="oauth_cc", charset="UTF-8"'
ENDPOINTS = ("token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint")


def fetch(http, url: str = METADATA_URL, **extra: Any):
    return http.get(url, secure=True, **extra)


def metadata(http) -> dict[str, Any]:
    response = fetch(http)
    assert response.status_code == 200, response.content
    return response.json()


def use_oauth_cc(settings, **changes: Any) -> None:
    """Change OAUTH_CC through the settings fixture (a copy, so nothing leaks)."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, **changes}


def arrays(value: Any) -> Iterator[list[Any]]:
    """Every JSON array inside ``value``, however deep."""
    if isinstance(value, list):
        yield value
        for item in value:
            yield from arrays(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from arrays(item)


# --- the document -------------------------------------------------------------------------

def test_get_returns_json_document_META_01_META_02(client, db):
    # META-01, META-02
    response = fetch(client)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.json(), dict)


def test_head_is_allowed_META_02(client, db):
    # META-02: GET (and HEAD) are the methods of a well-known document.
    response = client.head(METADATA_URL, secure=True)
    assert response.status_code == 200


def test_issuer_equals_setting_and_jwt_iss_META_03_JWT_03(client, api_client):
    # META-03, JWT-03: issuer identical to ISSUER and to the iss of an issued token.
    c, secret = api_client
    document = metadata(client)
    assert document["issuer"] == ISSUER
    token = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == document["issuer"]
    parts = urlsplit(document["issuer"])
    assert parts.scheme == "https"
    assert not parts.query and not parts.fragment
    assert "?" not in document["issuer"] and "#" not in document["issuer"]


def test_endpoints_are_absolute_https_on_issuer_origin_META_04_META_08_META_09_REV_07(
        client, db):
    # META-04, META-08, META-09, REV-07 (no plain-HTTP URL is ever published)
    document = metadata(client)
    issuer = urlsplit(document["issuer"])
    for name in ENDPOINTS:
        url = urlsplit(document[name])
        assert url.scheme == "https", name
        assert url.netloc == issuer.netloc, name
        assert not url.fragment, name
    assert urlsplit(document["token_endpoint"]).path == "/oauth/token"
    assert urlsplit(document["jwks_uri"]).path == "/oauth/jwks"
    assert urlsplit(document["introspection_endpoint"]).path == "/oauth/introspect"
    assert urlsplit(document["revocation_endpoint"]).path == "/oauth/revoke"


def test_published_endpoints_answer_at_their_paths_META_04(client, signing_key):
    # META-04: the advertised paths are the real ones on this server.
    document = metadata(client)
    assert client.get(urlsplit(document["jwks_uri"]).path, secure=True).status_code == 200
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        response = post_token(client, {"grant_type": "client_credentials", "token": "x"},
                              url=urlsplit(document[name]).path)
        assert response.status_code == 401, name  # exists, and wants client authentication
        assert response["WWW-Authenticate"] == BASIC_CHALLENGE
        assert response.json()["error"] == "invalid_client"


def test_jwks_uri_keys_carry_use_when_mixed_META_08(client, signing_key):
    # META-08: if both signing and encryption keys were published, each would need use.
    document = metadata(client)
    keys = client.get(urlsplit(document["jwks_uri"]).path, secure=True).json()["keys"]
    assert keys
    uses = {key.get("use") for key in keys}
    if "enc" in uses:
        assert None not in uses


def test_grant_types_supported_is_client_credentials_META_05(client, db):
    # META-05
    assert metadata(client)["grant_types_supported"] == ["client_credentials"]


def test_no_authorization_or_response_types_member_META_04_X_03(client, db):
    # META-04: no authorization endpoint. X-03: response_types_supported is omitted.
    document = metadata(client)
    assert "authorization_endpoint" not in document
    assert "response_types_supported" not in document
    assert document.get("response_types_supported", None) != []


def test_no_empty_arrays_anywhere_META_02_X_03(client, make_client, settings):
    # META-02, X-03: zero-element arrays are omitted, with and without scopes.
    assert all(array for array in arrays(metadata(client)))  # no scope registered yet
    make_client(scope="read write")
    assert all(array for array in arrays(metadata(client)))
    use_oauth_cc(settings, PUBLISH_SCOPES=False)
    assert all(array for array in arrays(metadata(client)))


def test_auth_methods_per_endpoint_META_06_META_07_CAUTH_09(client, db):
    # META-06, META-07, CAUTH-09: each endpoint says which methods it accepts.
    document = metadata(client)
    expected = {"client_secret_basic", "client_secret_post", "private_key_jwt",
                "client_secret_jwt"}
    for endpoint in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        methods = document[f"{endpoint}_auth_methods_supported"]
        assert set(methods) == expected, endpoint
        assert len(methods) == len(set(methods)), endpoint
        assert "none" not in methods
    # A JWT-based method is listed, so its signing algorithms are (never "none", never a
    # MAC for private_key_jwt alone: the list is the union of both methods').
    for endpoint in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        algs = document.get(f"{endpoint}_auth_signing_alg_values_supported")
        methods = set(document[f"{endpoint}_auth_methods_supported"])
        if methods & {"private_key_jwt", "client_secret_jwt"}:
            assert algs and "none" not in algs
        else:
            assert algs is None


def _authenticated_post(http, url: str, method: str, client_id: str, secret: str,
                        body: dict[str, str]):
    """POST ``body`` to ``url`` authenticating the way ``method`` names (RFC 6749 §2.3.1)."""
    if method == TokenEndpointAuthMethod.CLIENT_SECRET_BASIC:
        return post_token(http, body, url=url, authorization=basic(client_id, secret))
    if method == TokenEndpointAuthMethod.CLIENT_SECRET_POST:
        return post_token(http, {**body, "client_id": client_id, "client_secret": secret},
                          url=url)
    if method in ("private_key_jwt", "client_secret_jwt"):
        key, algorithm = (secret, "HS256") if method == "client_secret_jwt" else (
            client_private_key("ES256"), "ES256")
        return post_token(http, {**body, "client_assertion_type": ASSERTION_TYPE,
                                 "client_assertion": sign(client_id, key, algorithm)}, url=url)
    raise AssertionError(f"metadata advertises a method this test cannot use: {method}")


def test_every_advertised_method_works_at_every_endpoint_META_06_META_07_CAUTH_09(
        client, signing_key, make_client):
    # META-06, META-07, CAUTH-09: each advertised method authenticates, at each endpoint,
    # a client registered for it.
    document = metadata(client)
    paths = {name: urlsplit(document[name]).path
             for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint")}
    advertised = {
        endpoint: document[f"{endpoint}_auth_methods_supported"] for endpoint in paths
    }
    keys = jwks_text(public_jwk(client_private_key("ES256"), "ES256", "k1"))
    registered = {
        method: make_client(token_endpoint_auth_method=method, can_introspect=True,
                            jwks=keys if method == "private_key_jwt" else "")
        for method in set().union(*advertised.values())
    }

    def call(endpoint: str, method: str, body: dict[str, str]):
        c, secret = registered[method]
        return _authenticated_post(client, paths[endpoint], method, c.client_id, secret, body)

    for method in advertised["token_endpoint"]:
        response = call("token_endpoint", method, GRANT)
        assert response.status_code == 200, (method, response.content)
        assert response.json()["access_token"]
    for method in advertised["introspection_endpoint"]:
        token = call("token_endpoint", method, GRANT).json()["access_token"]
        response = call("introspection_endpoint", method, {"token": token})
        assert response.status_code == 200, (method, response.content)
        assert response.json()["active"] is True
    for method in advertised["revocation_endpoint"]:
        token = call("token_endpoint", method, GRANT).json()["access_token"]
        response = call("revocation_endpoint", method, {"token": token})
        assert response.status_code == 200, (method, response.content)
        assert response["Cache-Control"] == "no-store"
        after = call("introspection_endpoint", method, {"token": token})
        assert after.json() == {"active": False}


def test_unadvertised_methods_do_not_work_META_06_CAUTH_01(client, signing_key, make_client):
    # META-06, CAUTH-01: "none" (client_id alone) is not listed and does not authenticate;
    # nor does an assertion of a type no method accepts.
    document = metadata(client)
    assert "none" not in document["token_endpoint_auth_methods_supported"]
    registered, _ = make_client()
    alone = post_token(client, {**GRANT, "client_id": registered.client_id})
    assert alone.status_code in (400, 401)
    assert alone.json()["error"] == "invalid_client"
    assertion = post_token(client, {
        **GRANT, "client_id": registered.client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        "client_assertion": "a.b.c",
    })
    assert assertion.status_code == 400
    assert assertion.json()["error"] == "invalid_client"


# --- scopes_supported -------------------------------------------------------------------

def test_scopes_supported_lists_registered_scopes_META_09(client, make_client):
    # META-09
    make_client(scope="read write")
    Scope.objects.create(name="inventory:read")
    assert sorted(metadata(client)["scopes_supported"]) == ["inventory:read", "read", "write"]


def test_scopes_supported_omitted_when_not_published_META_09(client, make_client, settings):
    # META-09: PUBLISH_SCOPES False hides the list.
    make_client(scope="read write")
    use_oauth_cc(settings, PUBLISH_SCOPES=False)
    assert "scopes_supported" not in metadata(client)


def test_scopes_supported_omitted_without_scopes_META_02(client, db):
    # META-02: no scope registered -> no empty array, the member is left out.
    assert not Scope.objects.exists()
    assert "scopes_supported" not in metadata(client)


# --- caching ----------------------------------------------------------------------------

def test_cache_control_is_public_max_age_META_02(client, db, settings):
    # META-02 (REC: a public, cacheable document)
    assert fetch(client)["Cache-Control"] == "public, max-age=3600"
    use_oauth_cc(settings, METADATA_MAX_AGE=60)
    assert fetch(client)["Cache-Control"] == "public, max-age=60"


# --- issuer with a path -------------------------------------------------------------------

def test_issuer_path_is_appended_to_well_known_META_01_META_03(client, db, settings):
    # META-01, META-03
    use_oauth_cc(settings, ISSUER="https://as.example.test/tenant1")
    response = fetch(client, f"{METADATA_URL}/tenant1")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert document["issuer"] == "https://as.example.test/tenant1"
    for name in ENDPOINTS:
        assert document[name].startswith("https://as.example.test/"), name
    assert fetch(client).status_code == 404


def test_issuer_path_trailing_slash_dropped_META_01(client, db, settings):
    # META-01: issuer https://as.example.test/tenant1/ -> .../oauth-authorization-server/tenant1
    use_oauth_cc(settings, ISSUER="https://as.example.test/tenant1/")
    response = fetch(client, f"{METADATA_URL}/tenant1")
    assert response.status_code == 200
    assert response.json()["issuer"] == "https://as.example.test/tenant1/"  # META-03: as is
    assert fetch(client).status_code == 404


def test_issuer_root_slash_served_at_plain_path_META_01(client, db, settings):
    # META-01: an issuer whose path is just "/" has no path component to append.
    use_oauth_cc(settings, ISSUER="https://as.example.test/")
    assert fetch(client).status_code == 200
    assert fetch(client).json()["issuer"] == "https://as.example.test/"


def test_other_paths_under_well_known_404_META_01_META_10(client, db, settings):
    # META-01, META-10: the issuer path is compared code point by code point.
    use_oauth_cc(settings, ISSUER="https://as.example.test/tenant1")
    # "\uff11" (FULLWIDTH DIGIT ONE) is "1" after NFKC normalisation, which must not happen.
    for path in ("/Tenant1", "/tenant2", "/tenant1/x", "/tenant\uff11"):
        assert fetch(client, METADATA_URL + path).status_code == 404, path
    use_oauth_cc(settings, ISSUER=ISSUER)
    assert fetch(client, f"{METADATA_URL}/tenant1").status_code == 404


# --- methods ----------------------------------------------------------------------------

def test_post_is_405_with_allow_GEN_09(client, db):
    # GEN-09, META-02
    response = client.post(METADATA_URL, secure=True)
    assert response.status_code == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


# --- discovery by a standard client over a real server ------------------------------------

def _live(live_server, url: str) -> str:
    """The live server's URL for a published https://as.example.test/... URL."""
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == urlsplit(ISSUER).netloc
    return live_server.url + parts.path


def test_standard_client_discovers_endpoints_and_verifies_token_META_01_META_03_META_08(
        live_server, settings, api_client):
    # META-01, META-03, META-08, JWT-08: urllib discovers the endpoints, PyJWKClient the keys.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forwarded = {"X-Forwarded-Proto": "https"}
    c, secret = api_client
    request = urllib.request.Request(  # noqa: S310 (loopback http only)
        live_server.url + METADATA_URL, headers=forwarded)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        document = json.load(response)
    token_request = urllib.request.Request(  # noqa: S310 (loopback http only)
        _live(live_server, document["token_endpoint"]),
        data=urlencode({**GRANT, "scope": "read"}).encode(),
        headers={**forwarded, "Authorization": basic(c.client_id, secret),
                 "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(token_request, timeout=10) as response:  # noqa: S310
        assert response.status == 200
        access_token = json.load(response)["access_token"]
    jwks_client = jwt.PyJWKClient(_live(live_server, document["jwks_uri"]), headers=forwarded,
                                  timeout=10)
    signing_key = jwks_client.get_signing_key_from_jwt(access_token)
    claims = jwt.decode(access_token, signing_key, algorithms=["RS256"], audience=AUDIENCE,
                        issuer=document["issuer"])
    assert claims["client_id"] == c.client_id
    assert claims["scope"] == "read"


@pytest.mark.parametrize("issuer", ["https://as.example.test", "https://as.example.test/t1"])
def test_issuer_round_trip_code_point_exact_META_10(client, api_client, settings, issuer):
    # META-10, META-03: the metadata issuer is the ISSUER setting, byte for byte, and so is iss.
    use_oauth_cc(settings, ISSUER=issuer)
    c, secret = api_client
    path = METADATA_URL + urlsplit(issuer).path
    document = fetch(client, path).json()
    assert document["issuer"] == issuer
    token = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == issuer
