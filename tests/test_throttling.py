"""Throttling of failed client authentication (CAUTH-06) and the trusted proxy (GEN-01),
through HTTP.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.cache import cache

from tests.conftest import assert_error, post_token

GRANT = {"grant_type": "client_credentials"}
ATTACKER = "127.0.0.66"
REAL = "127.0.0.7"


@pytest.fixture
def limits(settings: Any, fake_clock: Any) -> None:
    """Small limits, and a clock that stands still: failures are counted in fixed windows,
    and one that ended mid-test would restart the count (a test failing one run in hundreds)."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "THROTTLE_FAILURES_PER_CLIENT": 3,
                         "THROTTLE_FAILURES_PER_ADDRESS": 5, "THROTTLE_WINDOW_SECONDS": 60}


def attempt(http: Any, client_id: str, secret: str, address: str, **extra: Any) -> Any:
    return post_token(http, GRANT, auth=(client_id, secret), REMOTE_ADDR=address, **extra)


def assert_throttled(response: Any) -> None:
    # CAUTH-06: 429, Retry-After, the RFC 6749 §5.2 error shape, no-store.
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "Too many failed authentication attempts; retry later."}


def test_guessing_one_client_is_stopped_at_the_limit_CAUTH_06(
        client, api_client, limits, caplog):
    # CAUTH-06: after 3 failures for (client_id, address) the next attempt is refused
    # before its secret is checked: even the right secret gets 429 from that address.
    c, secret = api_client
    for _ in range(3):
        assert_error(attempt(client, c.client_id, "wrong", ATTACKER), "invalid_client", 401)
    with caplog.at_level(logging.WARNING, logger="oauth_cc"):
        assert_throttled(attempt(client, c.client_id, secret, ATTACKER))
    assert "throttled" in caplog.text and secret not in caplog.text


def test_the_real_client_is_not_locked_out_from_its_own_address_CAUTH_06(
        client, api_client, limits):
    # CAUTH-06: an attacker hammering the client_id elsewhere does not lock it out.
    c, secret = api_client
    for _ in range(10):
        attempt(client, c.client_id, "wrong", ATTACKER)
    assert_throttled(attempt(client, c.client_id, "wrong", ATTACKER))
    for _ in range(3):
        assert attempt(client, c.client_id, secret, REAL).status_code == 200


def test_one_address_guessing_many_clients_is_stopped_CAUTH_06(
        client, make_client, signing_key, limits):
    # CAUTH-06: per address, whatever client_id it tries.
    made = [make_client() for _ in range(6)]
    for c, _secret in made[:5]:
        assert_error(attempt(client, c.client_id, "wrong", ATTACKER), "invalid_client", 401)
    c, secret = made[5]
    assert_throttled(attempt(client, c.client_id, secret, ATTACKER))
    assert attempt(client, c.client_id, secret, REAL).status_code == 200


def test_successes_are_not_counted_CAUTH_06(client, api_client, limits):
    c, secret = api_client
    for _ in range(10):
        assert attempt(client, c.client_id, secret, ATTACKER).status_code == 200


def test_the_window_ends_CAUTH_06(client, api_client, limits, fake_clock):
    # CAUTH-06: the counters belong to a window of THROTTLE_WINDOW_SECONDS.
    c, secret = api_client
    for _ in range(3):
        attempt(client, c.client_id, "wrong", ATTACKER)
    response = attempt(client, c.client_id, secret, ATTACKER)
    assert_throttled(response)
    fake_clock.advance(int(response["Retry-After"]))
    assert attempt(client, c.client_id, secret, ATTACKER).status_code == 200


def test_introspection_and_revocation_are_throttled_too_CAUTH_06_CAUTH_09(
        client, make_client, signing_key, limits):
    # CAUTH-06, CAUTH-09: the same client authentication, the same limits.
    inspector, secret = make_client(can_introspect=True)
    for url in ("/oauth/introspect", "/oauth/revoke"):
        for _ in range(3):
            post_token(client, {"token": "x"}, url=url, auth=(inspector.client_id, "wrong"),
                       REMOTE_ADDR=ATTACKER)
        assert_throttled(post_token(client, {"token": "x"}, url=url,
                                    auth=(inspector.client_id, secret), REMOTE_ADDR=ATTACKER))
        assert post_token(client, {"token": "x"}, url=url, auth=(inspector.client_id, secret),
                          REMOTE_ADDR=REAL).status_code == 200
        cache.clear()  # the second endpoint starts from zero


def test_behind_the_proxy_the_forwarded_address_is_counted_CAUTH_06(
        client, api_client, limits, settings):
    # CAUTH-06: behind a trusted proxy every request comes from the proxy's address; the
    # client address is the one it forwards, so one attacker does not lock out everyone.
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": ["127.0.0.1"]}
    c, secret = api_client
    via_proxy = {"HTTP_X_FORWARDED_FOR": ATTACKER, "HTTP_X_FORWARDED_PROTO": "https"}
    for _ in range(3):
        attempt(client, c.client_id, "wrong", "127.0.0.1", **via_proxy)
    assert_throttled(attempt(client, c.client_id, secret, "127.0.0.1", **via_proxy))
    real = {"HTTP_X_FORWARDED_FOR": REAL, "HTTP_X_FORWARDED_PROTO": "https"}
    assert attempt(client, c.client_id, secret, "127.0.0.1", **real).status_code == 200


