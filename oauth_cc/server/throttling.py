"""Throttling of failed client authentication (RFC 6749 §2.3.1, CAUTH-06).

Failures are counted in fixed windows of ``THROTTLE_WINDOW_SECONDS`` in the Django cache
``THROTTLE_CACHE`` (share it between processes and instances: Redis in production), per
client address (``network.client_address``: behind a trusted proxy, the real client) and per
(client_id, client address). A request whose address, or whose (client_id, address) pair,
is over its limit is answered 429 before its credentials are checked, so guessing stops; the
real client, calling from its own address, is not locked out by an attacker elsewhere.

When the cache cannot be reached, throttling is skipped (fail open) and a warning logged:
the secrets are 262-bit random values, so an outage of the throttle does not make guessing
feasible, while failing closed would refuse every client.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

from .. import caches, clock
from ..errors import TooManyRequests
from ..settings import oauth_cc_settings

logger = logging.getLogger("oauth_cc.throttling")


def _limits() -> tuple[int, int, float]:
    return (int(oauth_cc_settings.THROTTLE_FAILURES_PER_ADDRESS),
            int(oauth_cc_settings.THROTTLE_FAILURES_PER_CLIENT),
            float(oauth_cc_settings.THROTTLE_WINDOW_SECONDS))


def enabled() -> bool:
    per_address, per_client, window = _limits()
    return window > 0 and (per_address > 0 or per_client > 0)


def _key(*parts: object) -> str:
    # Hashed: an address or a presented client_id is never a cache-key problem (length,
    # spaces, control characters), nor readable in the cache.
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f"oauth_cc:throttle:{digest}"


def _keys(address: str, client_id: str | None, window: float
          ) -> tuple[int, str, str | None]:
    index = int(clock.timestamp() // window)
    by_address = _key("address", address, index)
    by_client = _key("client", client_id, address, index) if client_id else None
    return index, by_address, by_client


class Attempt:
    """One client authentication, as the throttle counts it.

    ``begin()`` reads both counters (one cache read). From an address with no failure in this
    window that is all: a failure is counted afterwards. From an address that has failed
    recently the attempt is counted *before* the credentials are checked (an atomic
    increment), and refused if that goes over a limit; a success gives the count back. So
    requests racing at the limit cannot all slip through: a guesser gets exactly the limit,
    however many requests it sends at once, past its first burst.
    """

    def __init__(self, address: str, client_id: str | None) -> None:
        per_address, per_client, window = _limits()
        self.index, by_address, by_client = _keys(address, client_id, window)
        self.address = address
        self.window = window
        self.limits = {by_address: per_address}
        if by_client is not None:
            self.limits[by_client] = per_client
        self.reserved = False

    def _over(self, counts: dict[str, Any]) -> bool:
        return any(0 < limit < counts.get(key, 0) or (0 < limit <= counts.get(key, 0)
                                                        and not self.reserved)
                   for key, limit in self.limits.items())

    def _refuse(self) -> TooManyRequests:
        retry_after = max(1, math.ceil((self.index + 1) * self.window - clock.timestamp()))
        logger.warning("throttled: too many failed client authentications from %s",
                       self.address)
        return TooManyRequests("Too many failed authentication attempts; retry later.",
                               headers={"Retry-After": str(retry_after)})

    def begin(self) -> None:
        """Raise ``TooManyRequests`` (429, ``Retry-After``) when over a limit."""
        keys = list(self.limits)
        try:
            counts: dict[str, Any] = caches.use(oauth_cc_settings.THROTTLE_CACHE,
                                                lambda cache: cache.get_many(keys))
            if self._over(counts):
                raise self._refuse()
            if any(counts.values()):
                counts = caches.use(oauth_cc_settings.THROTTLE_CACHE, self._increment)
                self.reserved = True
        except TooManyRequests:
            raise
        except Exception as exc:
            logger.warning("throttling skipped: cache unavailable (%s)", type(exc).__name__)
            return
        if self._over(counts):
            raise self._refuse()

    def _increment(self, cache: Any) -> dict[str, int]:
        timeout = math.ceil(self.window) + 1
        counts = {}
        for key in self.limits:
            try:
                counts[key] = cache.incr(key)  # one round trip when the key exists
            except ValueError:  # no failure yet in this window
                if cache.add(key, 1, timeout):
                    counts[key] = 1
                else:  # another process added it meanwhile
                    counts[key] = cache.incr(key)
        return counts

    def end(self, failed: bool) -> None:
        """Count a failure (unless already counted), or give back a success's count."""
        if failed == self.reserved:
            return
        try:
            if failed:
                caches.use(oauth_cc_settings.THROTTLE_CACHE, self._increment)
            else:
                caches.use(oauth_cc_settings.THROTTLE_CACHE, self._give_back)
        except Exception as exc:
            logger.warning("throttling skipped: cache unavailable (%s)", type(exc).__name__)

    def _give_back(self, cache: Any) -> None:
        for key in self.limits:
            try:
                cache.decr(key)
            except ValueError:
                pass  # the window is over


def attempt(address: str, client_id: str | None) -> Attempt | None:
    """Begin counting one client authentication; None when throttling is off."""
    if not enabled():
        return None
    counted = Attempt(address, client_id)
    counted.begin()
    return counted
