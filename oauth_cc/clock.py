"""The one source of time for oauth_cc, so that tests can freeze it.

Every module asks ``clock.timestamp()`` or ``clock.now()``; a test replaces ``clock.source``
(``monkeypatch.setattr(clock, "source", lambda: 1_700_000_000.0)``) or uses ``frozen()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from .settings import oauth_cc_settings

source: Callable[[], float] = time.time


def timestamp() -> float:
    """Seconds since the epoch."""
    return source()


def now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.fromtimestamp(source(), tz=UTC)


@contextmanager
def frozen(at: float) -> Iterator[None]:
    """Freeze time at ``at`` (epoch seconds) inside the block."""
    global source
    previous = source
    source = lambda: at  # noqa: E731
    try:
        yield
    finally:
        source = previous


def leeway() -> float:
    """``CLOCK_LEEWAY``: the seconds of clock skew tolerated on token times."""
    return float(oauth_cc_settings.CLOCK_LEEWAY)


def expired(exp: float, now: float | None = None) -> bool:
    """Whether a token with this ``exp`` is past it, allowing for ``CLOCK_LEEWAY``: the one
    definition used by validation, introspection, revocation, the admin and
    ``purgetokens``. Resource servers accept a token until then, so its revocation must
    be kept as long."""
    return (timestamp() if now is None else now) >= exp + leeway()


def expiry_cutoff() -> datetime:
    """Rows whose ``expires_at`` is at or before this instant are ``expired()``."""
    return datetime.fromtimestamp(source() - leeway(), tz=UTC)
