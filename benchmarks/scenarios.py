"""Benchmark data and scenarios: what is requested, and how a real answer is recognised.

Every scenario is a request (method, path, headers, body) plus a check of the response. The
checks run before anything is timed: a token that verifies, a 200 with the expected JSON, a
401 with a challenge.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BODY = {"items": [{"id": 1, "name": "bolt"}]}
FORM = b"grant_type=client_credentials&scope=read"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    expect: int = 200
    check: Callable[[Response], None] | None = None
    before_call: Callable[[], None] | None = None  # harness switch (see notes in run.py)
    group: str = ""  # "oauth_cc", "DOT", "ceiling", "floor"
    kind: str = ""  # "token", "valid", "invalid", ...

    def environ(self) -> dict[str, Any]:
        env = {
            "REQUEST_METHOD": self.method, "PATH_INFO": self.path, "QUERY_STRING": "",
            "SERVER_NAME": "bench.test", "SERVER_PORT": "443", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(self.body), "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(self.body)), "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_PROTO": "https",
        }
        if self.body:
            env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        for name, value in self.headers.items():
            env["HTTP_" + name.upper().replace("-", "_")] = value
        return env


@dataclass
class ProofScenario(Scenario):
    """A scenario whose every request carries its own DPoP proof (RFC 9449: a proof is
    single-use), made when the request's environ is built: ahead of the timed loop, as a
    client makes its proofs on its own machine."""

    make_proof: Callable[[], str] | None = None

    def environ(self) -> dict[str, Any]:
        env = super().environ()
        if self.make_proof is not None:
            env["HTTP_DPOP"] = self.make_proof()
        return env


class DPoPClient:
    """A DPoP client's P-256 key and its proofs, made with PyJWT."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from jwt.algorithms import ECAlgorithm

        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)

    def proof(self, method: str, uri: str, access_token: str | None = None) -> str:
        import time

        import jwt

        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": uri,
                                  "iat": int(time.time())}
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return jwt.encode(claims, self.private_key, algorithm="ES256",
                          headers={"typ": "dpop+jwt", "jwk": self.jwk})


def call(app: Any, environ: dict[str, Any]) -> Response:
    """Call a WSGI application once; drain and close the response."""
    captured: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None
                       ) -> None:
        captured.append((status, headers))

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    status, headers = captured[0]
    return Response(int(status[:3]), dict(headers), body)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- data ---------------------------------------------------------------------------------

@dataclass
class Fixtures:
    occ_rs256: tuple[str, str] = ("", "")
    occ_es256: tuple[str, str] = ("", "")
    occ_opaque: tuple[str, str] = ("", "")
    dot_hashed: tuple[str, str] = ("", "")
    dot_plain: tuple[str, str] = ("", "")
    keys: dict[str, Any] = field(default_factory=dict)


def create_fixtures() -> Fixtures:
    from oauth2_provider.models import Application

    from oauth_cc.models import Client, Scope
    from oauth_cc.server import keys

    Scope.objects.get_or_create(name="read")
    found = Fixtures()
    for algorithm in ("ES256", "RS256"):  # RS256 (the default) ends up active
        keys.promote(keys.create_key(algorithm))
        found.keys[algorithm] = keys.active()
    for attribute, fmt in (("occ_rs256", ""), ("occ_es256", ""), ("occ_opaque", "opaque")):
        client = Client.objects.create(name=attribute, allowed_scopes="read",
                                       default_scopes="read", token_format=fmt)
        setattr(found, attribute, (client.client_id, client.add_secret()))
    for attribute, hashed in (("dot_hashed", True), ("dot_plain", False)):
        secret = secrets.token_urlsafe(32)
        app = Application.objects.create(
            name=attribute, client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret, hash_client_secret=hashed,
        )
        setattr(found, attribute, (app.client_id, secret))
    return found


def insert_rows(count: int, fixtures: Fixtures, batch: int = 20_000) -> None:
    """Grow the tables that grow: DOT's access tokens; our denylist and opaque tokens.

    Denylist rows are expired revocations awaiting ``purgetokens`` (the steady state of a
    denylist); opaque-token and DOT rows are live tokens.
    """
    from django.db import connection, transaction
    from oauth2_provider.models import AccessToken, Application

    from oauth_cc.models import Client, OpaqueToken, RevokedToken

    now = datetime.now(UTC)
    later = connection.ops.adapt_datetimefield_value(now + timedelta(hours=1))
    earlier = connection.ops.adapt_datetimefield_value(now - timedelta(hours=1))
    stamp = connection.ops.adapt_datetimefield_value(now)
    application_id = Application.objects.get(client_id=fixtures.dot_plain[0]).pk
    client_pk = Client.objects.get(client_id=fixtures.occ_opaque[0]).pk
    resource_field = AccessToken._meta.get_field("resource")
    resource_default = resource_field.get_db_prep_value(resource_field.get_default(), connection)
    q = connection.ops.quote_name
    tables = {
        AccessToken._meta.db_table: (
            ["token", "token_checksum", "application_id", "expires", "scope", "resource",
             "created", "updated"],
            lambda t: (t, hashlib.sha256(t.encode()).hexdigest(), application_id, later,
                       "read", resource_default, stamp, stamp)),
        RevokedToken._meta.db_table: (
            ["jti", "client_id", "expires_at", "revoked_at"],
            lambda t: (t, fixtures.occ_rs256[0], earlier, earlier)),
        OpaqueToken._meta.db_table: (
            ["digest", "jti", "client_id", "scope", "audience", "issued_at", "expires_at"],
            lambda t: (hashlib.sha256(t.encode()).hexdigest(), t[:40], client_pk, "read",
                       "https://api.bench.test", stamp, later)),
    }
    for table, (columns, row) in tables.items():
        sql = (f"INSERT INTO {q(table)} ({', '.join(q(c) for c in columns)}) "
               f"VALUES ({', '.join(['%s'] * len(columns))})")
        with transaction.atomic(), connection.cursor() as cursor:
            for start in range(0, count, batch):
                cursor.executemany(sql, [row(secrets.token_urlsafe(30))
                                         for _ in range(min(batch, count - start))])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
