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

On an event loop (``DatabaseStore.arevocations``, ``Snapshot.arevoked``,
``DatabaseStore.aopaque_claims``) every query runs in Django's thread for the request
(``sync_to_async``), and a reload of the set runs once per event loop however many requests
wait for it. The version is read with the cache's async methods (``aget``, ``aadd``); the
file channel's ``stat()`` stays inline: a metadata call on a local file, answered from the
kernel's inode cache in about a microsecond, where a hop to a thread and back costs tens.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, router

from .. import caches
from ..models import OpaqueToken, RevokedToken, SigningKey
from ..settings import oauth_cc_settings
from .key_sources import SingleFlight
from .stores import StoreUnavailable, install_local_store

VERSION_KEY = "oauth_cc:revocation-version"
REVOCATION_SET_LIMIT = 100_000

logger = logging.getLogger("oauth_cc.revocation")


class CacheChannel:
    """The revocation version in a Django cache all processes share (Redis, Memcached, the
    database cache): one cache read per request."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def read(self) -> Any:
        return caches.use(self.alias, _read_version)

    async def aread(self) -> Any:
        """``read`` with the cache's async methods (a backend with native async support
        never blocks the loop; Django's own backends run the call in a thread)."""
        from django.core.cache import caches as django_caches

        cache = django_caches[self.alias]
        version = await cache.aget(VERSION_KEY)
        if version is None:  # a cold or cleared cache: start a version
            await cache.aadd(VERSION_KEY, secrets.token_hex(8), None)
            version = await cache.aget(VERSION_KEY) or ""
        return version

    def announce(self) -> None:
        caches.use(self.alias, lambda cache: cache.set(VERSION_KEY, secrets.token_hex(8), None))


class FileChannel:
    """The revocation version as a file's identity, for a per-process cache: every process
    on this machine sees a revocation on its next request, for one ``stat()``. A
    revocation replaces the file (write, then rename), which changes its inode."""

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> Any:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return "absent"
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    async def aread(self) -> Any:
        """``read``, inline: one ``stat()`` of a local file (see the module's docstring)."""
        return self.read()

    def announce(self) -> None:
        folder = os.path.dirname(self.path) or "."
        descriptor, temporary = tempfile.mkstemp(prefix=".oauth_cc-", dir=folder)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(8))
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def _read_version(cache: Any) -> Any:
    version = cache.get(VERSION_KEY)
    if version is None:  # a cold or cleared cache: start a version
        cache.add(VERSION_KEY, secrets.token_hex(8), None)
        version = cache.get(VERSION_KEY) or ""
    return version


def version_file() -> str:
    """Where the file channel lives: ``REVOCATION_VERSION_FILE``, or a file in the system's
    temporary folder named after the database that holds the revocations."""
    configured = oauth_cc_settings.REVOCATION_VERSION_FILE
    if configured:
        return str(configured)
    connection = connections[router.db_for_read(RevokedToken)]
    database = connection.settings_dict
    identity = "|".join(str(database.get(name) or "")
                        for name in ("ENGINE", "NAME", "HOST", "PORT"))
    name = str(database.get("NAME") or "")
    if connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name):
        identity += f"|{os.getpid()}"  # an in-memory database belongs to one process
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"oauth_cc-revocations-{digest}")


def _channel() -> CacheChannel | FileChannel:
    def build() -> CacheChannel | FileChannel:
        alias = oauth_cc_settings.REVOCATION_CACHE
        if caches.per_process(alias):
            return FileChannel(version_file())
        return CacheChannel(alias)

    return oauth_cc_settings.derived("revocation_channel", build)


