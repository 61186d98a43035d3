"""Shared fixtures: clients with their plaintext secrets, signing keys, token requests."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt
import pytest
from django.core.signals import request_started
from django.test import Client as HttpClient

from oauth_cc import caches, jose
from oauth_cc.models import Audience, Client, Scope, SigningKey
from oauth_cc.server import keys

TOKEN_URL = "/oauth/token"
JWKS_URL = "/oauth/jwks"
ISSUER = "https://as.example.test"
AUDIENCE = "https://api.example.test"
FORM = "application/x-www-form-urlencoded"


class FakeClock:
    """``oauth_cc.clock.source`` under the test's control."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """``oauth_cc.clock`` starting at the real time, moved only by the test."""
    import time

    from oauth_cc import clock

    fake = FakeClock(time.time())
    monkeypatch.setattr(clock, "source", fake)
    return fake


@functools.cache
def _private_key(algorithm: str) -> Any:
    """Key generation is slow (RSA); tests share one key per algorithm."""
    return keys.generate_private_key(algorithm)


def install_key(algorithm: str = "RS256", state: str = SigningKey.State.ACTIVE,
                fresh: bool = False) -> SigningKey:
    """Store a signing key in the given state (from the shared key unless ``fresh``)."""
    private_key = keys.generate_private_key(algorithm) if fresh else _private_key(algorithm)
    jwk = jose.public_jwk(private_key, algorithm)
    key = SigningKey.objects.create(
        kid=jwk["kid"], algorithm=algorithm, state=SigningKey.State.PENDING,
        encrypted_private_key=keys.encrypt_private_key(private_key),
        public_jwk_json=json.dumps(jwk),
    )
    if state == SigningKey.State.ACTIVE:
        keys.promote(key)
    return key


@pytest.fixture(autouse=True)
def _clear_key_cache() -> Any:
    """Every test starts with nothing remembered: our in-process caches and Django's cache
    (throttling counters, the revocation version)."""
    from django.core.cache import cache

    caches.clear()
    cache.clear()
    yield
    caches.clear()
    cache.clear()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """RSV-09: the server opens no connection while a test runs (a ``jku``, ``x5u`` or URL in
    a ``kid`` must not be fetched). Every attempt fails and is recorded; the test fails if
    there was one, even if the server swallowed the error."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert attempts == [], "the server tried to reach the network"


@pytest.fixture
def signing_key(db: Any) -> SigningKey:
    return install_key("RS256")


_client_numbers = itertools.count(1)


@pytest.fixture
def make_client(db: Any) -> Callable[..., tuple[Client, str]]:
    """Create a client; returns ``(client, plaintext_secret)``."""

    def make(
        scope: str = "read write",
        default_scope: str | None = "read",
        **fields: Any,
    ) -> tuple[Client, str]:
        for name in scope.split():
            Scope.objects.get_or_create(name=name)
        for identifier in fields.get("allowed_audiences", "").split():
            Audience.objects.get_or_create(identifier=identifier)
        # Client names are unique (ignoring case): number the default one.
        fields.setdefault("name", f"test client {next(_client_numbers)}")
        client = Client.objects.create(
            allowed_scopes=scope,
            default_scopes=scope if default_scope is None else default_scope,
            **fields,
        )
        return client, client.add_secret()

    return make


@pytest.fixture
def api_client(signing_key: SigningKey, make_client: Callable[..., tuple[Client, str]]
               ) -> tuple[Client, str]:
    """A client_secret_basic client with scopes ``read write`` (default ``read``)."""
    return make_client()


#: The challenge of a request without credentials (BEARER-08, DPOP-20): every registered
#: scheme, without error details.
NO_TOKEN_CHALLENGE = 'Bearer realm="api", DPoP realm="api", algs="ES256 RS256 PS256 EdDSA"'

#: The start of a DPoP-scheme challenge (RFC 9449 §7.1): the Bearer parameters follow.
DPOP_CHALLENGE = re.compile(r'DPoP realm="api", algs="[A-Za-z0-9]+(?: [A-Za-z0-9]+)*"')


def bearer_form(challenge: str) -> tuple[str, bool]:
    """A challenge in the Bearer form, and whether it was a DPoP one: an "Authorization: DPoP"
    value is refused in the DPoP scheme, with the same parameters after its ``algs``."""
    dpop = DPOP_CHALLENGE.match(challenge)
    if dpop is None:
        return challenge, False
    return 'Bearer realm="api"' + challenge[dpop.end():], True


def basic(client_id: str, secret: str) -> str:
    """An Authorization header value as RFC 6749 §2.3.1 says: form-encode, join, base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def post_token(
    http: HttpClient,
    body: str | dict[str, Any] | list[tuple[str, str]] | bytes = "",
    *,
    auth: tuple[str, str] | None = None,
    authorization: str | None = None,
    content_type: str = FORM,
    secure: bool = True,
    url: str = TOKEN_URL,
    **extra: Any,
) -> Any:
    """POST a token request with a form body and optional Basic credentials."""
    if isinstance(body, dict | list):
        body = urlencode(body)
    headers = dict(extra)
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = basic(*auth)
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization
    return http.generic("POST", url, body, content_type=content_type, secure=secure, **headers)


