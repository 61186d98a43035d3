"""Edge cases of resource protection found in review: methods, CSRF, misbehaving JWKS
servers, bound tokens, concurrency, error reports (BEARER, RSV)."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client as HttpClient

from oauth_cc import caches, jose
from oauth_cc.errors import InvalidToken
from oauth_cc.jose import parse_jwk
from oauth_cc.resource import verification
from oauth_cc.resource.key_sources import jwks_uri_allowed
from oauth_cc.server import keys
from tests.conftest import ISSUER, NO_TOKEN_CHALLENGE, bearer, forge, get_token, valid_claims

READ, WRITE = "inventory:read", "inventory:write"


@pytest.fixture
def token_for(client, make_client, signing_key):
    c, secret = make_client(scope=f"{READ} {WRITE} a b admin", default_scope=READ)
    return lambda scope: get_token(client, c, secret, scope=scope)


@pytest.fixture
def remote(settings, live_server):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "JWKS_URI": f"{live_server.url}/oauth/jwks"}
    caches.clear()
    yield settings
    caches.clear()


# --- methods a view does not declare ----------------------------------------------------------

@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_unhandled_method_without_token_is_401_BEARER_08(client, token_for, method):
    # BEARER-08: no credentials first, whatever the method.
    response = client.generic(method, "/api/items/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == NO_TOKEN_CHALLENGE


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_unhandled_method_with_token_is_405(client, token_for, method):
    response = client.generic(method, "/api/items/", **bearer(token_for(READ)))
    assert response.status_code == 405
    assert "Allow" in response  # GEN-09


def test_head_uses_the_get_requirement_RSV_07(client, token_for):
    # RSV-07
    assert client.head("/t/per-method", **bearer(token_for("a"))).status_code == 200
    assert client.head("/t/per-method", **bearer(token_for("b"))).status_code == 403
    assert client.head("/t/plain-class", **bearer(token_for("a"))).status_code == 200


def test_unmapped_options_is_refused_not_a_500(client, token_for):
    assert client.options("/t/per-method", **bearer(token_for("a b"))).status_code == 403
    response = client.options("/t/plain-class", **bearer(token_for("a b")))
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_plain_function_with_mapping_answers_405_for_other_methods_GEN_09(client, token_for):
    # GEN-09: every 405 carries Allow.
    assert client.get("/t/plain-per-method", **bearer(token_for("a"))).status_code == 200
    response = client.delete("/t/plain-per-method", **bearer(token_for("a b")))
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_plain_class_view_unhandled_method_is_405(client, token_for):
    assert client.put("/t/plain-class", **bearer(token_for("a b"))).status_code == 405


# --- CSRF: token-protected views never need a cookie token ------------------------------------

def test_plain_views_are_csrf_exempt_BEARER_05(token_for):
    # BEARER-05, BEARER-08: a POST is answered by the token check, not by CSRF.
    strict = HttpClient(enforce_csrf_checks=True)
    assert strict.post("/t/plain-class", **bearer(token_for("b"))).status_code == 200
    missing = strict.post("/t/plain-class")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == NO_TOKEN_CHALLENGE
    assert strict.post("/t/plain-per-method", **bearer(token_for("b"))).status_code == 200


def test_drf_views_with_csrf_checks(token_for):
    strict = HttpClient(enforce_csrf_checks=True)
    created = strict.post("/api/items/", {"name": "x", "quantity": 1},
                          **bearer(token_for(f"{READ} {WRITE}")))
    assert created.status_code == 201


# --- composition -------------------------------------------------------------------------------

def test_negated_scope_failure_is_not_reported(client, token_for):
    response = client.get("/t/not-scope-and-never", **bearer(token_for("a")))
    assert response.status_code == 403
    assert "insufficient_scope" not in response.get("WWW-Authenticate", "")


@pytest.mark.parametrize("spec", [["a", ["b"]], [{"a": 1}], 5, [None]])
def test_malformed_nested_declarations_are_configuration_errors(spec):
    from oauth_cc.rest_framework import HasScope

    with pytest.raises(ImproperlyConfigured):
        HasScope.require(spec)


# --- bound tokens (RSV-08) ----------------------------------------------------------------------

@pytest.mark.parametrize("cnf", [{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
                                 {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}])
def test_sender_constrained_token_as_bearer_is_refused_RSV_08(client, signing_key, cnf):
    # RSV-08, DPOP-17, MTLS-05: a bound token sent as plain Bearer is refused.
    token = forge(valid_claims(scope=READ, cnf=cnf))
    response = client.get("/api/whoami", **bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


# --- misbehaving JWKS servers (RSV-09) ---------------------------------------------------------

def _garbage_server(payload: bytes) -> tuple[str, threading.Event]:
    """A one-thread TCP server on 127.0.0.1 that answers every connection with ``payload``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(4096)
                    connection.sendall(payload)
                except OSError:
                    pass
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/jwks", stop


@pytest.mark.parametrize("payload", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n" + b"[" * 30000,
    b'HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\n{"keys": [{"kty": "RSA"}]}',
    b"HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n",
])
def test_broken_jwks_server_gives_401_never_500_RSV_09(client, settings, signing_key, payload):
    # RSV-09: whatever the JWKS server answers, an API call gets 401 invalid_token.
    url, stop = _garbage_server(payload)
    try:
        settings.OAUTH_CC = {**settings.OAUTH_CC, "JWKS_URI": url}
        caches.clear()
        response = client.get("/api/whoami", **bearer(forge(valid_claims(scope=READ))))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
    finally:
        stop.set()
        caches.clear()


