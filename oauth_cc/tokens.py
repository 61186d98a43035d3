"""Issuing RFC 9068 JWT access tokens.

``issue()`` builds the claims and signs them with the active key; it writes nothing to the
database. Verification lives with the resource-server half.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import jwt

from . import clock, keys
from .errors import TemporarilyUnavailable
from .models import Client
from .scopes import canonical
from .settings import oauth_cc_settings

logger = logging.getLogger("oauth_cc.tokens")

#: RFC 9068 §2.1 header type (JWT-02); lower case per X-09.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)

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


def lifetime_for(client: Client) -> int:
    """The client's token lifetime in seconds, capped by MAX_ACCESS_TOKEN_LIFETIME (TOK-10)."""
    wanted = client.access_token_lifetime or int(oauth_cc_settings.ACCESS_TOKEN_LIFETIME)
    return max(1, min(int(wanted), int(oauth_cc_settings.MAX_ACCESS_TOKEN_LIFETIME)))


def issue(client: Client, scopes: frozenset[str], audience: str | list[str]) -> IssuedToken:
    """Sign an access token for ``client`` (RFC 9068 §2; JWT-01..04, JWT-06)."""
    try:
        key = keys.active()
    except keys.KeyConfigurationError as exc:
        logger.error("cannot load the signing key: %s", exc)
        raise TemporarilyUnavailable("The server cannot issue tokens right now.") from None
    if key is None:
        logger.error("no active signing key: run 'manage.py rotatekeys'")
        raise TemporarilyUnavailable("The server cannot issue tokens right now.")
    issued_at = int(clock.timestamp())
    lifetime = lifetime_for(client)
    scope = canonical(scopes)
    claims: dict[str, Any] = {
        "iss": oauth_cc_settings.ISSUER,
        "sub": client.client_id,
        "aud": audience,
        "exp": issued_at + lifetime,
        "iat": issued_at,
        "jti": secrets.token_urlsafe(16),
        "client_id": client.client_id,
        "scope": scope,
    }
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
    return IssuedToken(access_token, "Bearer", lifetime, scope, claims)