def jwks_keys(http: HttpClient) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_dict(http.get(JWKS_URL, secure=True).json())


def verify(http: HttpClient, access_token: str, audience: str = AUDIENCE) -> dict[str, Any]:
    """Verify an access token with PyJWT using only the served JWKS."""
    header = jwt.get_unverified_header(access_token)
    key = jwks_keys(http)[header["kid"]]
    return jwt.decode(
        access_token, key=key, algorithms=[key.algorithm_name], audience=audience,
        issuer=ISSUER, options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
    )


def get_token(http: HttpClient, client: Client, secret: str, scope: str | None = None) -> str:
    """An access token from the token endpoint."""
    body = {"grant_type": "client_credentials"}
    if scope is not None:
        body["scope"] = scope
    response = post_token(http, body, auth=(client.client_id, secret))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def valid_claims(**overrides: Any) -> dict[str, Any]:
    """Claims of a well-formed access token for the test resource server."""
    import secrets
    import time

    now = int(time.time())
    claims = {
        "iss": ISSUER, "sub": "forged-client", "aud": AUDIENCE, "exp": now + 600,
        "iat": now, "jti": secrets.token_urlsafe(8), "client_id": "forged-client",
        "scope": "read write",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def forge(claims: dict[str, Any] | None = None, *, algorithm: str = "RS256",
          header: dict[str, Any] | None = None, key: Any = None) -> str:
    """Sign ``claims`` with the shared test key of ``algorithm`` (the key ``install_key``
    stores), with ``typ: at+jwt`` and the key's kid unless ``header`` says otherwise."""
    private_key = key if key is not None else _private_key(algorithm)
    kid = jose.public_jwk(private_key, algorithm)["kid"] if key is None else "unknown-kid"
    headers = {"typ": "at+jwt", "kid": kid}
    headers.update(header or {})
    headers = {k: v for k, v in headers.items() if v is not None}
    return jwt.encode(claims if claims is not None else valid_claims(), private_key,
                      algorithm=algorithm, headers=headers)


def broken_signature(token: str) -> str:
    """The JWT with its signature's first character changed: always other signature bytes.
    (The last characters of a base64url signature carry padding bits, so overwriting them
    can leave the bytes, and the token, valid.)"""
    head, _, signature = token.rpartition(".")
    return f"{head}.{'B' if signature.startswith('A') else 'A'}{signature[1:]}"


def bearer(token: str) -> dict[str, str]:
    """Test-client keyword arguments for ``Authorization: Bearer <token>``."""
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


#: RFC 6749 §5.2 / RFC 6750 §3: characters allowed in error and error_description.
ERROR_TEXT = __import__("re").compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
BASIC_CHALLENGE_VALUE = 'Basic realm="oauth_cc", charset="UTF-8"'


def assert_error(response: Any, error: str, status: int = 400) -> dict[str, Any]:
    """An RFC 6749 §5.2 error: status, JSON, no-store, allowed characters, and the Basic
    challenge on a 401 (GEN-02, GEN-03, GEN-05, GEN-09)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    body = response.json()
    assert body["error"] == error
    assert set(body) <= {"error", "error_description", "error_uri"}
    for value in body.values():
        assert ERROR_TEXT.fullmatch(value)
    if status == 401:
        assert response["WWW-Authenticate"] == BASIC_CHALLENGE_VALUE
    return body


# --- remote mode against pytest-django's live server ---------------------------------------

@pytest.fixture
def live_paths() -> Iterator[list[str]]:
    """PATH_INFO of every request Django starts handling (live server and test client)."""
    seen: list[str] = []

    def record(sender: Any, environ: dict[str, Any], **kwargs: Any) -> None:
        seen.append(environ.get("PATH_INFO", ""))

    request_started.connect(record, weak=False, dispatch_uid="test_remote_mode.live_paths")
    yield seen
    request_started.disconnect(dispatch_uid="test_remote_mode.live_paths")


@pytest.fixture
def remote(live_server: Any, settings: Any, signing_key: SigningKey
           ) -> Callable[..., str]:
    """Switch to remote mode against the live AS; call again with overrides to change it."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    base = dict(settings.OAUTH_CC)
    jwks_uri = f"{live_server.url}{JWKS_URL}"

    def configure(**overrides: Any) -> str:
        settings.OAUTH_CC = {
            **base,
            "JWKS_URI": jwks_uri,
            "TRUSTED_ISSUER": ISSUER,
            "RESOURCE_AUDIENCE": AUDIENCE,
            "ACCESS_TOKEN_LIFETIME": 3600,
            **overrides,
        }
        return settings.OAUTH_CC["JWKS_URI"]

    configure()
    return configure
