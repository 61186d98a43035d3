"""Local mode (the default, no JWKS_URI): the resource server reads the authorization server's
published keys from this project's database, at most every KEY_CACHE_SECONDS, and remembers
verified tokens (RSV-05, RSV-06, RSV-09, JWKS-07).

Time is controlled through ``oauth_cc.clock.source``; a token meant to verify is valid both at
that clock and in real time. conftest's autouse fixture clears the caches.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from demo_project.models import Item
from oauth_cc.models import SigningKey
from oauth_cc.resource import verification
from oauth_cc.server import keys
from tests.conftest import bearer, forge, get_token, install_key, valid_claims

WHOAMI = "/api/whoami"
PLAIN_STOCK = "/api/plain/stock"
READ = "inventory:read"
KEY_CACHE_SECONDS = 60  # the default


@pytest.fixture
def reader(signing_key: SigningKey, make_client: Callable[..., Any]) -> tuple[Any, str]:
    return make_client(scope="inventory:read inventory:write", default_scope=None)


def read_token(**claims: Any) -> str:
    """A token signed with the active test key (the one ``signing_key`` installs)."""
    return forge(valid_claims(scope=READ, **claims))


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def cached_digests() -> list[bytes]:
    return verification.verified_tokens.keys()


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# --- no database query once warm ------------------------------------------------------------

def test_warm_drf_request_does_no_query_RSV_05(signing_key, client, django_assert_num_queries):
    # RSV-05: keys by kid from the in-process key cache; no query per request.
    # RSV-05
    first = client.get(WHOAMI, **bearer(read_token(client_id="warm-up")))
    assert first.status_code == 200
    token = read_token(client_id="second")  # a new token: the signature is checked
    with django_assert_num_queries(0):
        response = client.get(WHOAMI, **bearer(token))
    assert response.status_code == 200
    assert response.json()["client_id"] == "second"
    with django_assert_num_queries(0):
        assert client.get(WHOAMI, **bearer(token)).status_code == 200  # verified-token cache


def test_warm_plain_view_does_only_its_own_query_RSV_05(signing_key, client):
    # RSV-05
    Item.objects.create(name="bolts", quantity=3)
    Item.objects.create(name="nuts", quantity=5)
    assert client.get(PLAIN_STOCK, **bearer(read_token())).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PLAIN_STOCK, **bearer(read_token(client_id="plain")))
    assert response.status_code == 200, response.content
    assert response.json()["client_id"] == "plain"
    assert len(response.json()["stock"]) == 2
    (only,) = queries.captured_queries  # the view's own read of the items
    assert Item._meta.db_table in only["sql"]


# --- the verified-token cache ---------------------------------------------------------------

def test_verified_token_is_remembered_by_its_sha256_RSV_05(signing_key, client):
    # RSV-05
    token = read_token()
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert cached_digests() == [digest(token)]
    # A hit returns the remembered object: no second signature verification.
    remembered = verification.verified_tokens.peek(digest(token))
    assert verification.verify(token) is remembered
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert verification.verified_tokens.peek(digest(token)) is remembered


def test_verified_token_entry_ends_at_exp_RSV_06(signing_key, fake_clock):
    # RSV-06: the cache never vouches for a token at or past its exp.
    # RSV-06
    token = read_token()
    first = verification.verify(token)
    fake_clock.now = first.exp - 1
    assert verification.verify(token) is first  # still remembered
    fake_clock.now = first.exp
    again = verification.verify(token)  # dropped, so verified anew (PyJWT: real time, valid)
    assert again is not first
    assert again.jti == first.jti
    assert verification.verified_tokens.peek(digest(token)) is again


def test_verified_token_cache_is_bounded(signing_key, client, settings):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "VERIFIED_TOKEN_CACHE_SIZE": 3}
    tokens = [read_token(client_id=f"client-{n}") for n in range(6)]
    for token in tokens[:5]:
        assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert cached_digests() == [digest(t) for t in tokens[2:5]]
    # Least recently used goes first: using token 2 again keeps it, token 3 is evicted.
    assert client.get(WHOAMI, **bearer(tokens[2])).status_code == 200
    assert client.get(WHOAMI, **bearer(tokens[5])).status_code == 200
    assert cached_digests() == [digest(t) for t in (tokens[4], tokens[2], tokens[5])]


def test_verified_token_cache_size_zero_disables_it(signing_key, client, settings):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "VERIFIED_TOKEN_CACHE_SIZE": 0}
    token = read_token()
    for _ in range(2):
        assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert cached_digests() == []
    assert verification.verify(token) is not verification.verify(token)


@pytest.mark.parametrize("pruned_by", ["this process", "another process"])
def test_cached_token_refused_once_its_key_is_unpublished_JWKS_07(
        signing_key, client, fake_clock, pruned_by):
    """JWKS-07: a retired key verifies until it is removed; from then on even a token the
    cache remembers is refused. Another process's prune reaches this one within
    KEY_CACHE_SECONDS."""
    # Long-lived, so that only the key's removal can explain a refusal.
    token = read_token(exp=int(time.time()) + 2 * 3600)
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    install_key("ES256")  # promoted: the test key is retired, still published
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert digest(token) in cached_digests()

    if pruned_by == "this process":
        retired = SigningKey.objects.get(kid=signing_key.kid)
        fake_clock.now = retired.publish_until.timestamp()
        assert keys.prune() == [signing_key.kid]  # also clears this process's caches
    else:
        # What prune() in another process leaves in the shared database; this process's
        # caches are not told, so the token is still remembered here.
        SigningKey.objects.filter(kid=signing_key.kid).update(
            state=SigningKey.State.REMOVED, encrypted_private_key=b"")
        fake_clock.advance(KEY_CACHE_SECONDS)
        assert digest(token) in cached_digests()
    response = client.get(WHOAMI, **bearer(token))
    assert_invalid_token(response)
    assert "signing key is unknown" in response.json()["error_description"]


# --- rotation without restart (JWKS-07) -------------------------------------------------------

def test_rotation_without_restart_JWKS_07(reader, signing_key, client, fake_clock):
    # JWKS-07
    api, secret = reader
    old_token = get_token(client, api, secret, scope=READ)
    assert kid_of(old_token) == signing_key.kid
    assert client.get(WHOAMI, **bearer(old_token)).status_code == 200

    keys.rotate(algorithm="ES256")  # published before use: the AS keeps the old key
    pending = SigningKey.objects.get(state=SigningKey.State.PENDING)
    assert kid_of(get_token(client, api, secret, scope=READ)) == signing_key.kid

    keys.rotate()  # promote: the old key is retired and stays published
    new_token = get_token(client, api, secret, scope=READ)
    assert kid_of(new_token) == pending.kid
    for token in (new_token, old_token):
        response = client.get(WHOAMI, **bearer(token))
        assert response.status_code == 200, response.content
        assert response.json()["client_id"] == api.client_id

    # By publish_until every token the AS signed with the old key has expired; a long-lived
    # token signed with it shows that the key's removal alone is enough for a refusal.
    long_lived = read_token(exp=int(time.time()) + 2 * 3600)
    retired = SigningKey.objects.get(kid=signing_key.kid)
    assert retired.state == SigningKey.State.RETIRED
    fake_clock.now = retired.publish_until.timestamp() - 1  # also past KEY_CACHE_SECONDS
    assert client.get(WHOAMI, **bearer(long_lived)).status_code == 200  # still published
    fake_clock.now = retired.publish_until.timestamp()
    assert keys.prune() == [signing_key.kid]
    response = client.get(WHOAMI, **bearer(long_lived))
    assert_invalid_token(response)
    assert "signing key is unknown" in response.json()["error_description"]
    assert client.get(WHOAMI, **bearer(get_token(client, api, secret, scope=READ))
                      ).status_code == 200  # the new key signs and verifies


def test_key_added_elsewhere_found_by_unknown_kid_reload_RSV_09(signing_key, client,
                                                                fake_clock):
    # RSV-09: a kid not in the cache makes the key source reload, at most every
    # min(5, KEY_CACHE_SECONDS) seconds.
    # RSV-09
    assert client.get(WHOAMI, **bearer(read_token())).status_code == 200
    new = keys.create_key("ES256")  # as another process would: no cache here is cleared
    private_key = keys.decrypt_private_key(new.encrypted_private_key)
    token = jwt.encode(valid_claims(scope=READ), private_key, algorithm="ES256",
                       headers={"typ": "at+jwt", "kid": new.kid})
    fake_clock.advance(4)
    assert_invalid_token(client.get(WHOAMI, **bearer(token)))
    fake_clock.advance(1)
    assert client.get(WHOAMI, **bearer(token)).status_code == 200


@pytest.mark.parametrize("key_cache_seconds", [KEY_CACHE_SECONDS, 2])
def test_unknown_kid_flood_reloads_keys_at_most_once_per_interval_RSV_09(
        signing_key, client, settings, fake_clock, key_cache_seconds):
    """RSV-09: the kid is untrusted input; 20 requests with unknown kids cost at most one
    database reload per min(5, KEY_CACHE_SECONDS) seconds."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "KEY_CACHE_SECONDS": key_cache_seconds}
    interval = min(5, key_cache_seconds)
    assert client.get(WHOAMI, **bearer(read_token())).status_code == 200

    def flood(label: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            for n in range(20):
                token = forge(valid_claims(scope=READ), header={"kid": f"{label}-{n}"})
                assert_invalid_token(client.get(WHOAMI, **bearer(token)))
        return len(queries)

    assert flood("bogus") == 0
    fake_clock.advance(interval)
    assert flood("bogus-later") == 1
    fake_clock.advance(interval - 1)
    assert flood("bogus-again") == 0
