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


def check(address: str, client_id: str | None) -> None:
    """Raise ``TooManyRequests`` (429, ``Retry-After``) when ``address`` or
    (``client_id``, ``address``) has failed too often in this window."""
    if not enabled():
        return
    per_address, per_client, window = _limits()
    index, by_address, by_client = _keys(address, client_id, window)
    try:
        wanted = [k for k in (by_address, by_client) if k]
        counts: dict[str, Any] = caches.use(oauth_cc_settings.THROTTLE_CACHE,
                                            lambda cache: cache.get_many(wanted))
    except Exception as exc:
        logger.warning("throttling skipped: cache unavailable (%s)", type(exc).__name__)
        return
    over = (per_address > 0 and counts.get(by_address, 0) >= per_address) or (
        per_client > 0 and by_client is not None and counts.get(by_client, 0) >= per_client)
    if over:
        retry_after = max(1, math.ceil((index + 1) * window - clock.timestamp()))
        logger.warning("throttled: too many failed client authentications from %s", address)
        raise TooManyRequests("Too many failed authentication attempts; retry later.",
                              headers={"Retry-After": str(retry_after)})


def record_failure(address: str, client_id: str | None) -> None:
    """Count one failed client authentication from ``address`` (for ``client_id``)."""
    if not enabled():
        return
    _per_address, _per_client, window = _limits()
    _index, by_address, by_client = _keys(address, client_id, window)
    timeout = math.ceil(window) + 1

    def count(cache: Any) -> None:
        for key in (by_address, by_client):
            if key is not None:
                cache.add(key, 0, timeout)
                cache.incr(key)

    try:
        caches.use(oauth_cc_settings.THROTTLE_CACHE, count)
    except ValueError:
        pass  # the entry expired between add and incr: the window is over anyway
    except Exception as exc:
        logger.warning("throttling skipped: cache unavailable (%s)", type(exc).__name__)
