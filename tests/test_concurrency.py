"""Concurrency on a real database server: revocations, key rotations, secret generation and
opaque-token issuance, each from 8 to 16 threads that start together (``threading.Barrier``).

SQLite in memory cannot be shared between threads, so these tests run on PostgreSQL only:
``bash ci/postgres.sh .venv/bin/python -m pytest tests/test_concurrency.py``. Each test is
transactional, so what one thread writes is committed and seen by the others; every thread
closes its own database connection when it is done.

Where a race needs all threads past a check before any of them writes, a ``Rendezvous``
wrapped round a function of oauth_cc holds each thread there until all have arrived (or a few
seconds have passed: code that serialises its callers lets them through one by one).
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections
from django.test import Client as HttpClient

from oauth_cc.models import Client, ClientSecret, OpaqueToken, RevokedToken, SigningKey
from oauth_cc.server import inspection, keys, revocation
from tests.conftest import bearer, get_token, post_token, verify

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs a database server that threads can share (SQLite in memory cannot be "
               "shared): run under ci/postgres.sh",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 12
READ = "inventory:read"
GRANT = {"grant_type": "client_credentials"}
WHOAMI = "/api/whoami"
REVOKE_URL = "/oauth/revoke"
CLIENT_LIST = "/admin/oauth_cc/client/"
KEY_ROTATE = "/admin/oauth_cc/signingkey/rotate/"
SECRET_PATTERN = re.compile(r"occs_[A-Za-z0-9]{44}")


# --- helpers ------------------------------------------------------------------------------

@dataclass
class Outcome:
    results: list[Any]
    errors: list[BaseException | None]

    @property
    def raised(self) -> list[BaseException]:
        return [error for error in self.errors if error is not None]


def in_parallel(calls: Sequence[Callable[[], Any]], timeout: float = 120.0) -> Outcome:
    """Run each call in its own thread, all released together by a barrier; every thread
    closes its database connection at the end. Exceptions are collected, not raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:  # reported by the test
            errors[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call), name=f"concurrency-{i}")
               for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running after {timeout} s (deadlock?): {stuck}"
    return Outcome(results, errors)


