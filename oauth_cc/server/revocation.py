"""Recording revocations (RFC 7009, X-11) and deleting what has expired.

Every revoked token, JWT or opaque, gets a ``RevokedToken`` row (its ``jti``) until the
token's ``exp``; an opaque token's own row also gets ``revoked_at``. Each revocation is then
announced through the shared revocation version that local-mode resource servers read
(``oauth_cc.resource.local``).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from .. import clock
from ..models import OpaqueToken, RevokedToken
from ..resource.local import announce_revocation


def _record(jti: str, client_id: str, expires_at: datetime) -> None:
    RevokedToken.objects.get_or_create(
        jti=jti, defaults={"client_id": client_id, "expires_at": expires_at,
                           "revoked_at": clock.now()},
    )
    # Now, and again once the row is committed: a request that reloaded the list in between
    # (the revocation ran in a transaction, e.g. ATOMIC_REQUESTS) holds it under the first
    # version, without this row. Outside a transaction on_commit runs at once.
    announce_revocation()
    transaction.on_commit(announce_revocation)


def revoke_jwt(jti: str, client_id: str, expires_at: datetime) -> None:
    """Record a revoked JWT until its expiry, then tell every resource server."""
    _record(jti, client_id, expires_at)


def revoke_opaque(jti: str) -> None:
    """Mark an opaque token revoked (its row and the shared set)."""
    row = OpaqueToken.objects.select_related("client").filter(jti=jti).first()
    if row is None:
        return
    if row.revoked_at is None:  # concurrent revocations keep the first one's time
        OpaqueToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(
            revoked_at=clock.now())
    _record(jti, row.client.client_id, row.expires_at)


def purge(before: datetime | None = None) -> tuple[int, int]:
    """Delete revocation rows and opaque tokens that have expired (``clock.expired()``, or
    ``expires_at`` at or before ``before``); returns the two counts."""
    if before is None:
        revoked, _ = RevokedToken.objects.expired().delete()
        opaque, _ = OpaqueToken.objects.expired().delete()
    else:
        revoked, _ = RevokedToken.objects.filter(expires_at__lte=before).delete()
        opaque, _ = OpaqueToken.objects.filter(expires_at__lte=before).delete()
    return revoked, opaque
