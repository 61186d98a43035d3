r"""The local adapter: local mode's one door into the authorization server's tables.

Imported by ``oauth_cc.apps`` when the app is installed, it installs a ``DatabaseStore``
(``stores``): the published ``SigningKey`` rows, the revocation list and opaque tokens. No
other module of the resource package imports a model.

Revocation state (RFC 7009, X-11): issuing stays stateless, only revocations are recorded,
as ``RevokedToken`` rows kept until the token's ``exp``. Each revocation changes a *version*
kept in Django's cache (``REVOCATION_CACHE``). A resource server reads that version once per
request and keeps, in memory, the set of ``jti``\ s that are revoked and not yet expired,
loaded with one indexed query whenever the version changes, the cache is cold or cleared, or
``REVOCATION_RECHECK_SECONDS`` have passed. So a request costs one cache read and a set
lookup, and a token seen for the first time needs no query.

With a cache shared by all processes (Redis, Memcached, the database cache) a revocation is
seen by the very next request everywhere; with a per-process cache (LocMemCache, Django's
default) other processes see it within ``REVOCATION_RECHECK_SECONDS``. Should more than
``REVOCATION_SET_LIMIT`` revoked tokens be live at once, the set is not kept and each check
is one indexed query instead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches as django_caches

from .. import caches
from ..models import OpaqueToken, RevokedToken, SigningKey
from ..settings import oauth_cc_settings
from .stores import install_local_store

VERSION_KEY = "oauth_cc:revocation-version"
REVOCATION_SET_LIMIT = 100_000


def _cache() -> Any:
    return django_caches[oauth_cc_settings.REVOCATION_CACHE]


def current_version() -> str:
    """The revocation version: one cache read (a cold cache gets a fresh version)."""
    cache = _cache()
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, secrets.token_hex(8), None)
        version = cache.get(VERSION_KEY) or ""
    return version


def announce_revocation() -> None:
    """Tell every resource server sharing ``REVOCATION_CACHE`` that the list has changed."""
    _snapshot.clear()
    _cache().set(VERSION_KEY, secrets.token_hex(8), None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    r"""The revoked, unexpired ``jti``\ s as of ``version`` (None: too many to keep)."""

    version: str
    loaded_at: float
    jtis: frozenset[str] | None

    def revoked(self, jti: str) -> bool:
        if self.jtis is not None:
            return jti in self.jtis
        return RevokedToken.objects.filter(jti=jti).exists()


class _SnapshotHolder:
    def __init__(self) -> None:
        self.current: Snapshot | None = None

    def clear(self) -> None:
        self.current = None


_snapshot = caches.register("revocations", _SnapshotHolder())


class DatabaseStore:
    """``LocalStore`` over this project's tables."""

    def published_jwks(self) -> list[dict[str, Any]]:
        return [key.public_jwk for key in SigningKey.objects.published().only(
            "kid", "public_jwk_json", "created_at")]

    def revocations(self, now: float) -> Snapshot:
        """The current revocation set: one cache read, plus one query when it changed."""
        version = current_version()
        known = _snapshot.current
        if known is not None:
            recheck = float(oauth_cc_settings.REVOCATION_RECHECK_SECONDS)
            if known.version == version and now - known.loaded_at < recheck:
                return known
        # Resource servers accept a token until exp + CLOCK_LEEWAY: keep its revocation as
        # long (``RevokedToken.objects.unexpired()``).
        jtis = list(RevokedToken.objects.unexpired()
                    .values_list("jti", flat=True)[:REVOCATION_SET_LIMIT + 1])
        fresh = Snapshot(version, now,
                         frozenset(jtis) if len(jtis) <= REVOCATION_SET_LIMIT else None)
        _snapshot.current = fresh
        return fresh

    def opaque_claims(self, hex_digest: str) -> dict[str, Any] | None:
        record = OpaqueToken.find(hex_digest)
        if record is None or record.revoked_at is not None:
            return None
        return record.claims(oauth_cc_settings.ISSUER)


install_local_store(DatabaseStore())
