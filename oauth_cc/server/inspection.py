"""What the authorization server knows about a token it issued (RFC 7662, RFC 7009).

``identify(raw)`` recognises a token this server issued, opaque or JWT (signature checked
with this server's own published keys, ``iss`` equal to ``ISSUER``, any audience), whatever
its state; it returns None for anything else: unknown, malformed, forged, or from another
issuer. ``TokenRecord.active`` applies expiry, ``nbf`` and revocation (INTRO-05).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.views.decorators.debug import sensitive_variables

from .. import clock, credentials
from ..errors import InvalidToken
from ..models import OpaqueToken, RevokedToken
from ..registry import token_type_of
from ..resource.key_sources import local_keys
from ..resource.verification import check_claims, decode, is_opaque
from ..settings import oauth_cc_settings
from . import revocation


@dataclass(frozen=True, slots=True)
class TokenRecord:
    claims: dict[str, Any]
    opaque: bool
    revoked: bool

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    def revocable(self, now: float | None = None) -> bool:
        """Not yet revoked and still accepted somewhere: resource servers allow
        ``CLOCK_LEEWAY`` past ``exp``, so a token stays revocable that long."""
        exp = self.claims.get("exp")
        return not self.revoked and isinstance(exp, int | float) and not clock.expired(exp, now)

    def revoke(self) -> None:
        """Revoke this token: the denylist until its expiry, and an opaque token's row."""
        if self.opaque:
            revocation.revoke_opaque(self.jti)
        else:
            expires_at = datetime.fromtimestamp(float(self.claims["exp"]), tz=UTC)
            revocation.revoke_jwt(self.jti, self.client_id, expires_at)

    def active(self, now: float | None = None) -> bool:
        now = clock.timestamp() if now is None else now
        exp, nbf = self.claims.get("exp"), self.claims.get("nbf")
        if self.revoked or not isinstance(exp, int | float) or now >= exp:
            return False
        return not (isinstance(nbf, int | float) and now < nbf - clock.leeway())


@sensitive_variables()
def identify(raw: str) -> TokenRecord | None:
    """The record of a token this server issued, or None (one or two indexed queries)."""
    if len(raw) > int(oauth_cc_settings.MAX_ACCESS_TOKEN_LENGTH):
        return None
    if is_opaque(raw):
        record = OpaqueToken.find(credentials.digest(raw))
        if record is None:
            return None
        return TokenRecord(record.claims(oauth_cc_settings.ISSUER), opaque=True,
                           revoked=record.revoked_at is not None)
    try:
        claims, _kid = decode(raw, source=local_keys, issuer=oauth_cc_settings.ISSUER,
                              audience=None)
        check_claims(claims)
    except InvalidToken:
        return None
    revoked = RevokedToken.objects.filter(jti=claims["jti"]).exists()
    return TokenRecord(claims, opaque=False, revoked=revoked)


def introspection_response(record: TokenRecord | None) -> dict[str, Any]:
    """RFC 7662 §2.2: ``{"active": false}`` and nothing else unless the token is active."""
    if record is None or not record.active():
        return {"active": False}
    claims = record.claims
    body: dict[str, Any] = {
        "active": True,
        "scope": claims.get("scope", ""),
        "client_id": claims["client_id"],
        "token_type": token_type_of(claims),
    }
    # cnf: the binding of a sender-constrained token (MTLS-04, DPOP-15), not checked here.
    for name in ("exp", "iat", "nbf", "sub", "aud", "iss", "jti", "cnf"):
        if name in claims:
            body[name] = claims[name]
    return body
