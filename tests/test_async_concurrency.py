"""Concurrency on one event loop (issue 12, item 5): 200 concurrent first-sight requests cause
one key load, not 200; the loop keeps running while a load waits; a failed load fails every
waiter closed, once; a waiter that gives up leaves the load to the others.

Counted at the loader (``DatabaseStore.published_jwks``, the JWKS endpoint) and at
``KeySource._reload`` (each call is one hop to a thread): single flight means one of each.
Checklist items: RSV-05 (keys by kid, cached), RSV-09 (fail closed), REV-06, JWKS-06.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from oauth_cc import caches
from oauth_cc.errors import InvalidToken
from oauth_cc.resource import key_sources, verification
from oauth_cc.resource.key_sources import KeySource, SingleFlight
from oauth_cc.resource.local import DatabaseStore
from tests.conftest import forge, valid_claims
from tests.test_async_views import asend, authorization, served  # noqa: F401

N = 200
WHOAMI = "/t/async/whoami"


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[int] = set()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, signing_key: Any) -> dict[str, Counter]:
    """Count (and slow down: 50 ms, so that every request arrives during the load) the key
    loads, the thread hops to ``_reload`` and the revocation-set loads."""
    counters = {"keys": Counter(), "reloads": Counter(), "revocations": Counter()}
    published = DatabaseStore.published_jwks
    reload = KeySource._reload
    load_revocations = DatabaseStore._load_revocations

    def slow_published(self: Any) -> Any:
        counters["keys"].calls += 1
        counters["keys"].threads.add(threading.get_ident())
        time.sleep(0.05)
        return published(self)

    def counted_reload(self: Any, *args: Any, **kwargs: Any) -> Any:
        counters["reloads"].calls += 1
        return reload(self, *args, **kwargs)

    def counted_revocations(self: Any, *args: Any, **kwargs: Any) -> Any:
        counters["revocations"].calls += 1
        return load_revocations(self, *args, **kwargs)

    monkeypatch.setattr(DatabaseStore, "published_jwks", slow_published)
    monkeypatch.setattr(KeySource, "_reload", counted_reload)
    monkeypatch.setattr(DatabaseStore, "_load_revocations", counted_revocations)
    caches.clear()
    return counters


def tokens(n: int = N) -> list[str]:
    """``n`` distinct valid tokens (each one a first sight)."""
    return [forge(valid_claims(scope="inventory:read")) for _ in range(n)]


def test_200_first_sight_verifications_load_the_keys_once_RSV_05(counted):
    # RSV-05: one key load, one thread hop, one revocation-set load for 200 tokens.
    raws = tokens()

    async def main() -> list[Any]:
        return await asyncio.gather(*(verification.averify(raw) for raw in raws))

    verified = async_to_sync(main)()
    assert len({token.jti for token in verified}) == N
    assert counted["keys"].calls == 1
    assert counted["reloads"].calls == 1
    assert counted["revocations"].calls == 1
    # The load ran in Django's thread for the test (thread_sensitive), not on the loop.
    assert counted["keys"].threads == {threading.get_ident()}


def test_200_concurrent_first_sight_requests_through_http_RSV_05(counted):
    raws = tokens()

    async def main() -> list[Any]:
        http = AsyncClient()
        return await asyncio.gather(*(asend("GET", WHOAMI, authorization(raw), http=http)
                                      for raw in raws))

    responses = async_to_sync(main)()
    assert [r.status_code for r in responses] == [200] * N
    assert counted["keys"].calls == 1
    assert counted["reloads"].calls == 1
    assert counted["revocations"].calls == 1


def test_the_loop_runs_while_the_keys_load(counted, monkeypatch):
    # Nothing blocks the loop: while the keys load (in a thread), a task on the loop runs.
    # The load waits for that task's signal (ten seconds at most); a load that held the
    # loop would wait in vain. No timing is assumed, so a busy machine can't fail this.
    raw = tokens(1)[0]
    loading, seen_by_the_loop = threading.Event(), threading.Event()
    published = DatabaseStore.published_jwks  # the counting one

    def waiting_published(self: Any) -> Any:
        loading.set()
        seen_by_the_loop.wait(timeout=10)
        return published(self)

    monkeypatch.setattr(DatabaseStore, "published_jwks", waiting_published)

    async def main() -> None:
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                if loading.is_set():
                    seen_by_the_loop.set()
                await asyncio.sleep(0.005)

        task = asyncio.ensure_future(ticker())
        await verification.averify(raw)
        done.set()
        await task

    async_to_sync(main)()
    assert seen_by_the_loop.is_set()
    assert counted["keys"].calls == 1


def test_a_failed_load_fails_every_waiter_closed_once_RSV_09(counted, monkeypatch):
    # RSV-09: the database is down: every request is 401 "cannot be verified right now",
    # after one attempt (the next is not before min_refresh), and nothing is cached.
    def broken(self: Any) -> Any:
        counted["keys"].calls += 1
        time.sleep(0.02)
        raise RuntimeError("database down")

    monkeypatch.setattr(DatabaseStore, "published_jwks", broken)
    raws = tokens(50)

    async def main() -> list[Any]:
        return await asyncio.gather(*(verification.averify(raw) for raw in raws),
                                    return_exceptions=True)

    results = async_to_sync(main)()
    assert all(isinstance(r, InvalidToken) for r in results)
    assert {r.description for r in results} == {"The token cannot be verified right now."}
    assert counted["keys"].calls == 1
    assert len(verification.verified_tokens) == 0
    assert len(verification.rejected_tokens) == 0


def test_a_cancelled_waiter_leaves_the_load_to_the_others(counted):
    raws = tokens(3)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(verification.averify(raws[0]))
        others = [asyncio.ensure_future(verification.averify(raw)) for raw in raws[1:]]
        await asyncio.sleep(0.01)
        first.cancel()
        return await asyncio.gather(*others)

    assert len(async_to_sync(main)()) == 2
    assert counted["keys"].calls == 1


def test_single_flight_shares_results_and_exceptions_per_key():
    flights = SingleFlight()
    calls: list[str] = []

    async def load(key: str) -> str:
        calls.append(key)
        await asyncio.sleep(0.01)
        if key == "bad":
            raise ValueError(key)
        return key.upper()

    async def main() -> list[Any]:
        jobs = [flights.run(key, lambda key=key: load(key))
                for key in ["a", "a", "b", "bad", "bad", "a"]]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        assert flights.in_flight() == 0
        again = await flights.run("a", lambda: load("a"))  # done: a new load
        return [*results, again]

    results = async_to_sync(main)()
    assert results[:3] == ["A", "A", "B"]
    assert all(isinstance(r, ValueError) for r in results[3:5])
    assert results[5:] == ["A", "A"]
    assert sorted(calls) == ["a", "a", "b", "bad"]


def test_unknown_kid_storm_reloads_once_per_min_refresh_RSV_05(counted, fake_clock):
    # 200 tokens naming kids that are not published: one early reload (JWKS-06's rate limit
    # applies on the loop as in a thread), then every one is 401. The clock stands still, so
    # min_refresh can't pass during the storm however slow the machine.
    caches.clear()
    raws = [forge(valid_claims(), header={"kid": f"made-up-{i}"}) for i in range(N)]

    async def main() -> list[Any]:
        return await asyncio.gather(*(verification.averify(raw) for raw in raws),
                                    return_exceptions=True)

    results = async_to_sync(main)()
    assert all(isinstance(r, InvalidToken) for r in results)
    assert counted["keys"].calls == 1  # loaded once (cold), no extra reload
    # After min_refresh (local keys: min(5 s, KEY_CACHE_SECONDS)), the next storm reloads once.
    fake_clock.advance(key_sources.local_keys._min_refresh() + 1)
    results = async_to_sync(main)()
    assert all(isinstance(r, InvalidToken) for r in results)
    assert counted["keys"].calls == 2


def test_200_concurrent_requests_in_remote_mode_fetch_the_jwks_once_RSV_05(
        remote, live_server, make_client, served):  # noqa: F811 (the fixture)
    # RSV-05, JWKS-06: one JWKS request for 200 first-sight tokens on one loop.
    from tests.test_remote_mode import issue

    c, secret = make_client(scope="inventory:read", default_scope="inventory:read")
    token = issue(live_server, c.client_id, secret)
    caches.clear()
    served.clear()
    raws = [token, *tokens(N - 1)]

    async def main() -> list[Any]:
        http = AsyncClient()
        return await asyncio.gather(*(asend("GET", WHOAMI, authorization(raw), http=http)
                                      for raw in raws))

    fetch = key_sources.fetch_json
    fetches: list[threading.Thread] = []

    def counted_fetch(*args: Any, **kwargs: Any) -> Any:
        fetches.append(threading.current_thread())
        return fetch(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(key_sources, "fetch_json", counted_fetch)
        responses = async_to_sync(main)()
    assert [r.status_code for r in responses] == [200] * N
    assert served.count("/oauth/jwks") == 1
    assert len(fetches) == 1
    assert fetches[0] is not threading.main_thread()  # a pool thread, never the loop's
