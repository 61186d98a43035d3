"""Issuing access tokens: RFC 9068 JWTs (default) or opaque tokens.

``issue()`` builds the claims; a JWT is signed with the active key and writes nothing to the
database, an opaque token stores its SHA-256 digest with the claims. The ``token_type`` comes
from the registered token types: the first one that binds the request (its ``cnf`` goes into
the token), else Bearer. A client registered for certificate-bound tokens also has its TLS
certificate's ``x5t#S256`` in the ``cnf`` (RFC 8705 §3, ``mtls``), under either type.
Verification lives with the resource-server half (``oauth_cc.resource.verification``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from .. import clock, credentials
from ..errors import InvalidRequest, TemporarilyUnavailable
from ..jose import ACCESS_TOKEN_TYPE
from ..models import Client, OpaqueToken, TokenFormat
from ..registry import DEFAULT_TOKEN_TYPE, token_types
from ..scopes import canonical
from ..settings import oauth_cc_settings
from . import audiences, keys, mtls

logger = logging.getLogger("oauth_cc.tokens")

#: Claims an EXTRA_CLAIMS hook may not set or override.
REGISTERED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "cnf"}
)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    token_type: str
    expires_in: int
    scope: str
    claims: dict[str, Any]

    def __repr__(self) -> str:
        return f"IssuedToken(jti={self.claims.get('jti')!r}, scope={self.scope!r})"


def lifetime_for(client: Client, audience: str | list[str] | None = None) -> int:
    """Token lifetime in seconds: the client's (or the default), shortened by the audience's,
    never above MAX_ACCESS_TOKEN_LIFETIME (TOK-10)."""
    wanted = client.access_token_lifetime or int(oauth_cc_settings.ACCESS_TOKEN_LIFETIME)
    limits = [int(wanted), int(oauth_cc_settings.MAX_ACCESS_TOKEN_LIFETIME)]
    if audience is not None:
        cap = audiences.lifetime_cap(audience)
        if cap:
            limits.append(cap)
    return max(1, min(limits))


def token_format(client: Client) -> str:
    return client.token_format or oauth_cc_settings.ACCESS_TOKEN_FORMAT


def issue(request: HttpRequest, client: Client, scopes: frozenset[str],
          audience: str | list[str]) -> IssuedToken:
    """Issue an access token for ``client`` in its format (JWT or opaque), of the token type
    the request asks for."""
    token_type, confirmation = _token_type(request, client)
    if token_format(client) == TokenFormat.OPAQUE:
        return _issue_opaque(client, scopes, audience, token_type, confirmation)
    return _issue_jwt(client, scopes, audience, token_type, confirmation)


def _token_type(request: HttpRequest, client: Client) -> tuple[str, dict[str, Any] | None]:
    """The ``token_type`` and ``cnf`` of the token.

    The type is the first registered one that binds the request (DPoP: ``jkt``), else
    Bearer. The ``cnf`` is that type's binding together with the client certificate's
    ``x5t#S256`` when the client is registered for certificate-bound tokens: an RFC 8705
    token stays a Bearer token (§3), and a DPoP token can be bound to both (MTLS-04)."""
    name, confirmation = DEFAULT_TOKEN_TYPE, None
    for token_type in token_types:
        confirmation = token_type.bind(request, client)
        if confirmation is not None:
            name = str(token_type.name)
            break
    certificate = mtls.certificate_confirmation(request, client)
    if certificate is not None:
        confirmation = {**(confirmation or {}), **certificate}
    return name, confirmation


def _claims(client: Client, scopes: frozenset[str], audience: str | list[str],
            confirmation: dict[str, Any] | None) -> dict[str, Any]:
    issued_at = int(clock.timestamp())
    claims = {
        "iss": oauth_cc_settings.ISSUER,
        "sub": client.client_id,
        "aud": audience,
        "exp": issued_at + lifetime_for(client, audience),
        "iat": issued_at,
        "jti": secrets.token_urlsafe(16),
        "client_id": client.client_id,
        "scope": canonical(scopes),
    }
    if confirmation is not None:
        claims["cnf"] = confirmation
    return claims


@sensitive_variables("raw")
def _issue_opaque(client: Client, scopes: frozenset[str], audience: str | list[str],
                  token_type: str, confirmation: dict[str, Any] | None) -> IssuedToken:
    """A random token (256 bits, GEN-06); only its digest is stored (GEN-07)."""
    if confirmation is not None:
        # An opaque token's row has no place for a binding yet: never issue it unbound.
        raise InvalidRequest("This client's opaque tokens cannot be bound to a key.")
    claims = _claims(client, scopes, audience, None)
    raw = oauth_cc_settings.OPAQUE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    OpaqueToken.objects.create(
        digest=credentials.digest(raw),
        jti=claims["jti"],
        client=client,
        scope=claims["scope"],
        audience=audience if isinstance(audience, str) else " ".join(audience),
        issued_at=datetime.fromtimestamp(claims["iat"], tz=UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
    )
    return IssuedToken(raw, token_type, claims["exp"] - claims["iat"], claims["scope"], claims)


@sensitive_variables("access_token")
def _issue_jwt(client: Client, scopes: frozenset[str], audience: str | list[str],
               token_type: str, confirmation: dict[str, Any] | None) -> IssuedToken:
    """Sign an RFC 9068 access token (JWT-01..04, JWT-06)."""
    try:
        key = keys.active()
    except keys.KeyConfigurationError as exc:
        logger.error("cannot load the signing key: %s", exc)
        raise TemporarilyUnavailable("The server cannot issue tokens right now.") from None
    if key is None:
        logger.error("no active signing key: run 'manage.py rotatekeys'")
        raise TemporarilyUnavailable("The server cannot issue tokens right now.")
    claims = _claims(client, scopes, audience, confirmation)
    hook = oauth_cc_settings.EXTRA_CLAIMS
    if hook is not None:
        extra = hook(client, dict(claims)) or {}
        claims = {**{k: v for k, v in extra.items() if k not in REGISTERED_CLAIMS}, **claims}
    access_token = jwt.encode(
        claims,
        key.private_key,
        algorithm=key.algorithm,
        headers={"typ": ACCESS_TOKEN_TYPE, "kid": key.kid},
    )
    lifetime = claims["exp"] - claims["iat"]
    return IssuedToken(access_token, token_type, lifetime, claims["scope"], claims)
