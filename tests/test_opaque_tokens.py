"""Opaque access tokens, registered audiences and lifetimes (GEN-06, GEN-07, RES, TOK-10)."""

from __future__ import annotations

import hashlib
import re

import pytest

from oauth_cc.models import Audience, OpaqueToken
from tests.conftest import AUDIENCE, bearer, post_token, verify

GRANT = {"grant_type": "client_credentials"}
READ = "inventory:read"


@pytest.fixture
def opaque_client(make_client, signing_key):
    return make_client(scope=READ, default_scope=READ, token_format="opaque")


def test_opaque_token_is_random_and_stored_as_a_digest_GEN_06_GEN_07(client, opaque_client):
    # GEN-06, GEN-07, TOK-09
    c, secret = opaque_client
    body = post_token(client, GRANT, auth=(c.client_id, secret)).json()
    raw = body["access_token"]
    assert re.fullmatch(r"occat_[A-Za-z0-9_-]{43}", raw)  # 256 random bits, header-safe
    assert body["token_type"] == "Bearer" and body["scope"] == READ
    row = OpaqueToken.objects.get(client=c)
    assert row.digest == hashlib.sha256(raw.encode()).hexdigest()
    for field in OpaqueToken._meta.concrete_fields:
        assert raw not in str(getattr(row, field.attname))
    assert int((row.expires_at - row.issued_at).total_seconds()) == body["expires_in"]


def test_opaque_token_works_on_drf_and_plain_views(client, opaque_client,
                                                   django_assert_num_queries):
    c, secret = opaque_client
    raw = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    client.get("/api/whoami", **bearer("x.y.z"))  # loads this process's revocation set
    with django_assert_num_queries(1):  # first sight: one indexed lookup
        response = client.get("/api/whoami", **bearer(raw))
    assert response.status_code == 200
    assert response.json()["client_id"] == c.client_id
    with django_assert_num_queries(0):  # then the verified-token cache
        assert client.get("/api/whoami", **bearer(raw)).status_code == 200
    assert client.get("/api/plain/stock", **bearer(raw)).status_code == 200


def test_unknown_and_expired_opaque_tokens_are_invalid_BEARER_09(client, opaque_client,
                                                                fake_clock):
    # BEARER-09
    c, secret = opaque_client
    raw = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    forged = client.get("/api/whoami", **bearer("occat_" + "A" * 43))
    assert forged.status_code == 401 and 'error="invalid_token"' in forged["WWW-Authenticate"]
    fake_clock.advance(601)
    expired = client.get("/api/whoami", **bearer(raw))
    assert expired.status_code == 401
    assert "expired" in expired.json()["error_description"]


def test_opaque_token_for_another_audience_is_refused_RSV_04(client, make_client,
                                                            signing_key):
    # RSV-04, BCP-02: the resource server's own identifier must be in the audience.
    c, secret = make_client(scope=READ, default_scope=READ, token_format="opaque",
                            allowed_audiences="https://other.example.test")
    raw = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    assert client.get("/api/whoami", **bearer(raw)).status_code == 401


def test_global_default_format(client, api_client, settings):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "ACCESS_TOKEN_FORMAT": "opaque"}
    c, secret = api_client
    raw = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    assert raw.startswith("occat_")


def test_remote_mode_refuses_opaque_tokens(client, opaque_client, settings):
    c, secret = opaque_client
    raw = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    settings.OAUTH_CC = {**settings.OAUTH_CC, "JWKS_URI": "https://as.example.test/jwks"}
    response = client.get("/api/whoami", **bearer(raw))
    assert response.status_code == 401


# --- audiences -------------------------------------------------------------------------------

def test_listed_but_unregistered_audience_is_invalid_target_RES_03(client, make_client,
                                                                   signing_key):
    # RES-03: an unknown resource gets invalid_target.
    c, secret = make_client(allowed_audiences="https://orders.example.test")
    Audience.objects.filter(identifier="https://orders.example.test").delete()
    response = post_token(client, {**GRANT, "resource": "https://orders.example.test"},
                          auth=(c.client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_inactive_audience_is_invalid_target_RES_03(client, make_client, signing_key):
    # RES-03
    c, secret = make_client(allowed_audiences="https://orders.example.test")
    Audience.objects.filter(identifier="https://orders.example.test").update(is_active=False)
    response = post_token(client, {**GRANT, "resource": "https://orders.example.test"},
                          auth=(c.client_id, secret))
    assert response.json()["error"] == "invalid_target"


def test_default_audience_needs_no_registration_RES_04(client, api_client):
    # RES-04: the documented default applies when resource is absent.
    c, secret = api_client
    token = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    assert verify(client, token)["aud"] == AUDIENCE


def test_audience_lifetime_caps_the_token_TOK_10(client, make_client, signing_key):
    # TOK-10: lifetime = min(client, audience, global bound); expires_in matches exp.
    Audience.objects.create(identifier="https://short.example.test", access_token_lifetime=90)
    c, secret = make_client(allowed_audiences="https://short.example.test",
                            access_token_lifetime=1800)
    body = post_token(client, {**GRANT, "resource": "https://short.example.test"},
                      auth=(c.client_id, secret)).json()
    assert body["expires_in"] == 90
    claims = verify(client, body["access_token"], audience="https://short.example.test")
    assert claims["exp"] - claims["iat"] == 90
    c2, secret2 = make_client(access_token_lifetime=1800)
    assert post_token(client, GRANT, auth=(c2.client_id, secret2)).json()["expires_in"] == 1800


def test_several_resources_take_the_shortest_lifetime_RES_01(client, make_client, signing_key):
    # RES-01: several resource values are allowed.
    Audience.objects.create(identifier="https://a.example.test", access_token_lifetime=300)
    Audience.objects.create(identifier="https://b.example.test", access_token_lifetime=120)
    c, secret = make_client(allowed_audiences="https://a.example.test https://b.example.test")
    body = post_token(client, [("grant_type", "client_credentials"),
                               ("resource", "https://a.example.test"),
                               ("resource", "https://b.example.test")],
                      auth=(c.client_id, secret)).json()
    assert body["expires_in"] == 120


def test_deleted_audience_is_removed_from_clients_RES_03(make_client):
    # RES-03: a deleted API is no longer a target.
    c, _ = make_client(allowed_audiences="https://a.example.test https://b.example.test")
    Audience.objects.filter(identifier="https://a.example.test").delete()
    c.refresh_from_db()
    assert c.allowed_audiences == "https://b.example.test"


@pytest.mark.parametrize("identifier", ["https://a.test\thttps://b.test", "https://a.test b",
                                        "relative/path", "https://a.test#frag"])
def test_audience_identifier_is_one_absolute_uri_RES_01(db, identifier):
    # RES-01: an absolute URI without fragment.
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Audience(identifier=identifier).full_clean()
