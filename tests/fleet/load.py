"""A small load generator for the fleet tests, bounded in time and in count.

``Load`` runs a few threads; each repeats one *step* (a few requests) until the load is
stopped, its deadline passes or it has made its share of requests. Each thread has its own
keep-alive HTTPS connections (``Connections``; optionally from another loopback source
address, so that nginx sees another client), and every answer is recorded as a ``Result``:
what was asked, where, the status (0: no HTTP answer at all) and whether it was expected.

``wrk`` measures throughput (``run_wrk``): a fixed number of connections for a fixed time,
statuses counted by a Lua script; secrets and tokens go to it through the environment, never
on its command line.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .conftest import FORM, TIMEOUT, Fleet, Response

#: Hard bounds of any load (the tests ask for less).
MAX_SECONDS = 30.0
MAX_REQUESTS_PER_THREAD = 5000
#: A keep-alive connection idle this long is reopened before use (nginx: keepalive_timeout
#: 10 s), so that a connection the server closed is never counted as a failure.
IDLE_REOPEN_SECONDS = 5.0


class Connections:
    """One thread's keep-alive connections, one per fleet port, from ``source`` (a loopback
    address; None: the system's choice, 127.0.0.1)."""

    def __init__(self, fleet: Fleet, source: str | None = None) -> None:
        self.fleet = fleet
        self.source = source
        self._open: dict[str, tuple[http.client.HTTPConnection, float]] = {}

    def _connection(self, where: str) -> http.client.HTTPConnection:
        found = self._open.get(where)
        if found is not None and time.monotonic() - found[1] < IDLE_REOPEN_SECONDS:
            return found[0]
        if found is not None:
            found[0].close()
        url = urlsplit(self.fleet.base(where))
        source = (self.source, 0) if self.source else None
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(url.hostname or "", url.port, timeout=TIMEOUT,
                                               context=self.fleet.context,
                                               source_address=source)
        else:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=TIMEOUT,
                                              source_address=source)
        self._open[where] = (conn, time.monotonic())
        return conn

    def request(self, where: str, method: str, path: str, *,
                headers: dict[str, str] | None = None,
                form: dict[str, str] | None = None) -> Response:
        """One request on the keep-alive connection to ``where``. No answer (the connection
        broke) is ``Response(0, {}, b"<the exception>")``; the connection is then reopened
        for the next request, never retried."""
        conn = self._connection(where)
        sent = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = FORM
        try:
            conn.request(method, path, body=body, headers=sent)
            answer = conn.getresponse()
            response = Response(answer.status, {k.lower(): v for k, v in answer.getheaders()},
                                answer.read())
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            conn.close()
            self._open.pop(where, None)
            return Response(0, {}, repr(exc).encode())
        self._open[where] = (conn, time.monotonic())
        return response

    def close(self) -> None:
        for conn, _ in self._open.values():
            conn.close()
        self._open.clear()


@dataclass(frozen=True)
class Result:
    kind: str        # what was asked, e.g. "token@shared"
    status: int      # 0: no HTTP answer
    expected: bool
    started: float   # time.monotonic()
    seconds: float
    detail: str      # for an unexpected answer: its first bytes

    def __str__(self) -> str:
        return f"{self.kind} -> {self.status} at +{self.started:.2f}: {self.detail}"


