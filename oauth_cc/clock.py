"""The one source of time for oauth_cc, so that tests can freeze it.

Every module asks ``clock.timestamp()`` or ``clock.now()``; a test replaces ``clock.source``
(``monkeypatch.setattr(clock, "source", lambda: 1_700_000_000.0)``) or uses ``frozen()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

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
