"""The in-process caches of oauth_cc, built from two helpers and cleared in one place.

Every cache a module keeps is registered here under a name, so that one call forgets it:

- ``clear()`` forgets everything this process remembers (settings reload, key rotation,
  tests, the benchmark);
- ``clear("verified_tokens")`` forgets one of them. The names are in ``names()``.

Nothing here is shared between processes: a cache that must be (the revocation version)
lives in Django's cache framework instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from django.conf import settings

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class Clearable(Protocol):
    def clear(self) -> None: ...


_registry: dict[str, Clearable] = {}
_lock = threading.Lock()

C = TypeVar("C", bound=Clearable)


def register(name: str, cache: C) -> C:
    """Register ``cache`` under ``name`` and return it (a name registered again is
    replaced: re-importing a module in a test must not leave the old cache behind)."""
    with _lock:
        _registry[name] = cache
    return cache


def clear(*names: str) -> None:
    """Forget the caches named, or every cache when no name is given."""
    with _lock:
        targets = [_registry[n] for n in names] if names else list(_registry.values())
    for cache in targets:
        cache.clear()


def names() -> list[str]:
    """The names of the registered caches."""
    return sorted(_registry)


class ExpiringLRU(Generic[K, V]):
    """A bounded, thread-safe LRU whose entries each end at their own time (``clock``
    seconds, passed in by the caller so that tests can move time)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, now: float) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if now >= found[1]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V, until: float, size: int) -> None:
        with self._lock:
            self._entries[key] = (value, until)
            self._entries.move_to_end(key)
            while len(self._entries) > size:
                self._entries.popitem(last=False)

    def peek(self, key: K) -> V | None:
        """The value held for ``key``, expired or not, without touching its place."""
        found = self._entries.get(key)
        return found[0] if found is not None else None

    def keys(self) -> list[K]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class TimedValue(Generic[V]):
    """One value, rebuilt by ``load(previous)`` once ``ttl()`` seconds have passed."""

    def __init__(self, load: Callable[[V | None], V], ttl: Callable[[], float]) -> None:
        self._load = load
        self._ttl = ttl
        self._entry: tuple[V, float] | None = None

    def get(self, now: float) -> V:
        entry = self._entry
        if entry is not None and now < entry[1]:
            return entry[0]
        value = self._load(entry[0] if entry is not None else None)
        self._entry = (value, now + self._ttl())
        return value

    def put(self, value: V, until: float) -> None:
        """Hold ``value`` until ``until`` (``clock`` seconds) instead of loading one."""
        self._entry = (value, until)

    def clear(self) -> None:
        self._entry = None


#: Django cache backends whose data each process keeps for itself.
PER_PROCESS_BACKENDS = frozenset({"django.core.cache.backends.locmem.LocMemCache",
                                  "django.core.cache.backends.dummy.DummyCache"})


def per_process(alias: str) -> bool:
    """Whether the Django cache ``alias`` is private to each process (Django's default)."""
    configured = getattr(settings, "CACHES", None) or {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    backend = configured.get(alias, {}).get("BACKEND", "")
    return backend in PER_PROCESS_BACKENDS


def use(alias: str, call: Callable[[Any], T]) -> T:
    """``call(the Django cache alias)``. For a database cache inside a transaction, in a
    savepoint: a failing cache query must not abort the request's transaction (PostgreSQL
    refuses every later statement of an aborted one), since the callers fail open or fall
    back to the database."""
    from django.core.cache import caches as django_caches
    from django.core.cache.backends.db import BaseDatabaseCache
    from django.db import connections, router, transaction

    cache = django_caches[alias]
    if isinstance(cache, BaseDatabaseCache):
        using = router.db_for_read(cache.cache_model_class)
        if connections[using].in_atomic_block:
            with transaction.atomic(using=using):
                return call(cache)
    return call(cache)