def test_forwarded_headers_are_ignored_from_other_addresses_CAUTH_06_GEN_01(
        client, api_client, limits, settings):
    # CAUTH-06: a client cannot dodge its limit by sending its own X-Forwarded-For;
    # GEN-01: nor claim HTTPS with X-Forwarded-Proto.
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": ["127.0.0.1"]}
    c, secret = api_client
    for n in range(3):
        attempt(client, c.client_id, "wrong", ATTACKER, HTTP_X_FORWARDED_FOR=f"127.0.1.{n}")
    assert_throttled(attempt(client, c.client_id, secret, ATTACKER,
                             HTTP_X_FORWARDED_FOR="127.0.1.99"))
    plain = post_token(client, GRANT, auth=(c.client_id, secret), secure=False,
                       REMOTE_ADDR=REAL, HTTP_X_FORWARDED_PROTO="https")
    assert_error(plain, "invalid_request")
    assert plain.json()["error_description"] == "HTTPS is required."
    proxied = post_token(client, GRANT, auth=(c.client_id, secret), secure=False,
                         REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https",
                         HTTP_X_FORWARDED_FOR=REAL)
    assert proxied.status_code == 200


def test_throttling_fails_open_when_its_cache_is_down_CAUTH_06(
        client, api_client, limits, settings, caplog):
    # CAUTH-06 DEC: with the counters' cache unreachable, clients are still served (the
    # secrets are 262-bit random values) and the outage is logged.
    settings.CACHES = {**settings.CACHES, "down": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    settings.OAUTH_CC = {**settings.OAUTH_CC, "THROTTLE_CACHE": "down"}
    c, secret = api_client
    with caplog.at_level(logging.WARNING, logger="oauth_cc"):
        for _ in range(5):
            assert_error(attempt(client, c.client_id, "wrong", ATTACKER), "invalid_client", 401)
        assert attempt(client, c.client_id, secret, ATTACKER).status_code == 200
    assert "throttling skipped: cache unavailable" in caplog.text


def test_limits_of_zero_turn_throttling_off_CAUTH_06(client, api_client, settings):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "THROTTLE_FAILURES_PER_CLIENT": 0,
                         "THROTTLE_FAILURES_PER_ADDRESS": 0}
    c, secret = api_client
    for _ in range(20):
        attempt(client, c.client_id, "wrong", ATTACKER)
    assert attempt(client, c.client_id, secret, ATTACKER).status_code == 200


def test_a_proxy_on_a_unix_socket_is_trusted_as_unix_CAUTH_06_GEN_01(
        client, api_client, limits, settings):
    # CAUTH-06, GEN-01: nginx in front of gunicorn on a unix socket: REMOTE_ADDR is empty.
    # With "unix" trusted, the forwarded address and scheme are believed, so attackers and
    # the real client land in different buckets; without it, never.
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": ["unix"]}
    c, secret = api_client

    def via_socket(client_secret: str, address: str) -> Any:
        return post_token(client, GRANT, auth=(c.client_id, client_secret), secure=False,
                          REMOTE_ADDR="", HTTP_X_FORWARDED_FOR=address,
                          HTTP_X_FORWARDED_PROTO="https")

    for _ in range(3):
        assert_error(via_socket("wrong", ATTACKER), "invalid_client", 401)
    assert_throttled(via_socket(secret, ATTACKER))
    assert via_socket(secret, REAL).status_code == 200
    direct = post_token(client, GRANT, auth=(c.client_id, secret), secure=False,
                        REMOTE_ADDR=REAL, HTTP_X_FORWARDED_PROTO="https")
    assert_error(direct, "invalid_request")


def test_attempts_racing_at_the_limit_get_exactly_the_limit_CAUTH_06(
        client, api_client, limits):
    # CAUTH-06: once an address has failed, each attempt is counted before its credentials
    # are checked, so attempts in flight together cannot all pass at limit - 1 (the fleet's
    # load test sends them in parallel over HTTP; here they are begun before any ends).
    from oauth_cc.errors import TooManyRequests
    from oauth_cc.server import throttling

    c, secret = api_client
    for _ in range(2):
        assert_error(attempt(client, c.client_id, "wrong", ATTACKER), "invalid_client", 401)
    begun, refused = [], 0
    for _ in range(4):
        try:
            begun.append(throttling.attempt(ATTACKER, c.client_id))
        except TooManyRequests:
            refused += 1
    assert (len(begun), refused) == (1, 3)
    begun[0].end(failed=True)
    assert_throttled(attempt(client, c.client_id, secret, ATTACKER))
    # A success from an address with failures gives its count back.
    for _ in range(2):
        attempt(client, c.client_id, "wrong", REAL)
    for _ in range(5):
        assert attempt(client, c.client_id, secret, REAL).status_code == 200


def test_other_failures_are_not_counted_CAUTH_06(client, api_client, limits):
    # CAUTH-06: only invalid_client counts; an attempt counted in advance (from an address
    # that has failed) is given back when the request fails otherwise (here, a body
    # client_id that differs from the Basic one: invalid_request).
    c, secret = api_client
    attempt(client, c.client_id, "wrong", ATTACKER)
    for _ in range(5):
        mismatched = post_token(client, {**GRANT, "client_id": "someone-else"},
                                auth=(c.client_id, secret), REMOTE_ADDR=ATTACKER)
        assert_error(mismatched, "invalid_request")
    assert attempt(client, c.client_id, secret, ATTACKER).status_code == 200
