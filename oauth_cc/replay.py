"""Single use of client assertions and DPoP proofs: a ``jti`` seen once is refused until the
JWT that carried it has expired (JWTCA-07, DPOP-08).

The record lives in the Django cache named ``REPLAY_CACHE``, added with ``cache.add()``,
which only one caller can win, so two processes (or instances) that share the cache refuse
the second use whichever of them sees it. Keys are digests: a ``jti`` is client input and
never reaches the cache verbatim. When the cache cannot be reached the check fails closed
(``ReplayCacheUnavailable``): the caller answers 503, never "not seen before".
"""

from __future__ import annotations

import hashlib
import logging
import math

from . import caches, clock
from .settings import oauth_cc_settings

logger = logging.getLogger("oauth_cc.replay")

#: Longest ``jti`` accepted (DPOP-08: oversized values are refused).
MAX_JTI_LENGTH = 256


class ReplayCacheUnavailable(Exception):
    """The replay cache could not be read or written."""


def _key(kind: str, scope: str, jti: str) -> str:
    material = "\x00".join((kind, scope, jti)).encode("utf-8", "surrogatepass")
    return "oauth_cc:jti:" + hashlib.sha256(material).hexdigest()


def first_use(kind: str, scope: str, jti: str, until: float) -> bool:
    """Record ``jti`` for ``kind`` (``"assertion"``, ``"dpop"``) within ``scope`` (a
    client_id, a target URI) until the timestamp ``until``; True when this is its first use.

    Raises ``ReplayCacheUnavailable`` when the cache fails.
    """
    timeout = max(1, math.ceil(until - clock.timestamp()) + int(oauth_cc_settings.CLOCK_LEEWAY))
    key = _key(kind, scope, jti)
    alias = str(oauth_cc_settings.REPLAY_CACHE)
    try:
        return bool(caches.use(alias, lambda cache: cache.add(key, 1, timeout)))
    except Exception as exc:
        logger.error("replay cache %r unavailable (%s)", alias, type(exc).__name__)
        raise ReplayCacheUnavailable(alias) from None