def test_jwks_redirect_is_not_followed_RSV_09(client, remote, live_server, token_for):
    # RSV-09
    """A redirect, even to the real JWKS, is refused: no downgrade, no detour."""
    target = f"{live_server.url}/oauth/jwks".encode()
    url, stop = _garbage_server(
        b"HTTP/1.1 302 Found\r\nLocation: " + target + b"\r\nContent-Length: 0\r\n\r\n")
    try:
        token = token_for(READ)
        assert client.get("/api/whoami", **bearer(token)).status_code == 200  # direct: fine
        remote.OAUTH_CC = {**remote.OAUTH_CC, "JWKS_URI": url}
        caches.clear()
        assert client.get("/api/whoami", **bearer(token)).status_code == 401
    finally:
        stop.set()


@pytest.mark.parametrize(("uri", "allowed"), [
    ("https://as.example/jwks", True), ("http://127.0.0.1:9/jwks", True),
    ("http://localhost/jwks", True), ("http://[::1]:8/jwks", True),
    ("http://as.example/jwks", False), ("http://10.0.0.1/jwks", False),
    ("file:///etc/passwd", False), ("ftp://as.example/jwks", False), ("https:///x", False),
])
def test_jwks_uri_policy(settings, uri, allowed):
    settings.DEBUG = False
    assert jwks_uri_allowed(uri) is allowed


def test_concurrent_cold_start_accepts_every_valid_token_RSV_09(remote, token_for):
    # RSV-09
    tokens = [token_for(READ) for _ in range(8)]
    caches.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(verification.verify, tokens))
    assert [t.scopes for t in results] == [frozenset({READ})] * 8


# --- keys in a JWKS ------------------------------------------------------------------------------

def test_jwk_without_alg_gets_its_one_algorithm_JWKS_05(db):
    # JWKS-05
    for algorithm in ("RS256", "ES256", "EdDSA"):
        jwk = jose.public_jwk(keys.generate_private_key(algorithm), algorithm)
        del jwk["alg"]
        assert parse_jwk(jwk, {}).algorithm == algorithm


def test_new_key_under_an_old_kid_replaces_it_JWKS_04(db):
    # JWKS-04
    first = jose.public_jwk(keys.generate_private_key("ES256"), "ES256")
    second = jose.public_jwk(keys.generate_private_key("ES256"), "ES256")
    first["kid"] = second["kid"] = "1"
    old = parse_jwk(first, {})
    assert parse_jwk(first, {"1": old}) is old  # unchanged: not parsed again
    assert parse_jwk(second, {"1": old}).key.public_numbers() != old.key.public_numbers()


# --- no token in error reports, no 500 from a library ------------------------------------------

def test_unexpected_library_error_is_401_and_logged_without_token_BEARER_10(
        client, token_for, monkeypatch, caplog):
    # BEARER-10, BCP-08: fault injected into PyJWT's decode.
    token = token_for(READ)
    caches.clear()

    def broken(*args, **kwargs):
        raise RuntimeError("library bug")

    monkeypatch.setattr(jwt, "decode", broken)
    response = client.get("/api/whoami", **bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert "RuntimeError" in caplog.text
    for segment in token.split("."):
        assert segment not in caplog.text


def test_claims_are_read_only_all_the_way_down(token_for):
    token = verification.verify(forge(valid_claims(scope=READ, extra={"nested": [1, {"k": 2}]})))
    with pytest.raises(TypeError):
        token.claims["extra"]["nested"][1]["k"] = 3
    assert token.issuer == ISSUER


def test_verify_raises_only_invalid_token_RSV_05(db):
    # RSV-05
    for raw in ("", "a.b", "é.é.é", "\udcff.x.y"):
        with pytest.raises(InvalidToken):
            verification.verify(raw)


# --- tokens refused for good are remembered; others are not (RSV-05, RSV-06, RSV-09) ---------

def test_bad_signature_is_remembered_and_answered_the_same_RSV_05(client, signing_key):
    # RSV-05
    token = forge(valid_claims(scope=READ))
    bad = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    first = client.get("/api/whoami", **bearer(bad))
    second = client.get("/api/whoami", **bearer(bad))
    assert first.status_code == second.status_code == 401
    assert first["WWW-Authenticate"] == second["WWW-Authenticate"]
    assert verification.rejected_tokens.get(
        __import__("hashlib").sha256(bad.encode()).digest(), __import__("time").time())


def test_not_yet_valid_token_is_accepted_once_valid_RSV_06(client, signing_key, fake_clock):
    # RSV-06: a token refused for its nbf is not remembered as bad.
    token = forge(valid_claims(scope=READ, nbf=int(fake_clock.now) + 120))
    assert client.get("/api/whoami", **bearer(token)).status_code == 401
    fake_clock.advance(121)
    assert client.get("/api/whoami", **bearer(token)).status_code == 200


def test_unknown_kid_is_accepted_once_published_RSV_09(client, signing_key, fake_clock):
    # RSV-09: "unknown key" is not a final answer; the key may be published next.
    fresh = keys.generate_private_key("ES256")
    kid = jose.public_jwk(fresh, "ES256")["kid"]
    token = jwt.encode(valid_claims(scope=READ), fresh, algorithm="ES256",
                       headers={"typ": "at+jwt", "kid": kid})
    assert client.get("/api/whoami", **bearer(token)).status_code == 401
    import json as _json

    from oauth_cc.models import SigningKey

    SigningKey.objects.create(
        kid=kid, algorithm="ES256", state=SigningKey.State.PENDING,
        encrypted_private_key=keys.encrypt_private_key(fresh),
        public_jwk_json=_json.dumps(jose.public_jwk(fresh, "ES256")))
    fake_clock.advance(6)  # past the local key source's minimum refresh interval
    assert client.get("/api/whoami", **bearer(token)).status_code == 200