class Rendezvous:
    """Hold each caller until ``parties`` callers have arrived, or ``timeout`` seconds have
    passed (then let everyone through: the code under test may rightly serialise them)."""

    def __init__(self, parties: int, timeout: float = 3.0) -> None:
        self._barrier = threading.Barrier(parties, timeout=timeout)

    def wait(self) -> None:
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            pass

    def after(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, then wait for the others."""
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            self.wait()
            return result
        return wrapper


def describe(errors: Sequence[BaseException]) -> list[str]:
    return [f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            for error in errors]


def revoke(http: HttpClient, token: str, owner: tuple[Any, str]) -> Any:
    c, secret = owner
    return post_token(http, {"token": token}, auth=(c.client_id, secret), url=REVOKE_URL)


def whoami(http: HttpClient, token: str) -> Any:
    return http.get(WHOAMI, **bearer(token))


@pytest.fixture
def jwt_client(make_client, signing_key):
    return make_client(scope=READ, default_scope=READ)


@pytest.fixture
def opaque_client(make_client, signing_key):
    return make_client(scope=READ, default_scope=READ, token_format="opaque")


@pytest.fixture
def superuser(db: Any) -> User:
    return User.objects.create_superuser("admin", "admin@example.test", "pw")


def logged_in(user: User) -> HttpClient:
    http = HttpClient()
    http.force_login(user)
    return http


# --- revocation ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jwt", "opaque"])
def test_parallel_revocations_of_one_token_REV_04_X_11(client, jwt_client, opaque_client,
                                                       monkeypatch, fmt):
    """REV-04: every request revoking the same token gets 200, whether it revoked it or found
    it revoked; X-11: exactly one revocation row, and the token is refused afterwards. All
    threads identify the token as live before any of them records the revocation."""
    owner = jwt_client if fmt == "jwt" else opaque_client
    token = get_token(client, *owner)
    assert whoami(client, token).status_code == 200
    meet = Rendezvous(THREADS)
    monkeypatch.setattr(inspection, "identify", meet.after(inspection.identify))

    outcome = in_parallel([lambda: revoke(HttpClient(), token, owner).status_code] * THREADS)

    assert outcome.raised == [], describe(outcome.raised)
    assert outcome.results == [200] * THREADS
    assert RevokedToken.objects.count() == 1
    (row,) = RevokedToken.objects.all()
    assert row.client_id == owner[0].client_id
    if fmt == "opaque":
        assert OpaqueToken.objects.get(jti=row.jti).revoked_at is not None
    assert whoami(client, token).status_code == 401


def test_parallel_revocations_of_different_tokens_REV_04_X_11(client, jwt_client,
                                                              opaque_client, monkeypatch):
    """REV-04, X-11: one thread per token, JWTs and opaque tokens mixed: all 200, one row per
    token, each refused afterwards, and no token revoked that was not asked for."""
    owners = [jwt_client, opaque_client] * (THREADS // 2)
    tokens = [get_token(client, *owner) for owner in owners]
    spare = get_token(client, *jwt_client)
    meet = Rendezvous(THREADS)
    monkeypatch.setattr(inspection, "identify", meet.after(inspection.identify))

    outcome = in_parallel([
        (lambda token=token, owner=owner: revoke(HttpClient(), token, owner).status_code)
        for token, owner in zip(tokens, owners, strict=True)
    ])

    assert outcome.raised == [], describe(outcome.raised)
    assert outcome.results == [200] * THREADS
    assert RevokedToken.objects.count() == THREADS
    assert RevokedToken.objects.values("jti").distinct().count() == THREADS
    assert OpaqueToken.objects.filter(revoked_at__isnull=False).count() == THREADS // 2
    for token in tokens:
        assert whoami(client, token).status_code == 401
    assert whoami(client, spare).status_code == 200


def test_revocation_in_a_transaction_reaches_the_next_request_X_11(client, jwt_client,
                                                                   monkeypatch):
    """X-11: once the revocation is committed, the next request refuses the token, also when
    the revocation endpoint runs in a transaction (``ATOMIC_REQUESTS``) and another request
    reads the revocation list while that transaction is still open."""
    token = get_token(client, *jwt_client)
    assert whoami(client, token).status_code == 200
    monkeypatch.setitem(connections.settings[DEFAULT_DB_ALIAS], "ATOMIC_REQUESTS", True)
    announced, looked = threading.Event(), threading.Event()
    announce = revocation.announce_revocation

    def announce_then_wait() -> None:
        announce()
        announced.set()
        looked.wait(10)

    monkeypatch.setattr(revocation, "announce_revocation", announce_then_wait)

    def revoker() -> int:
        return revoke(HttpClient(), token, jwt_client).status_code

    def reader() -> int:
        try:
            announced.wait(10)
            return whoami(HttpClient(), token).status_code  # before the commit: may pass
        finally:
            looked.set()

    outcome = in_parallel([revoker, reader])

    assert outcome.raised == [], describe(outcome.raised)
    assert outcome.results[0] == 200
    assert RevokedToken.objects.count() == 1
    assert whoami(client, token).status_code == 401


# --- key rotation -------------------------------------------------------------------------

def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("rotatekeys", *args, stdout=out)
    return out.getvalue()


ROTATIONS: list[Callable[[], Any]] = [
    lambda: keys.rotate(),
    lambda: keys.rotate(immediate=True),
    lambda: _command(),
    lambda: _command("--now"),
]


class ActiveKeyMonitor:
    """Counts the active keys, over and over, on its own connection, while threads rotate."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="active-key-monitor")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.counts.append(
                    SigningKey.objects.filter(state=SigningKey.State.ACTIVE).count())
                time.sleep(0.001)
        finally:
            connection.close()

    def __enter__(self) -> ActiveKeyMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture
def fast_keys(settings: Any, signing_key: SigningKey) -> SigningKey:
    """One active key and no pending one; new keys are ES256 (quick to generate)."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "SIGNING_ALGORITHM": "ES256"}
    return signing_key


def _rotate_in_parallel(monkeypatch: pytest.MonkeyPatch,
                        calls: Sequence[Callable[[], Any]]) -> tuple[Outcome, list[int]]:
    """Run rotations together, each held after creating its key until all have one."""
    meet = Rendezvous(len(calls))
    monkeypatch.setattr(keys, "create_key", meet.after(keys.create_key))
    with ActiveKeyMonitor() as monitor:
        outcome = in_parallel(calls)
    return outcome, monitor.counts


def _assert_one_usable_active_key(http: HttpClient, owner: tuple[Any, str]) -> None:
    assert SigningKey.objects.filter(state=SigningKey.State.ACTIVE).count() == 1
    kids = list(SigningKey.objects.values_list("kid", flat=True))
    assert len(kids) == len(set(kids))
    token = get_token(http, *owner)  # signed with the active key, published (JWKS-07)
    active = SigningKey.objects.get(state=SigningKey.State.ACTIVE)
    assert verify(http, token)["iss"]
    assert f'"{active.kid}"' in http.get("/oauth/jwks", secure=True).content.decode()


def test_parallel_rotations_never_leave_zero_or_two_active_keys_JWKS_07(
        client, fast_keys, jwt_client, monkeypatch):
    """JWKS-07: ``rotate()``, ``rotate(immediate=True)``, ``rotatekeys`` and ``rotatekeys
    --now`` from 12 threads at once. Whatever each call does, there is exactly one active key
    at every moment a monitor looks, and one usable, published key at the end. A call may
    lose the race at the database's ``oauth_cc_one_active_key`` constraint (an
    ``IntegrityError``, where rotations are not serialised), but never leave a bad state."""
    calls = [ROTATIONS[i % len(ROTATIONS)] for i in range(THREADS)]

    outcome, counts = _rotate_in_parallel(monkeypatch, calls)

    assert counts and set(counts) == {1}, sorted(set(counts))
    assert all(isinstance(error, IntegrityError | CommandError) for error in outcome.raised), (
        describe(outcome.raised))
    _assert_one_usable_active_key(client, jwt_client)


def test_parallel_rotations_all_complete_JWKS_07(client, fast_keys, jwt_client, monkeypatch):
    """JWKS-07: concurrent rotation steps (function and command, immediate or not) are taken
    one after the other: every call completes, none fails."""
    calls = [ROTATIONS[i % len(ROTATIONS)] for i in range(THREADS)]

    outcome, counts = _rotate_in_parallel(monkeypatch, calls)

    assert set(counts) == {1}
    assert outcome.raised == [], describe(outcome.raised)
    _assert_one_usable_active_key(client, jwt_client)


def test_parallel_rotation_steps_leave_at_most_one_pending_key_JWKS_07(
        client, fast_keys, jwt_client, monkeypatch):
    """JWKS-07: ``rotatekeys`` run twice at once from an active key and no pending one does
    two steps (publish a key, then activate it) or fails cleanly; it never publishes a
    pile of pending keys."""
    outcome, counts = _rotate_in_parallel(monkeypatch, [lambda: keys.rotate()] * 8)

    assert set(counts) == {1}
    assert outcome.raised == [], describe(outcome.raised)
    assert SigningKey.objects.filter(state=SigningKey.State.PENDING).count() <= 1
    _assert_one_usable_active_key(client, jwt_client)


def test_parallel_admin_rotations_never_answer_500_JWKS_07(client, fast_keys, jwt_client,
                                                           superuser, monkeypatch):
    """JWKS-07: operators pressing "rotate now" at once in the admin each get the redirect
    back to the key list (with a message), never a server error."""
    def press() -> int:
        http = logged_in(superuser)
        http.raise_request_exception = False
        return http.post(KEY_ROTATE, {"immediate": "on"}).status_code

    outcome, counts = _rotate_in_parallel(monkeypatch, [press] * 8)

    assert set(counts) == {1}
    assert outcome.raised == [], describe(outcome.raised)
    assert outcome.results == [302] * 8, outcome.results
    _assert_one_usable_active_key(client, jwt_client)


# --- client secrets -----------------------------------------------------------------------

def test_parallel_secret_generation_for_one_client_GEN_06_GEN_07(client, jwt_client,
                                                                 superuser):
    """GEN-06, GEN-07: ``Client.add_secret()`` from 8 threads and the admin's "generate a new
    secret" action from 4 more, all for the same client: every secret is distinct, stored
    once as its digest, and authenticates at the token endpoint."""
    c, first = jwt_client

    def add() -> list[str]:
        return [Client.objects.get(pk=c.pk).add_secret(label="thread")]

    def admin_action() -> list[str]:
        http = logged_in(superuser)
        redirect = http.post(CLIENT_LIST, {
            "action": "generate_secret", "_selected_action": [c.pk]})
        assert redirect.status_code == 303  # post/redirect/get: the secrets page is a GET
        response = http.get(redirect["Location"])
        assert response.status_code == 200
        return SECRET_PATTERN.findall(response.content.decode())

    outcome = in_parallel([add] * 8 + [admin_action] * 4)

    assert outcome.raised == [], describe(outcome.raised)
    new = [secret for found in outcome.results for secret in found]
    assert len(new) == 12
    everything = [first, *new]
    assert len(set(everything)) == len(everything)
    assert ClientSecret.objects.filter(client=c).count() == len(everything)
    assert ClientSecret.objects.values("digest").distinct().count() == len(everything)

    statuses = in_parallel([
        (lambda secret=secret: post_token(HttpClient(), GRANT,
                                          auth=(c.client_id, secret)).status_code)
        for secret in everything
    ])
    assert statuses.raised == [], describe(statuses.raised)
    assert statuses.results == [200] * len(everything)


# --- opaque tokens ------------------------------------------------------------------------

def test_parallel_opaque_token_issuance_GEN_06_GEN_07(client, opaque_client):
    """GEN-06, GEN-07: 16 token requests at once for an opaque-token client: all 200, all
    tokens distinct, one row (its digest) per token, and every token works at the API, also
    when all are presented at once."""
    c, secret = opaque_client
    count = 16

    def request_token() -> str:
        response = post_token(HttpClient(), GRANT, auth=(c.client_id, secret))
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    outcome = in_parallel([request_token] * count)

    assert outcome.raised == [], describe(outcome.raised)
    tokens = outcome.results
    assert len(set(tokens)) == count
    assert OpaqueToken.objects.filter(client=c).count() == count
    assert OpaqueToken.objects.values("jti").distinct().count() == count

    calls = in_parallel([
        (lambda token=token: whoami(HttpClient(), token).json()["client_id"])
        for token in tokens
    ])
    assert calls.raised == [], describe(calls.raised)
    assert calls.results == [c.client_id] * count
