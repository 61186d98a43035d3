"""Token introspection (RFC 7662), through HTTP.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from oauth_cc.models import Audience, TokenEndpointAuthMethod
from oauth_cc.server import keys
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    assert_error,
    bearer,
    forge,
    get_token,
    post_token,
    valid_claims,
)

INTROSPECT_URL = "/oauth/introspect"
REVOKE_URL = "/oauth/revoke"
WHOAMI = "/api/whoami"
READ = "inventory:read"
BASIC_CHALLENGE = re.compile(r'Basic realm="[^"]*"(, charset="UTF-8")?')
ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
ACTIVE_MEMBERS = {"active", "scope", "client_id", "token_type", "exp", "iat", "sub", "aud",
                  "iss", "jti"}


# --- helpers ------------------------------------------------------------------------------

def introspect(http, token: str | None, caller: tuple[Any, str], **fields: Any):
    """POST an introspection request, the caller authenticating with Basic."""
    c, secret = caller
    body = {"token": token, **fields} if token is not None else dict(fields)
    return post_token(http, body, auth=(c.client_id, secret), url=INTROSPECT_URL)


def revoke(http, token: str, owner: tuple[Any, str], **fields: Any):
    c, secret = owner
    return post_token(http, {"token": token, **fields}, auth=(c.client_id, secret),
                      url=REVOKE_URL)


def assert_introspection(response) -> dict[str, Any]:
    """A 200 JSON introspection response, not cacheable (INTRO-03, INTRO-07, GEN-03)."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    body = json.loads(response.content)
    assert isinstance(body["active"], bool)
    return body


def assert_inactive(response) -> None:
    """INTRO-04: exactly ``{"active": false}``, no other member."""
    assert assert_introspection(response) == {"active": False}




# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture
def introspector(signing_key, make_client) -> tuple[Any, str]:
    """A client allowed to introspect (Client.can_introspect)."""
    return make_client(scope="read", can_introspect=True, name="introspector")


@pytest.fixture
def owner(signing_key, make_client) -> tuple[Any, str]:
    """A client whose tokens get introspected; it may call the demo API."""
    return make_client(scope=f"{READ} read write", default_scope=f"{READ} read", name="owner")


@pytest.fixture
def opaque_owner(signing_key, make_client) -> tuple[Any, str]:
    return make_client(scope=f"{READ} read write", default_scope=f"{READ} read",
                       token_format="opaque", name="opaque owner")


# --- active tokens ------------------------------------------------------------------------

def test_active_jwt_members_INTRO_03_SCOPE_06(client, introspector, owner):
    # INTRO-03, SCOPE-06, GEN-02
    c, secret = owner
    token = get_token(client, c, secret, scope="write read")
    claims = jwt.decode(token, options={"verify_signature": False})
    body = assert_introspection(introspect(client, token, introspector))
    assert set(body) == ACTIVE_MEMBERS
    assert body["active"] is True
    assert body["scope"] == "read write"  # one space-separated string
    assert body["client_id"] == c.client_id
    assert body["token_type"] == "Bearer"
    assert type(body["exp"]) is int and body["exp"] == claims["exp"]
    assert type(body["iat"]) is int and body["iat"] == claims["iat"]
    assert body["exp"] > body["iat"]
    assert body["sub"] == c.client_id
    assert body["aud"] == AUDIENCE
    assert body["iss"] == ISSUER
    assert body["jti"] == claims["jti"]


def test_active_opaque_token_members_INTRO_03(client, introspector, opaque_owner):
    # INTRO-03
    c, secret = opaque_owner
    token = get_token(client, c, secret, scope="read")
    assert "." not in token  # really opaque
    body = assert_introspection(introspect(client, token, introspector))
    assert set(body) == ACTIVE_MEMBERS
    assert body["active"] is True
    assert body["scope"] == "read"
    assert body["client_id"] == body["sub"] == c.client_id
    assert body["token_type"] == "Bearer"
    assert type(body["exp"]) is int and type(body["iat"]) is int
    assert body["exp"] - body["iat"] == 600
    assert body["aud"] == AUDIENCE
    assert body["iss"] == ISSUER
    assert isinstance(body["jti"], str) and body["jti"]


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
def test_several_audiences_are_an_array_INTRO_03_RES_02(client, introspector, make_client,
                                                        token_format):
    # INTRO-03 (aud is a string or an array), RES-02
    first, second = "https://a.example.test", "https://b.example.test"
    c, secret = make_client(allowed_audiences=f"{first} {second}", token_format=token_format)
    response = post_token(client, [("grant_type", "client_credentials"),
                                   ("resource", second), ("resource", first)],
                          auth=(c.client_id, secret))
    assert response.status_code == 200, response.content
    body = assert_introspection(introspect(client, response.json()["access_token"],
                                           introspector))
    assert body["active"] is True
    assert sorted(body["aud"]) == [first, second]