class Load:
    """Threads that repeat a step until ``stop()``, ``seconds`` or their request budget."""

    def __init__(self, fleet: Fleet, *, seconds: float,
                 max_requests_per_thread: int = MAX_REQUESTS_PER_THREAD) -> None:
        self.fleet = fleet
        self.seconds = min(seconds, MAX_SECONDS)
        self.budget = min(max_requests_per_thread, MAX_REQUESTS_PER_THREAD)
        self.results: list[Result] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._counts: Counter[str] = Counter()
        self.started = 0.0
        self.ended = 0.0

    # --- running ------------------------------------------------------------------------
    def thread(self, name: str, step: Callable[[Connections], None], *,
               source: str | None = None, pause: float = 0.0) -> None:
        """Add a thread that calls ``step(connections)`` until the load ends."""

        def run() -> None:
            connections = Connections(self.fleet, source)
            try:
                while self.running(name):
                    try:
                        step(connections)
                    except Exception as exc:  # a broken step is a failure, not a hang
                        self.record(f"{name}: exception", Response(-1, {}, repr(exc).encode()),
                                    started=time.monotonic(), expected=())
                        time.sleep(0.05)
                    if pause:
                        self._stop.wait(pause)
            finally:
                connections.close()

        self._threads.append(threading.Thread(target=run, name=f"load-{name}", daemon=True))

    def running(self, name: str | None = None) -> bool:
        if self._stop.is_set() or time.monotonic() - self.started > self.seconds:
            return False
        return name is None or self._counts[name] < self.budget

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT + 5)
        if not self.ended:
            self.ended = time.monotonic()
        stuck = [t.name for t in self._threads if t.is_alive()]
        assert not stuck, f"load threads did not stop: {stuck}"

    def sleep(self, seconds: float) -> None:
        """Let the load run for ``seconds`` (main thread)."""
        self._stop.wait(seconds)

    # --- results ------------------------------------------------------------------------
    def record(self, kind: str, response: Response, *, started: float,
               expected: Iterable[int] = (200,)) -> bool:
        ok = response.status in tuple(expected)
        result = Result(kind, response.status, ok, started - self.started,
                        time.monotonic() - started,
                        "" if ok else response.body[:160].decode(errors="replace"))
        name = threading.current_thread().name.removeprefix("load-")
        with self._lock:
            self.results.append(result)
            self._counts[name] += 1
        return ok

    def timed(self, connections: Connections, kind: str, where: str, method: str, path: str,
              *, expected: Iterable[int] = (200,), headers: dict[str, str] | None = None,
              form: dict[str, str] | None = None) -> Response:
        """One request, recorded as ``kind``."""
        started = time.monotonic()
        response = connections.request(where, method, path, headers=headers, form=form)
        self.record(kind, response, started=started, expected=expected)
        return response

    def failures(self) -> list[Result]:
        with self._lock:
            return [r for r in self.results if not r.expected]

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.results if kind is None or r.kind == kind)

    def by_kind(self) -> dict[str, Counter[int]]:
        table: dict[str, Counter[int]] = {}
        with self._lock:
            for result in self.results:
                table.setdefault(result.kind, Counter())[result.status] += 1
        return table

    def rate(self) -> float:
        return self.count() / max(1e-9, (self.ended or time.monotonic()) - self.started)

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {sum(c.values())}" + (
            "" if set(c) == {200} else " (" + " ".join(f"{s}:{n}" for s, n in sorted(c.items()))
            + ")") for kind, c in sorted(self.by_kind().items()))
        return (f"{self.count()} requests in {(self.ended or time.monotonic()) - self.started:.1f}"
                f" s ({self.rate():.0f}/s): {kinds}")


# --- wrk ---------------------------------------------------------------------------------------

WRK_SCRIPT = """\
-- Written by tests/fleet/load.py. The request comes from the environment (never the command
-- line): WRK_METHOD, WRK_BODY, WRK_AUTHORIZATION, WRK_CONTENT_TYPE. Statuses are counted per
-- thread; each thread stops after WRK_MAX_REQUESTS answers.
wrk.method = os.getenv("WRK_METHOD") or "GET"
if (os.getenv("WRK_BODY") or "") ~= "" then wrk.body = os.getenv("WRK_BODY") end
if (os.getenv("WRK_AUTHORIZATION") or "") ~= "" then
  wrk.headers["Authorization"] = os.getenv("WRK_AUTHORIZATION")
end
if (os.getenv("WRK_CONTENT_TYPE") or "") ~= "" then
  wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE")
end
local limit = tonumber(os.getenv("WRK_MAX_REQUESTS") or "0")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

statuses = {}
answers = 0

function response(status, headers, body)
  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
  answers = answers + 1
  if limit > 0 and answers >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do all[status] = (all[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(all) do table.insert(parts, string.format('"%s": %d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "status": %d}, "statuses": {%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, e.status,
    table.concat(parts, ", ")))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def run_wrk(url: str, folder: Path, *, seconds: int, connections: int, threads: int,
            max_requests: int, method: str = "GET", body: str = "",
            authorization: str = "", content_type: str = "") -> WrkResult:
    """``wrk`` against ``url`` for ``seconds`` with ``connections`` keep-alive connections
    over ``threads`` threads, each thread stopping after ``max_requests`` answers."""
    binary = wrk_binary()
    assert binary, "wrk is not installed"
    script = folder / "fleet.lua"
    script.write_text(WRK_SCRIPT)
    env = {**os.environ, "WRK_METHOD": method, "WRK_BODY": body,
           "WRK_AUTHORIZATION": authorization, "WRK_CONTENT_TYPE": content_type,
           "WRK_MAX_REQUESTS": str(max_requests)}
    done = subprocess.run(
        [binary, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
         "--timeout", "5s", "-s", str(script), url],
        env=env, capture_output=True, text=True, timeout=seconds + 30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next((line for line in done.stdout.splitlines() if line.startswith("WRK-RESULT ")),
                None)
    assert line, done.stdout + done.stderr
    data = json.loads(line.removeprefix("WRK-RESULT "))
    return WrkResult(
        requests=data["requests"], seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000, max_ms=data["max_us"] / 1000, errors=data["errors"],
        statuses={int(status): n for status, n in data["statuses"].items()})
