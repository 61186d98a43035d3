"""Where a resource server finds verification keys (RSV-05, RSV-09, JWKS-06).

- Local mode: the authorization server runs in this project; keys are its published
  ``SigningKey`` rows, read at most every ``KEY_CACHE_SECONDS``.
- Remote mode: the JWKS at ``JWKS_URI``, fetched with a timeout, never following a redirect,
  cached for ``REMOTE_JWKS_CACHE_SECONDS``.

In both, a ``kid`` that is not known triggers a reload, at most every ``min_refresh`` seconds,
so a flood of made-up ``kid``\\ s cannot hammer the database or the authorization server. A
failed reload keeps the keys already loaded. Local mode reads the keys through the
installed ``LocalStore`` (``stores``), so this module imports no model.

On an event loop (``KeySource.aget``, ``without_loading``) the keys in memory are read inline
and a load runs off the loop, in a thread, once per event loop however many requests wait
for it (``SingleFlight``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import threading
import urllib.request
import weakref
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings

from .. import caches, clock
from ..jose import VerificationKey, keys_from
from ..settings import oauth_cc_settings
from .stores import StoreUnavailable, local_store

logger = logging.getLogger("oauth_cc.validation")

MAX_JWKS_BYTES = 1_000_000


class KeySourceUnavailable(StoreUnavailable):
    """The keys cannot be loaded (database or JWKS endpoint unreachable or broken)."""


Loader = Callable[[dict[str, VerificationKey]], dict[str, VerificationKey]]
T = TypeVar("T")


class SingleFlight:
    """At most one load per key and event loop: a caller that finds a load of its key under
    way awaits that load's result (or exception) instead of starting another, so 200
    concurrent first-sight requests cost one load, not 200. A waiter that is cancelled
    leaves the load running for the others. Used only from coroutines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Hashable, asyncio.Task[Any]]] = (
            weakref.WeakKeyDictionary())

    async def run(self, key: Hashable, load: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:  # loops in other threads share the outer mapping
            flights = self._loops.get(loop)
            if flights is None:
                flights = self._loops[loop] = {}
        task = flights.get(key)
        if task is None:
            task = loop.create_task(load())
            flights[key] = task
            task.add_done_callback(functools.partial(_landed, flights, key))
        result: T = await asyncio.shield(task)
        return result

    def in_flight(self) -> int:
        """Loads under way on the running loop (for tests)."""
        flights = self._loops.get(asyncio.get_running_loop())
        return len(flights) if flights else 0


def _landed(flights: dict[Hashable, asyncio.Task[Any]], key: Hashable,
            task: asyncio.Task[Any]) -> None:
    if flights.get(key) is task:
        del flights[key]
    if not task.cancelled():
        task.exception()  # retrieved: no "never retrieved" warning when every waiter left


class Keys(Protocol):
    """What ``verification.decode`` reads keys from."""

    def get(self, kid: str) -> VerificationKey | None: ...

    def sole_key(self) -> VerificationKey | None: ...


class KeysNeeded(Exception):
    """Raised by ``KeySource.without_loading()`` where ``get`` would have loaded keys."""

    def __init__(self, kid: str) -> None:
        super().__init__(kid)
        self.kid = kid


class KeySource:
    """Keys by ``kid``, cached for ``ttl()`` seconds, reloaded early for an unknown ``kid``
    at most every ``min_refresh()`` seconds. Thread-safe; one load at a time."""

    def __init__(self, loader: Loader, ttl: Callable[[], float],
                 min_refresh: Callable[[], float], *, thread_sensitive: bool = True) -> None:
        self._loader = loader
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._lock = threading.Lock()
        #: For ``aget``: load in Django's thread for database work (True), or in any pool
        #: thread (False: the loader makes network calls only).
        self.thread_sensitive = thread_sensitive
        self._flights = SingleFlight()
        self.clear()

    def clear(self) -> None:
        self._keys: dict[str, VerificationKey] | None = None
        self._expires = 0.0
        self._last_attempt = float("-inf")
        self._failed = False

    def get(self, kid: str) -> VerificationKey | None:
        """The key named ``kid``, or None. Raises ``KeySourceUnavailable`` when no keys could
        ever be loaded."""
        now = clock.timestamp()
        keys = self._keys
        if keys is None or now >= self._expires:
            keys = self._reload(now, unknown_kid=False)
        found = keys.get(kid)
        if found is None and now - self._last_attempt >= self._min_refresh():
            found = self._reload(now, unknown_kid=True).get(kid)
        return found

    async def aget(self, kid: str) -> VerificationKey | None:
        """``get`` for a coroutine: the keys in memory are read inline; a load (the same
        ``_reload``, under the same lock, with the same failure rules) runs in a thread, one
        per event loop at a time (``SingleFlight``)."""
        now = clock.timestamp()
        keys = self._keys
        if keys is None or now >= self._expires:
            keys = await self._areload(now, unknown_kid=False)
        found = keys.get(kid)
        if found is None and now - self._last_attempt >= self._min_refresh():
            found = (await self._areload(now, unknown_kid=True)).get(kid)
        return found

    async def _areload(self, now: float, *, unknown_kid: bool) -> dict[str, VerificationKey]:
        reload = sync_to_async(self._reload, thread_sensitive=self.thread_sensitive)
        return await self._flights.run(unknown_kid, lambda: reload(now, unknown_kid=unknown_kid))

    def without_loading(self, *, strict: bool = True) -> Keys:
        """A view of the keys in memory for ``decode`` on an event loop: where ``get`` would
        load, it raises ``KeysNeeded`` instead (``strict``), or answers from memory."""
        return _InMemory(self, strict)

    def sole_key(self) -> VerificationKey | None:
        """The one key, when exactly one is loaded and still fresh; else None (no loading)."""
        keys = self._keys
        if keys is None or len(keys) != 1 or clock.timestamp() >= self._expires:
            return None
        return next(iter(keys.values()))

    def _reload(self, now: float, *, unknown_kid: bool) -> dict[str, VerificationKey]:
        with self._lock:
            recent = now - self._last_attempt < self._min_refresh()
            if self._keys is not None:
                # Another thread may have reloaded while this one waited for the lock.
                if (unknown_kid and recent) or (not unknown_kid and now < self._expires):
                    return self._keys
            elif self._failed and recent:
                raise KeySourceUnavailable("the last load failed; retrying later")
            self._last_attempt = now
            try:
                keys = self._loader(self._keys or {})
            except KeySourceUnavailable:
                self._failed = True
                if self._keys is None:
                    raise
                self._expires = now + self._min_refresh()  # keep the keys we have
                return self._keys
            self._keys, self._expires, self._failed = keys, now + self._ttl(), False
            return keys


class _InMemory:
    def __init__(self, source: KeySource, strict: bool) -> None:
        self._source = source
        self._strict = strict

    def sole_key(self) -> VerificationKey | None:
        return self._source.sole_key()

    def get(self, kid: str) -> VerificationKey | None:
        source = self._source
        now = clock.timestamp()
        keys = source._keys
        if keys is None or now >= source._expires:
            if self._strict:
                raise KeysNeeded(kid)
            return None if keys is None else keys.get(kid)
        found = keys.get(kid)
        if (found is None and self._strict
                and now - source._last_attempt >= source._min_refresh()):
            raise KeysNeeded(kid)
        return found


def load_local(previous: dict[str, VerificationKey]) -> dict[str, VerificationKey]:
    store = local_store()
    if store is None:
        logger.error("no JWKS_URI and oauth_cc is not in INSTALLED_APPS: set "
                     "OAUTH_CC['JWKS_URI'] to the authorization server's JWKS")
        raise KeySourceUnavailable("no local store")
    try:
        return keys_from(store.published_jwks(), previous)
    except Exception as exc:  # a database error must not become a 500 on an API call
        logger.error("cannot read the signing keys: %s", type(exc).__name__)
        raise KeySourceUnavailable(type(exc).__name__) from exc


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx becomes an error: no downgrade, no detour to another host


opener = urllib.request.build_opener(_NoRedirects)


def jwks_uri_allowed(uri: str) -> bool:
    """https, or http to a loopback host or while DEBUG is on; never another scheme."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if settings.DEBUG or parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def fetch_json(request: urllib.request.Request, *, timeout: float, max_bytes: int) -> Any:
    """The JSON document a remote URL answers with: no redirect followed, a timeout, a size
    cap. Raises on any failure (network, HTTP status, size, parsing)."""
    with opener.open(request, timeout=timeout) as response:
        body = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ValueError("response too large")
    return json.loads(body)


def load_remote(previous: dict[str, VerificationKey]) -> dict[str, VerificationKey]:
    uri = str(oauth_cc_settings.JWKS_URI)
    if not jwks_uri_allowed(uri):
        logger.error("OAUTH_CC['JWKS_URI'] must be an https URL")
        raise KeySourceUnavailable("JWKS_URI is not allowed")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        uri, headers={"Accept": "application/jwk-set+json, application/json"})
    try:
        document = fetch_json(request, timeout=float(oauth_cc_settings.REMOTE_JWKS_TIMEOUT),
                              max_bytes=MAX_JWKS_BYTES)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK Set")
        return keys_from(document["keys"], previous)
    except Exception as exc:  # network, HTTP, parsing: every failure is "unavailable"
        logger.warning("cannot fetch the JWKS from %s: %s", uri, type(exc).__name__)
        raise KeySourceUnavailable(type(exc).__name__) from None


def _local_ttl() -> float:
    return float(oauth_cc_settings.KEY_CACHE_SECONDS)


local_keys = KeySource(load_local, _local_ttl, lambda: min(5.0, _local_ttl()))
remote_keys = KeySource(
    load_remote,
    lambda: float(oauth_cc_settings.REMOTE_JWKS_CACHE_SECONDS),
    lambda: float(oauth_cc_settings.REMOTE_JWKS_MIN_REFRESH_SECONDS),
    thread_sensitive=False,  # an HTTP request, no database: any pool thread will do
)
caches.register("local_keys", local_keys)
caches.register("remote_keys", remote_keys)


def key_source() -> KeySource:
    return remote_keys if oauth_cc_settings.JWKS_URI else local_keys