def test_signed_by_this_server_is_active_control_INTRO_05(client, introspector):
    # INTRO-05: control for the inactive cases below: a well-formed token signed with the
    # published key and naming this issuer is active, so they fail for their one defect.
    body = assert_introspection(introspect(client, forge(valid_claims()), introspector))
    assert body["active"] is True
    assert body["client_id"] == "forged-client"


# --- inactive tokens ----------------------------------------------------------------------

def _unpublished_rsa_key() -> Any:
    return keys.generate_private_key("RS256")


INACTIVE: dict[str, Callable[[Any], str]] = {
    "unknown opaque": lambda key: "occat_" + secrets.token_urlsafe(32),
    "malformed word": lambda key: "not-a-token",
    "malformed three parts": lambda key: "a.b.c",
    "malformed dots": lambda key: "..",
    "jwt with padding": lambda key: forge(valid_claims()) + "=",
    "truncated signature": lambda key: forge(valid_claims())[:-8],
    "unpublished key, unknown kid": lambda key: forge(valid_claims(), key=_unpublished_rsa_key()),
    "unpublished algorithm key": lambda key: forge(valid_claims(), algorithm="ES256"),
    "published kid, other key": lambda key: forge(
        valid_claims(), key=_unpublished_rsa_key(), header={"kid": key.kid}),
    "foreign issuer": lambda key: forge(valid_claims(iss="https://evil.example")),
    "issuer differs by a slash": lambda key: forge(valid_claims(iss=ISSUER + "/")),
    "nbf in the future": lambda key: forge(valid_claims(nbf=int(time.time()) + 3600)),
    "already expired": lambda key: forge(valid_claims(iat=int(time.time()) - 1200,
                                                      exp=int(time.time()) - 600)),
    "typ JWT": lambda key: forge(valid_claims(), header={"typ": "JWT"}),
    "no typ": lambda key: forge(valid_claims(), header={"typ": None}),
    "alg none": lambda key: jwt.encode(valid_claims(), None, algorithm="none",
                                       headers={"typ": "at+jwt", "kid": key.kid}),
    "HS256 with public key id": lambda key: jwt.encode(
        valid_claims(), "k" * 32, algorithm="HS256", headers={"typ": "at+jwt", "kid": key.kid}),
    "no jti": lambda key: forge(valid_claims(jti=None)),
    "no exp": lambda key: forge(valid_claims(exp=None)),
    "no client_id": lambda key: forge(valid_claims(client_id=None)),
    "too long": lambda key: "a" * 9000,
}


@pytest.mark.parametrize("case", sorted(INACTIVE))
def test_inactive_tokens_are_only_active_false_INTRO_04_INTRO_05(client, introspector,
                                                                 signing_key, case):
    # INTRO-04, INTRO-05: unknown, malformed, forged, foreign, not yet valid, expired.
    token = INACTIVE[case](signing_key)
    assert_inactive(introspect(client, token, introspector))


def test_expired_jwt_is_inactive_INTRO_04_INTRO_05(client, introspector, owner, fake_clock):
    # INTRO-04, INTRO-05: exp is checked against oauth_cc.clock; inactive from exp on.
    c, secret = owner
    token = get_token(client, c, secret)
    fake_clock.advance(599)
    assert assert_introspection(introspect(client, token, introspector))["active"] is True
    fake_clock.advance(1)
    assert_inactive(introspect(client, token, introspector))
    fake_clock.advance(3600)
    assert_inactive(introspect(client, token, introspector))


