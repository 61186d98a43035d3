"""Token revocation (RFC 7009), through HTTP, and how revocation reaches the resource server.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from django.core.cache import caches as django_caches

from oauth_cc import caches, clock
from oauth_cc.models import OpaqueToken, RevokedToken, TokenEndpointAuthMethod
from oauth_cc.server import revocation
from tests.conftest import bearer, forge, get_token, post_token, valid_claims
from tests.test_introspection import (
    assert_error,
    assert_inactive,
    assert_introspection,
    introspect,
    revoke,
)

REVOKE_URL = "/oauth/revoke"
WHOAMI = "/api/whoami"
READ = "inventory:read"


# --- helpers ------------------------------------------------------------------------------

def assert_revoke_ok(response) -> None:
    """REV-04: 200, whatever the token was; never cached (GEN-03)."""
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    assert response.content == b""  # the body is ignored by clients; nothing leaks in it


def assert_api_refuses(response) -> None:
    """RFC 6750 §3.1: 401 invalid_token with a Bearer challenge (BEARER-09, GEN-09)."""
    assert response.status_code == 401, response.content
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    assert 'error="invalid_token"' in challenge
    assert response.json()["error"] == "invalid_token"


def api(http, token: str):
    return http.get(WHOAMI, **bearer(token))


def exp_of(token: str) -> int:
    return jwt.decode(token, options={"verify_signature": False})["exp"]


def jti_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture
def owner(signing_key, make_client) -> tuple[Any, str]:
    """A client that may call the demo API and revokes its own tokens."""
    return make_client(scope=f"{READ} read", default_scope=READ, name="owner")


@pytest.fixture
def other(signing_key, make_client) -> tuple[Any, str]:
    return make_client(scope=f"{READ} read", default_scope=READ, name="other")


@pytest.fixture
def opaque_owner(signing_key, make_client) -> tuple[Any, str]:
    return make_client(scope=f"{READ} read", default_scope=READ, token_format="opaque",
                       name="opaque owner")


@pytest.fixture
def introspector(signing_key, make_client) -> tuple[Any, str]:
    return make_client(scope="read", can_introspect=True, name="introspector")


# --- revoking one's own token -------------------------------------------------------------

def test_revoke_own_jwt_is_200_no_store_REV_01_REV_04_GEN_03(client, owner):
    # REV-01, REV-04, GEN-03
    token = get_token(client, *owner)
    assert_revoke_ok(revoke(client, token, owner))


def test_revoked_jwt_refused_by_very_next_api_call_REV_06_X_11(client, owner):
    # REV-06, X-11: the resource server in this project consults the revocation list.
    token = get_token(client, *owner)
    assert_revoke_ok(revoke(client, token, owner))
    assert_api_refuses(api(client, token))


def test_revoked_jwt_introspects_inactive_REV_06_INTRO_04(client, owner, introspector):
    # REV-06: a later introspection gets active:false, and nothing else (INTRO-04).
    token = get_token(client, *owner)
    assert assert_introspection(introspect(client, token, introspector))["active"] is True
    assert_revoke_ok(revoke(client, token, owner))
    assert_inactive(introspect(client, token, introspector))


def test_revoked_jti_kept_until_exp_REV_06_X_11(client, owner):
    # REV-06, X-11 (DEC): the revoked jti is recorded, and kept until the token's exp.
    token = get_token(client, *owner)
    assert_revoke_ok(revoke(client, token, owner))
    row = RevokedToken.objects.get(jti=jti_of(token))
    assert row.client_id == owner[0].client_id
    assert row.expires_at == datetime.fromtimestamp(exp_of(token), tz=UTC)


def test_revoking_again_is_200_REV_04(client, owner):
    # REV-04: an already-revoked token gets 200 too.
    token = get_token(client, *owner)
    assert_revoke_ok(revoke(client, token, owner))
    assert_revoke_ok(revoke(client, token, owner))
    assert RevokedToken.objects.filter(jti=jti_of(token)).count() == 1
    assert_api_refuses(api(client, token))


REV_INVALID = {
    "unknown opaque": lambda: "occat_" + secrets.token_urlsafe(32),
    "garbage": lambda: "garbage",
    "three dots": lambda: "a.b.c",
    "foreign issuer": lambda: forge(valid_claims(iss="https://evil.example")),
    "unpublished key": lambda: forge(valid_claims(), algorithm="ES256"),
    "too long": lambda: "a" * 9000,
}


@pytest.mark.parametrize("case", sorted(REV_INVALID))
def test_unknown_or_invalid_token_is_200_REV_04(client, owner, case):
    # REV-04: invalid and unknown tokens get 200; nothing is recorded.
    assert_revoke_ok(revoke(client, REV_INVALID[case](), owner))
    assert not RevokedToken.objects.exists()


@pytest.mark.parametrize("fixture", ["owner", "opaque_owner"])
def test_expired_token_is_200_REV_04(client, request, fake_clock, fixture):
    # REV-04: an expired token gets 200 (there is nothing left to revoke).
    holder = request.getfixturevalue(fixture)
    token = get_token(client, *holder)
    fake_clock.advance(601)
    assert_revoke_ok(revoke(client, token, holder))


# --- someone else's token -----------------------------------------------------------------

@pytest.mark.parametrize("format_fixture", ["owner", "opaque_owner"])
def test_other_clients_token_is_refused_and_stays_active_REV_03_X_04(
        client, request, other, introspector, format_fixture):
    # REV-03, X-04: 400 invalid_grant, and the token is not revoked.
    holder = request.getfixturevalue(format_fixture)
    token = get_token(client, *holder)
    assert api(client, token).status_code == 200
    assert_error(revoke(client, token, other), "invalid_grant")
    assert not RevokedToken.objects.exists()
    assert not OpaqueToken.objects.filter(revoked_at__isnull=False).exists()
    assert api(client, token).status_code == 200
    body = assert_introspection(introspect(client, token, introspector))
    assert body["active"] is True
    assert body["client_id"] == holder[0].client_id


# --- opaque tokens ------------------------------------------------------------------------

def test_opaque_token_revocation_end_to_end_REV_06(client, opaque_owner, introspector):
    # REV-06, REV-04
    token = get_token(client, *opaque_owner)
    assert "." not in token
    assert api(client, token).status_code == 200
    assert_revoke_ok(revoke(client, token, opaque_owner))
    assert_api_refuses(api(client, token))
    assert_inactive(introspect(client, token, introspector))
    row = OpaqueToken.objects.get()
    assert row.revoked_at is not None
    assert RevokedToken.objects.filter(jti=row.jti, expires_at=row.expires_at).exists()
    assert_revoke_ok(revoke(client, token, opaque_owner))  # again: still 200


# --- token_type_hint ----------------------------------------------------------------------

@pytest.mark.parametrize("hint", ["unknown_type", "id_token", "Access_Token", ""])
def test_unknown_hint_is_ignored_REV_05(client, owner, introspector, hint):
    # REV-05: an unknown hint value is ignored; the token is still revoked.
    token = get_token(client, *owner)
    assert_revoke_ok(revoke(client, token, owner, token_type_hint=hint))
    assert_api_refuses(api(client, token))
    assert_inactive(introspect(client, token, introspector))


@pytest.mark.parametrize("fixture", ["owner", "opaque_owner"])
def test_refresh_token_hint_still_revokes_access_token_REV_05(client, request, introspector,
                                                              fixture):
    # REV-05: with a wrong hint the other token types are searched.
    holder = request.getfixturevalue(fixture)
    token = get_token(client, *holder)
    assert_revoke_ok(revoke(client, token, holder, token_type_hint="refresh_token"))
    assert_api_refuses(api(client, token))
    assert_inactive(introspect(client, token, introspector))


# --- client authentication and malformed requests -----------------------------------------

def test_unauthenticated_is_401_with_basic_challenge_REV_02_CAUTH_09_GEN_09(client, owner):
    # REV-02, CAUTH-09, CAUTH-03, GEN-09
    token = get_token(client, *owner)
    assert_error(post_token(client, {"token": token}, url=REVOKE_URL), "invalid_client",
                 status=401)
    assert api(client, token).status_code == 200  # nothing revoked


def test_wrong_secret_is_invalid_client_REV_02_CAUTH_03_X_07(client, owner, make_client):
    # REV-02, CAUTH-03, X-07: 401 + challenge via Basic, 400 via the body.
    token = get_token(client, *owner)
    c, secret = owner
    assert_error(revoke(client, token, (c, secret + "x")), "invalid_client", status=401)
    poster, poster_secret = make_client(
        token_endpoint_auth_method=TokenEndpointAuthMethod.CLIENT_SECRET_POST)
    response = post_token(client, {"token": token, "client_id": poster.client_id,
                                   "client_secret": poster_secret + "x"}, url=REVOKE_URL)
    assert_error(response, "invalid_client", status=400)
    assert api(client, token).status_code == 200  # nothing revoked


def test_client_secret_post_revokes_own_token_REV_02(client, signing_key, make_client):
    # REV-02
    c, secret = make_client(scope=READ, default_scope=READ,
                            token_endpoint_auth_method=TokenEndpointAuthMethod
                            .CLIENT_SECRET_POST)
    token = post_token(client, {"grant_type": "client_credentials", "client_id": c.client_id,
                                "client_secret": secret}).json()["access_token"]
    response = post_token(client, {"token": token, "client_id": c.client_id,
                                   "client_secret": secret}, url=REVOKE_URL)
    assert_revoke_ok(response)
    assert_api_refuses(api(client, token))


def test_missing_token_is_invalid_request_REV_01(client, owner):
    # REV-01, TOK-03
    c, secret = owner
    assert_error(post_token(client, {}, auth=(c.client_id, secret), url=REVOKE_URL),
                 "invalid_request")
    assert_error(post_token(client, {"token": ""}, auth=(c.client_id, secret),
                            url=REVOKE_URL), "invalid_request")


def test_repeated_token_is_invalid_request_REV_01_TOK_05(client, owner):
    # REV-01, TOK-05
    token = get_token(client, *owner)
    c, secret = owner
    response = post_token(client, [("token", token), ("token", token)],
                          auth=(c.client_id, secret), url=REVOKE_URL)
    assert_error(response, "invalid_request")
    assert api(client, token).status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_get_405_with_allow_REV_01_GEN_09(client, db, method):
    # REV-01, GEN-09
    response = getattr(client, method)(REVOKE_URL, secure=True)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_huge_token_is_413_json_REV_01(client, owner):
    # REV-01, GEN-02
    assert_error(revoke(client, "a" * (1024 * 1024), owner), "invalid_request", status=413)


def test_json_body_is_invalid_request_REV_01_GEN_04(client, owner):
    # REV-01, GEN-04
    token = get_token(client, *owner)
    c, secret = owner
    response = post_token(client, json.dumps({"token": token}), content_type="application/json",
                          auth=(c.client_id, secret), url=REVOKE_URL)
    assert_error(response, "invalid_request")
    assert api(client, token).status_code == 200


def test_token_in_query_string_is_invalid_request_REV_01(client, owner):
    # REV-01: the token is a form-body parameter, never in the URI.
    token = get_token(client, *owner)
    c, secret = owner
    response = post_token(client, {}, auth=(c.client_id, secret),
                          url=f"{REVOKE_URL}?token={token}")
    assert_error(response, "invalid_request")
    assert api(client, token).status_code == 200


def test_plain_http_is_refused_REV_01_GEN_01(client, owner):
    # REV-01, GEN-01
    token = get_token(client, *owner)
    c, secret = owner
    response = post_token(client, {"token": token}, auth=(c.client_id, secret), url=REVOKE_URL,
                          secure=False)
    assert_error(response, "invalid_request")
    assert api(client, token).status_code == 200


# --- purge ------------------------------------------------------------------------------

def test_purge_removes_only_expired_rows_REV_06_X_11(client, owner, opaque_owner, fake_clock):
    # REV-06, X-11: rows are kept until exp, then may go.
    first = get_token(client, *owner)
    get_token(client, *opaque_owner)  # an opaque token, not revoked: its row expires with it
    fake_clock.advance(300)
    second = get_token(client, *owner)
    assert_revoke_ok(revoke(client, first, owner))
    assert_revoke_ok(revoke(client, second, owner))
    first_exp = datetime.fromtimestamp(exp_of(first), tz=UTC)
    second_exp = datetime.fromtimestamp(exp_of(second), tz=UTC)

    assert revocation.purge(before=first_exp - timedelta(seconds=1)) == (0, 0)
    assert RevokedToken.objects.count() == 2
    assert revocation.purge(before=first_exp) == (1, 1)
    assert list(RevokedToken.objects.values_list("jti", flat=True)) == [jti_of(second)]
    assert not OpaqueToken.objects.exists()
    assert revocation.purge(before=second_exp - timedelta(seconds=1)) == (0, 0)
    fake_clock.now = second_exp.timestamp() + 1
    assert revocation.purge() == (0, 0)  # default: now - CLOCK_LEEWAY, by oauth_cc.clock
    fake_clock.now = second_exp.timestamp() + 30 + 1
    assert revocation.purge() == (1, 0)
    assert not RevokedToken.objects.exists()


# --- revocation at the resource server ---------------------------------------------------

def test_revocation_reaches_cached_token_X_11_REV_06(client, owner):
    # X-11, REV-06: a token already verified (and in the verified-token cache) is refused.
    token = get_token(client, *owner)
    assert api(client, token).status_code == 200
    assert api(client, token).status_code == 200  # served from the verified-token cache
    assert_revoke_ok(revoke(client, token, owner))
    assert_api_refuses(api(client, token))


def test_revoked_token_refused_with_cold_revocation_cache_X_11_REV_06(client, owner):
    # X-11, REV-06: correctness does not depend on the cache being warm.
    token = get_token(client, *owner)
    assert api(client, token).status_code == 200
    assert_revoke_ok(revoke(client, token, owner))
    django_caches["default"].clear()
    caches.clear("revocations")
    assert_api_refuses(api(client, token))  # the verified-token cache still holds it
    django_caches["default"].clear()
    caches.clear("revocations")
    caches.clear()  # and now everything this process remembers is gone
    assert_api_refuses(api(client, token))


def test_revocation_check_costs_one_cache_read_X_11(client, owner, other,
                                                    django_assert_num_queries,
                                                    django_assert_max_num_queries):
    # an already-seen token after a revocation elsewhere costs at most one query (the
    # revocation list is reloaded once); in steady state, none.
    seen = get_token(client, *owner)
    revoked = get_token(client, *other)
    assert api(client, seen).status_code == 200
    assert api(client, revoked).status_code == 200
    with django_assert_num_queries(0):
        assert api(client, seen).status_code == 200
    assert_revoke_ok(revoke(client, revoked, other))
    with django_assert_max_num_queries(1):
        assert api(client, seen).status_code == 200
    with django_assert_num_queries(0):
        assert api(client, seen).status_code == 200
        assert_api_refuses(api(client, revoked))


def test_revoked_jwt_stays_refused_within_leeway_after_exp_REV_06_X_11(client, owner,
                                                                       fake_clock):
    # REV-06, X-11, RSV-06: the resource server accepts a token until exp + CLOCK_LEEWAY, so
    # a revoked token must stay refused for that long too, never accepted again.
    token = get_token(client, *owner)
    assert api(client, token).status_code == 200
    assert_revoke_ok(revoke(client, token, owner))
    assert_api_refuses(api(client, token))
    fake_clock.now = exp_of(token) + 10  # past exp, inside the 30 s leeway
    assert_api_refuses(api(client, token))


def test_revoked_jwt_refused_after_purge_within_leeway_REV_06_X_11(client, owner, fake_clock):
    # REV-06, X-11: purging at "now" must not make a revoked token acceptable again while the
    # resource server still accepts it (exp + CLOCK_LEEWAY).
    token = get_token(client, *owner)
    assert_revoke_ok(revoke(client, token, owner))
    fake_clock.now = exp_of(token) + 10
    revocation.purge()
    caches.clear("revocations")
    assert_api_refuses(api(client, token))


def test_purge_default_uses_project_clock_X_11(db, fake_clock):
    """purge() with no argument purges what has expired, CLOCK_LEEWAY (30 s) included, by
    oauth_cc.clock (not wall time): resource servers accept a token that long past exp."""
    #
    RevokedToken.objects.create(jti="j1", client_id="c",
                                expires_at=clock.now() + timedelta(seconds=5),
                                revoked_at=clock.now())
    assert revocation.purge() == (0, 0)
    fake_clock.advance(5 + 29)
    assert revocation.purge() == (0, 0)
    fake_clock.advance(1)
    assert revocation.purge() == (1, 0)


def test_revocation_just_after_exp_still_reaches_rs_REV_06_X_11(client, owner, fake_clock):
    # REV-06, X-11: while the resource server would still accept the token, a revocation
    # (answered 200, REV-04) must take effect.
    token = get_token(client, *owner)
    fake_clock.now = exp_of(token) + 5
    assert api(client, token).status_code == 200  # still inside the RS leeway
    assert_revoke_ok(revoke(client, token, owner))
    assert_api_refuses(api(client, token))


# --- where the revocation version lives ----------------------------------------------------

def test_shared_cache_down_revocations_come_from_the_database_REV_06_X_11(
        client, owner, settings, caplog):
    # REV-06, X-11 DEC: with the shared revocation cache unreachable, resource servers read
    # the revoked set from the database on every request: a revoked token is still refused at
    # once (correct, at a query's cost), a valid one accepted, and the outage logged.
    import logging

    settings.CACHES = {**settings.CACHES, "down": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REVOCATION_CACHE": "down"}
    token, spare = get_token(client, *owner), get_token(client, *owner)
    assert api(client, token).status_code == 200
    with caplog.at_level(logging.WARNING, logger="oauth_cc"):
        assert_revoke_ok(revoke(client, token, owner))
        assert_api_refuses(api(client, token))
        assert api(client, spare).status_code == 200
    assert "cannot read the revocation version" in caplog.text
    assert "cannot announce a revocation" in caplog.text


def test_per_process_cache_uses_the_version_file_X_11(client, owner, settings, tmp_path):
    # with Django's per-process cache, the version is a file's identity: a revocation
    # replaces the file, which every process on the machine sees on its next request.
    import os

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.OAUTH_CC = {**settings.OAUTH_CC,
                         "REVOCATION_VERSION_FILE": str(tmp_path / "revocations")}
    token = get_token(client, *owner)
    assert api(client, token).status_code == 200
    assert not (tmp_path / "revocations").exists()
    assert_revoke_ok(revoke(client, token, owner))
    first = os.stat(tmp_path / "revocations").st_ino
    assert_api_refuses(api(client, token))
    assert_revoke_ok(revoke(client, get_token(client, *owner), owner))
    assert os.stat(tmp_path / "revocations").st_ino != first