def announce_revocation() -> None:
    """Tell every resource server reading the same channel that the list has changed. The
    revocation itself is already stored: a failure here is logged, and readers that cannot
    read the channel reload from the database on every request anyway."""
    _snapshot.clear()
    try:
        _channel().announce()
    except Exception as exc:
        logger.error("cannot announce a revocation (%s): other processes see it within "
                     "REVOCATION_RECHECK_SECONDS", type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    r"""The revoked, unexpired ``jti``\ s as of ``version`` (None: too many to keep)."""

    version: Any
    loaded_at: float
    jtis: frozenset[str] | None

    def revoked(self, jti: str) -> bool:
        if self.jtis is not None:
            return jti in self.jtis
        return RevokedToken.objects.filter(jti=jti).exists()

    async def arevoked(self, jti: str) -> bool:
        """``revoked`` for a coroutine: a set lookup inline, a query in a thread."""
        if self.jtis is not None:
            return jti in self.jtis
        return await sync_to_async(self.revoked, thread_sensitive=True)(jti)


class _SnapshotHolder:
    def __init__(self) -> None:
        self.current: Snapshot | None = None

    def clear(self) -> None:
        self.current = None


_snapshot = caches.register("revocations", _SnapshotHolder())
_reloads = SingleFlight()


class DatabaseStore:
    """``LocalStore`` over this project's tables. ``channel`` is where the revocation
    version is read (by default the one the settings choose)."""

    def __init__(self, channel: CacheChannel | FileChannel | None = None) -> None:
        self.channel = channel

    def published_jwks(self) -> list[dict[str, Any]]:
        return [key.public_jwk for key in SigningKey.objects.published().only(
            "kid", "public_jwk_json", "created_at")]

    def revocations(self, now: float) -> Snapshot:
        """The current revocation set: one cache read (or ``stat()``), plus one query when it
        changed.

        Failures: when the version cannot be read (the shared cache is down), the set is
        read from the database on every request: correct, at a query's cost. When the
        database cannot be read, the last set is kept (nothing can be revoked meanwhile);
        with none loaded yet, tokens cannot be verified (fail closed).
        """
        try:
            version = (self.channel or _channel()).read()
        except Exception as exc:
            _version_unreadable(exc)
            version = None
        known = _fresh(version, now)
        return known if known is not None else self._load_revocations(version, now)

    async def arevocations(self, now: float) -> Snapshot:
        """``revocations`` for a coroutine: the same answers, without blocking the loop."""
        try:
            version = await (self.channel or _channel()).aread()
        except Exception as exc:
            _version_unreadable(exc)
            version = None
        known = _fresh(version, now)
        if known is not None:
            return known
        load = sync_to_async(self._load_revocations, thread_sensitive=True)
        # One load per version read: a request that read a newer version (a revocation was
        # announced since) never joins a load that began before it, which could return the
        # set as it was before that revocation (REV-06).
        return await _reloads.run(("revocations", repr(version)), lambda: load(version, now))

    def _load_revocations(self, version: Any, now: float) -> Snapshot:
        known = _snapshot.current
        # Resource servers accept a token until exp + CLOCK_LEEWAY: keep its revocation as
        # long (``RevokedToken.objects.unexpired()``).
        try:
            jtis = list(RevokedToken.objects.unexpired()
                        .values_list("jti", flat=True)[:REVOCATION_SET_LIMIT + 1])
        except DatabaseError as exc:
            if known is not None:
                logger.warning("cannot read revocations (%s): using the last list",
                               type(exc).__name__)
                return known
            raise StoreUnavailable("revocations") from exc
        fresh = Snapshot(version, now,
                         frozenset(jtis) if len(jtis) <= REVOCATION_SET_LIMIT else None)
        _snapshot.current = fresh
        return fresh

    def opaque_claims(self, hex_digest: str) -> dict[str, Any] | None:
        try:
            record = OpaqueToken.find(hex_digest)
        except DatabaseError as exc:
            raise StoreUnavailable("opaque tokens") from exc
        if record is None or record.revoked_at is not None:
            return None
        return record.claims(oauth_cc_settings.ISSUER)

    async def aopaque_claims(self, hex_digest: str) -> dict[str, Any] | None:
        """``opaque_claims`` in a thread: one indexed query."""
        return await sync_to_async(self.opaque_claims, thread_sensitive=True)(hex_digest)


def _version_unreadable(exc: Exception) -> None:
    logger.warning("cannot read the revocation version (%s): reading the database",
                   type(exc).__name__)


def _fresh(version: Any, now: float) -> Snapshot | None:
    """The set in memory, when it is of ``version`` and younger than the recheck time."""
    known = _snapshot.current
    if known is not None and version is not None:
        recheck = float(oauth_cc_settings.REVOCATION_RECHECK_SECONDS)
        if known.version == version and now - known.loaded_at < recheck:
            return known
    return None


install_local_store(DatabaseStore())
# The system's temporary folder is found once per process, by writing probe files: do it
# now, at start-up, rather than on an event loop in the first async request.
tempfile.gettempdir()