def test_expired_opaque_token_is_inactive_INTRO_04_INTRO_05(client, introspector,
                                                            opaque_owner, fake_clock):
    # INTRO-04, INTRO-05
    c, secret = opaque_owner
    token = get_token(client, c, secret)
    fake_clock.advance(599)
    assert assert_introspection(introspect(client, token, introspector))["active"] is True
    fake_clock.advance(1)
    assert_inactive(introspect(client, token, introspector))


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
def test_audience_lifetime_bounds_activity_INTRO_05_TOK_10(client, introspector, make_client,
                                                           fake_clock, token_format):
    # INTRO-05, TOK-10: a token for an API with a shorter lifetime is inactive after it.
    short = "https://short.example.test"
    c, secret = make_client(allowed_audiences=short, token_format=token_format)
    registered = Audience.objects.get(identifier=short)
    registered.access_token_lifetime = 60
    registered.save()
    response = post_token(client, {"grant_type": "client_credentials", "resource": short},
                          auth=(c.client_id, secret))
    assert response.status_code == 200, response.content
    assert response.json()["expires_in"] == 60
    token = response.json()["access_token"]
    body = assert_introspection(introspect(client, token, introspector))
    assert body["active"] is True
    assert body["exp"] - body["iat"] == 60
    assert body["aud"] == short
    fake_clock.advance(60)
    assert_inactive(introspect(client, token, introspector))


@pytest.mark.parametrize("fixture", ["owner", "opaque_owner"])
def test_revoked_token_is_inactive_INTRO_04_REV_06(client, introspector, request, fixture):
    # INTRO-04, INTRO-05, REV-06: revocation is seen by the very next introspection.
    holder = request.getfixturevalue(fixture)
    token = get_token(client, holder[0], holder[1])
    assert assert_introspection(introspect(client, token, introspector))["active"] is True
    assert revoke(client, token, holder).status_code == 200
    assert_inactive(introspect(client, token, introspector))


# --- token_type_hint ----------------------------------------------------------------------

@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "id_token", "ACCESS_TOKEN",
                                  "unknown"])
def test_token_type_hint_changes_nothing_INTRO_01(client, introspector, owner, hint):
    # INTRO-01: a wrong or unknown hint makes the server search every type, or is ignored.
    c, secret = owner
    token = get_token(client, c, secret)
    plain = assert_introspection(introspect(client, token, introspector))
    hinted = assert_introspection(introspect(client, token, introspector,
                                             token_type_hint=hint))
    assert hinted == plain
    assert hinted["active"] is True
    unknown = "occat_" + secrets.token_urlsafe(32)
    assert_inactive(introspect(client, unknown, introspector, token_type_hint=hint))


def test_opaque_token_with_refresh_hint_is_found_INTRO_01(client, introspector, opaque_owner):
    # INTRO-01
    c, secret = opaque_owner
    token = get_token(client, c, secret)
    body = assert_introspection(introspect(client, token, introspector,
                                           token_type_hint="refresh_token"))
    assert body["active"] is True


# --- who may introspect -------------------------------------------------------------------

def test_client_without_permission_gets_403_and_learns_nothing_INTRO_02_CAUTH_09(
        client, owner, make_client):
    # INTRO-02, CAUTH-09: an authenticated client without can_introspect is refused, and the
    # answer is the same whatever the token's state.
    c, secret = owner
    active = get_token(client, c, secret)
    unknown = "occat_" + secrets.token_urlsafe(32)
    answers = []
    for token in (active, unknown, "garbage"):
        response = introspect(client, token, owner)
        body = assert_error(response, "unauthorized_client", status=403)
        assert "active" not in body
        answers.append(response.content)
    assert len(set(answers)) == 1


def test_unauthenticated_caller_gets_401_challenge_INTRO_06_CAUTH_03_GEN_09(
        client, owner):
    # INTRO-06, CAUTH-03, GEN-09, CAUTH-09
    c, secret = owner
    token = get_token(client, c, secret)
    response = post_token(client, {"token": token}, url=INTROSPECT_URL)
    body = assert_error(response, "invalid_client", status=401)
    assert "active" not in body


def test_wrong_secret_basic_gets_401_challenge_INTRO_06_CAUTH_03(client, introspector, owner):
    # INTRO-06, CAUTH-03, X-07
    c, secret = owner
    token = get_token(client, c, secret)
    response = introspect(client, token, (introspector[0], introspector[1] + "x"))
    assert_error(response, "invalid_client", status=401)
    unknown_client = introspect(client, token, (SimpleNamespace(client_id="nobody"), "x"))
    assert_error(unknown_client, "invalid_client", status=401)


