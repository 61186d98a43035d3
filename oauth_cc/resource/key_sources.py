"""Where a resource server finds verification keys (RSV-05, RSV-09, JWKS-06).

- Local mode: the authorization server runs in this project; keys are its published
  ``SigningKey`` rows, read at most every ``KEY_CACHE_SECONDS``.
- Remote mode: the JWKS at ``JWKS_URI``, fetched with a timeout, never following a redirect,
  cached for ``REMOTE_JWKS_CACHE_SECONDS``.

In both, a ``kid`` that is not known triggers a reload, at most every ``min_refresh`` seconds,
so a flood of made-up ``kid``\\ s cannot hammer the database or the authorization server. A
failed reload keeps the keys already loaded. Local mode reads the keys through the
installed ``LocalStore`` (``stores``), so this module imports no model.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

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


class KeySource:
    """Keys by ``kid``, cached for ``ttl()`` seconds, reloaded early for an unknown ``kid``
    at most every ``min_refresh()`` seconds. Thread-safe; one load at a time."""

    def __init__(self, loader: Loader, ttl: Callable[[], float],
                 min_refresh: Callable[[], float]) -> None:
        self._loader = loader
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._lock = threading.Lock()
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
)
caches.register("local_keys", local_keys)
caches.register("remote_keys", remote_keys)


def key_source() -> KeySource:
    return remote_keys if oauth_cc_settings.JWKS_URI else local_keys
