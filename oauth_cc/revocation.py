r"""The revocation state that resource servers in this project consult (RFC 7009, X-11).

Issuing stays stateless: only revocations are recorded. Every revoked token, JWT or opaque,
gets a ``RevokedToken`` row (its ``jti``) until the token's ``exp``; an opaque token's own row
also gets ``revoked_at``.

Each revocation changes a *version* kept in Django's cache (``REVOCATION_CACHE``). A resource
server reads that version once per request and keeps, in memory, the set of ``jti``\ s that
are revoked and not yet expired, loaded with one indexed query whenever the version changes,
the cache is cold or cleared, or ``REVOCATION_RECHECK_SECONDS`` have passed. So a request
costs one cache read and a set lookup, and a token seen for the first time needs no query.

With a cache shared by all processes (Redis, Memcached, the database cache) a revocation is
seen by the very next request everywhere; with a per-process cache (LocMemCache, Django's
default) other processes see it within ``REVOCATION_RECHECK_SECONDS``. Should more than
``REVOCATION_SET_LIMIT`` revoked tokens be live at once, the set is not kept and each check
is one indexed query instead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import caches

from . import clock
from .settings import oauth_cc_settings

VERSION_KEY = "oauth_cc:revocation-version"
REVOCATION_SET_LIMIT = 100_000


def _cache() -> Any:
    return caches[oauth_cc_settings.REVOCATION_CACHE]


def current_version() -> str:
    """The revocation version: one cache read (a cold cache gets a fresh version)."""
    cache = _cache()
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, secrets.token_hex(8), None)
        version = cache.get(VERSION_KEY) or ""
    return version


@dataclass(frozen=True, slots=True)
class Snapshot:
    r"""The revoked, unexpired ``jti``\ s as of ``version`` (None: too many to keep)."""

    version: str
    loaded_at: float
    jtis: frozenset[str] | None

    def revoked(self, jti: str) -> bool:
        if self.jtis is not None:
            return jti in self.jtis
        from .models import RevokedToken

        return RevokedToken.objects.filter(jti=jti).exists()


_snapshot: list[Snapshot] = []


def snapshot(now: float) -> Snapshot:
    """The current revocation set: one cache read, plus one query when it has changed."""
    version = current_version()
    if _snapshot:
        known = _snapshot[0]
        recheck = float(oauth_cc_settings.REVOCATION_RECHECK_SECONDS)
        if known.version == version and now - known.loaded_at < recheck:
            return known
    from .models import RevokedToken

    # Resource servers accept a token until exp + CLOCK_LEEWAY: keep its revocation as long.
    horizon = clock.now() - timedelta(seconds=float(oauth_cc_settings.CLOCK_LEEWAY))
    jtis = list(RevokedToken.objects.filter(expires_at__gt=horizon)
                .values_list("jti", flat=True)[:REVOCATION_SET_LIMIT + 1])
    fresh = Snapshot(version, now,
                     frozenset(jtis) if len(jtis) <= REVOCATION_SET_LIMIT else None)
    _snapshot[:] = [fresh]
    return fresh


def forget() -> None:
    """Drop this process's copy of the revocation set."""
    _snapshot.clear()


def _record(jti: str, client_id: str, expires_at: datetime) -> None:
    from .models import RevokedToken

    RevokedToken.objects.get_or_create(
        jti=jti, defaults={"client_id": client_id, "expires_at": expires_at,
                           "revoked_at": clock.now()},
    )
    forget()
    _cache().set(VERSION_KEY, secrets.token_hex(8), None)


def revoke_jwt(jti: str, client_id: str, expires_at: datetime) -> None:
    """Record a revoked JWT until its expiry, then tell every resource server."""
    _record(jti, client_id, expires_at)


def revoke_opaque(jti: str) -> None:
    """Mark an opaque token revoked (its row and the shared set)."""
    from .models import OpaqueToken

    row = OpaqueToken.objects.select_related("client").filter(jti=jti).first()
    if row is None:
        return
    if row.revoked_at is None:
        OpaqueToken.objects.filter(pk=row.pk).update(revoked_at=clock.now())
    _record(jti, row.client.client_id, row.expires_at)


def purge(before: datetime | None = None) -> tuple[int, int]:
    """Delete denylist rows and opaque tokens that have expired; returns the two counts."""
    from .models import OpaqueToken, RevokedToken

    before = before or clock.now() - timedelta(seconds=float(oauth_cc_settings.CLOCK_LEEWAY))
    revoked, _ = RevokedToken.objects.filter(expires_at__lte=before).delete()
    opaque, _ = OpaqueToken.objects.filter(expires_at__lte=before).delete()
    return revoked, opaque