def test_wrong_secret_client_secret_post_gets_400_INTRO_06_X_07(client, owner, make_client):
    # INTRO-06, X-07: a body credential failure is 400 invalid_client (no header was used).
    caller, secret = make_client(can_introspect=True,
                                 token_endpoint_auth_method=TokenEndpointAuthMethod
                                 .CLIENT_SECRET_POST)
    c, owner_secret = owner
    token = get_token(client, c, owner_secret)
    good = post_token(client, {"token": token, "client_id": caller.client_id,
                               "client_secret": secret}, url=INTROSPECT_URL)
    assert assert_introspection(good)["active"] is True
    bad = post_token(client, {"token": token, "client_id": caller.client_id,
                              "client_secret": secret + "x"}, url=INTROSPECT_URL)
    assert_error(bad, "invalid_client", status=400)


# --- malformed requests -------------------------------------------------------------------

def test_missing_token_is_invalid_request_INTRO_01(client, introspector):
    # INTRO-01 (DEC: missing token -> 400 invalid_request), TOK-03 (empty counts as absent)
    assert_error(introspect(client, None, introspector), "invalid_request")
    assert_error(introspect(client, "", introspector), "invalid_request")
    assert_error(introspect(client, None, introspector, token_type_hint="access_token"),
                 "invalid_request")


def test_repeated_token_is_invalid_request_INTRO_01_TOK_05(client, introspector, owner):
    # INTRO-01, TOK-05
    c, secret = owner
    token = get_token(client, c, secret)
    i, i_secret = introspector
    response = post_token(client, [("token", token), ("token", token)],
                          auth=(i.client_id, i_secret), url=INTROSPECT_URL)
    assert_error(response, "invalid_request")
    hint_twice = post_token(client, [("token", token), ("token_type_hint", "access_token"),
                                     ("token_type_hint", "access_token")],
                            auth=(i.client_id, i_secret), url=INTROSPECT_URL)
    assert_error(hint_twice, "invalid_request")


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_get_405_with_allow_INTRO_01_GEN_09(client, introspector, method):
    # INTRO-01 (MAY refuse GET), GEN-09
    response = getattr(client, method)(INTROSPECT_URL, secure=True)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_json_body_is_invalid_request_INTRO_01_GEN_04(client, introspector, owner):
    # INTRO-01, GEN-04
    c, secret = owner
    token = get_token(client, c, secret)
    i, i_secret = introspector
    response = post_token(client, json.dumps({"token": token}), content_type="application/json",
                          auth=(i.client_id, i_secret), url=INTROSPECT_URL)
    assert_error(response, "invalid_request")


def test_huge_token_is_413_json_INTRO_01(client, introspector):
    # INTRO-01, GEN-02: an oversized body is refused, as JSON, before anything else.
    response = introspect(client, "a" * (1024 * 1024), introspector)
    assert_error(response, "invalid_request", status=413)


def test_token_in_query_string_is_invalid_request_INTRO_01(client, introspector, owner):
    # INTRO-01: the token belongs in the form body, never in the URI.
    c, secret = owner
    token = get_token(client, c, secret)
    i, i_secret = introspector
    only_query = post_token(client, {}, auth=(i.client_id, i_secret),
                            url=f"{INTROSPECT_URL}?token={token}")
    assert_error(only_query, "invalid_request")
    both = post_token(client, {"token": token}, auth=(i.client_id, i_secret),
                      url=f"{INTROSPECT_URL}?token={token}")
    assert_error(both, "invalid_request")


def test_plain_http_is_refused_GEN_01_INTRO_01(client, introspector, owner):
    # GEN-01, INTRO-01
    c, secret = owner
    token = get_token(client, c, secret)
    response = post_token(client, {"token": token}, auth=(introspector[0].client_id,
                                                          introspector[1]),
                          url=INTROSPECT_URL, secure=False)
    body = assert_error(response, "invalid_request")
    assert "active" not in body


# --- the resource server never uses a cached result after exp ------------------------------

def test_rs_cached_token_not_used_after_exp_INTRO_07(client, owner, fake_clock):
    # INTRO-07: the resource server's verified-token cache ends at the token's exp.
    c, secret = owner
    token = get_token(client, c, secret)
    assert client.get(WHOAMI, **bearer(token)).status_code == 200  # now cached
    fake_clock.advance(600 + 30)  # exp plus the whole CLOCK_LEEWAY
    response = client.get(WHOAMI, **bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
