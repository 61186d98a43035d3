"""Async views under ASGI (issue 12): an async view protected by ``scopes_required`` (token
seen before) next to the same view open, as a ratio; the DRF views under ASGI for context.

    .venv/bin/python benchmarks/asgi_bench.py [--quick] [--no-http]

**In-process**: Django's ASGI callable (``get_asgi_application()``) is called directly on one
event loop with a fresh scope per request; ``receive`` gives the empty body once, then waits
(Django listens for a disconnect while the view runs); ``send`` collects the messages, and
every status is checked. Scenarios are warmed up, then timed round-robin, 7 repeats; the
median µs per request is reported with the spread (max - min, share of the median).

**Over HTTP** (unless ``--no-http``): uvicorn (one process, its default event loop) on
127.0.0.1 serving ``bench_project.asgi`` with the same SQLite file, loaded by an httpx
``AsyncClient`` with a fixed number of concurrent connections for a fixed time per round,
round-robin across scenarios; req/s is the median over the rounds. The load generator shares
the machine with the server: read the figures as ratios within one run.

Results go to ``benchmarks/results/asgi-<time>.txt`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
RESULTS = HERE / "results"
HOST = b"bench.test"


class Scenario:
    def __init__(self, name: str, method: str, path: str, headers: dict[str, str] | None = None,
                 body: bytes = b"", expect: int = 200) -> None:
        self.name, self.method, self.path, self.body, self.expect = (
            name, method, path, body, expect)
        self.headers = headers or {}

    def scope(self) -> dict[str, Any]:
        headers = [(b"host", HOST)]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in self.headers.items()]
        if self.body:
            headers.append((b"content-length", str(len(self.body)).encode()))
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": self.method, "scheme": "https", "path": self.path,
                "raw_path": self.path.encode(), "query_string": b"", "root_path": "",
                "headers": headers, "client": ("127.0.0.1", 40000),
                "server": ("bench.test", 443)}


async def call(app: Any, scenario: Scenario) -> tuple[int, bytes]:
    """One request through the ASGI callable."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": scenario.body, "more_body": False}
        await asyncio.Event().wait()  # until Django cancels its disconnect listener
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scenario.scope(), receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def setup(database: Path) -> tuple[Any, dict[str, Any]]:
    from run import setup_django

    setup_django(database)
    from django.core.asgi import get_asgi_application
    from scenarios import basic, create_fixtures

    app = get_asgi_application()
    fixtures = create_fixtures()
    token_request = Scenario("token", "POST", "/occ/token",
                             {"Authorization": basic(*fixtures.occ_rs256),
                              "Content-Type": "application/x-www-form-urlencoded"},
                             b"grant_type=client_credentials&scope=read")
    status, body = asyncio.run(call(app, token_request))
    assert status == 200, body
    token = json.loads(body)["access_token"]
    return app, {"token": token}


def scenarios(token: str) -> list[Scenario]:
    bearer = {"Authorization": f"Bearer {token}"}
    return [
        Scenario("async view, bare", "GET", "/async/bare"),
        Scenario("async view, protected (token seen before)", "GET", "/async/protected",
                 bearer),
        Scenario("async view, no token (401)", "GET", "/async/protected", expect=401),
        Scenario("Ninja async operation, bare", "GET", "/ninja/async/bare"),
        Scenario("Ninja async operation, protected", "GET", "/ninja/async/protected", bearer),
        Scenario("Ninja sync operation, bare", "GET", "/ninja/sync/bare"),
        Scenario("Ninja sync operation, protected", "GET", "/ninja/sync/protected", bearer),
        Scenario("DRF view under ASGI, bare", "GET", "/bare"),
        Scenario("DRF view under ASGI, protected", "GET", "/occ/protected", bearer),
    ]


async def measure(app: Any, chosen: list[Scenario], batch: int, repeats: int
                  ) -> dict[str, dict[str, float]]:
    for scenario in chosen:  # warm up and check
        for _ in range(50):
            status, body = await call(app, scenario)
            assert status == scenario.expect, (scenario.name, status, body[:200])
    samples: dict[str, list[float]] = {s.name: [] for s in chosen}
    for _ in range(repeats):
        for scenario in chosen:
            start = time.perf_counter()
            for _ in range(batch):
                status, _body = await call(app, scenario)
                if status != scenario.expect:
                    raise AssertionError((scenario.name, status))
            samples[scenario.name].append((time.perf_counter() - start) / batch * 1e6)
    return {name: {"median_us": statistics.median(values),
                   "spread": (max(values) - min(values)) / statistics.median(values)}
            for name, values in samples.items()}


# --- over HTTP ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _load(url: str, scenario: Scenario, seconds: float, connections: int
                ) -> tuple[int, int]:
    import httpx

    headers = {**scenario.headers, "Host": HOST.decode(), "X-Forwarded-Proto": "https"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    done = bad = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        async def worker() -> None:
            nonlocal done, bad
            while time.perf_counter() < deadline:
                response = await http.request(scenario.method, scenario.path, headers=headers)
                done += 1
                bad += response.status_code != scenario.expect

        await asyncio.gather(*(worker() for _ in range(connections)))
    return done, bad


def over_http(database: Path, chosen: list[Scenario], rounds: int, seconds: float,
              connections: int) -> dict[str, dict[str, float]]:
    port = _free_port()
    env = {**os.environ, "BENCH_DATABASE": str(database),
           "DJANGO_SETTINGS_MODULE": "bench_project.settings",
           "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_project.asgi:application", "--host",
         "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log",
         "--log-level", "warning", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"],
        env=env, cwd=HERE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.1)
        for scenario in chosen:  # warm up and check
            _, bad = asyncio.run(_load(url, scenario, 0.5, connections))
            assert bad == 0, scenario.name
        rates: dict[str, list[float]] = {s.name: [] for s in chosen}
        invalid: dict[str, int] = {s.name: 0 for s in chosen}
        for _ in range(rounds):
            for scenario in chosen:
                done, bad = asyncio.run(_load(url, scenario, seconds, connections))
                rates[scenario.name].append(done / seconds)
                invalid[scenario.name] += bad
        return {name: {"req_per_s": statistics.median(values), "unexpected": invalid[name]}
                for name, values in rates.items()}
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    options = parser.parse_args()
    batch, repeats = (300, 5) if options.quick else (2000, 7)
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        app, facts = setup(database)
        chosen = scenarios(facts["token"])
        in_process = asyncio.run(measure(app, chosen, batch, repeats))
        http = ({} if options.no_http else over_http(
            database, chosen[:2] + chosen[3:5], rounds=3 if options.quick else 5,
            seconds=1.0 if options.quick else 3.0, connections=16))
    bare = in_process["async view, bare"]["median_us"]
    protected = in_process["async view, protected (token seen before)"]["median_us"]
    lines = [f"ASGI benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}, Python "
             f"{platform.python_version()}, {os.cpu_count()} CPUs", "",
             "In-process (Django's ASGI callable, one event loop):",
             f"{'scenario':48} {'µs/request':>11} {'spread':>8} {'÷ bare':>7}"]
    for name, row in in_process.items():
        lines.append(f"{name:48} {row['median_us']:11.1f} {row['spread']:8.1%} "
                     f"{row['median_us'] / bare:7.3f}")
    lines += ["", f"protected async view ÷ bare async view: {protected / bare:.3f} "
              f"(goal ≤ 1.2; {protected - bare:.1f} µs per request)"]
    for kind in ("async", "sync"):
        open_us = in_process[f"Ninja {kind} operation, bare"]["median_us"]
        guarded = in_process[f"Ninja {kind} operation, protected"]["median_us"]
        lines.append(f"protected Ninja {kind} operation ÷ bare: {guarded / open_us:.3f} "
                     f"({guarded - open_us:.1f} µs per request)")
    if http:
        lines += ["", "Over HTTP (uvicorn, 1 process; httpx, 16 connections):"]
        for name, row in http.items():
            baseline = "Ninja async operation, bare" if name.startswith("Ninja") else (
                "async view, bare")
            rate_bare = http[baseline]["req_per_s"]
            lines.append(f"{name:48} {row['req_per_s']:9.0f} req/s  bare ÷ this "
                         f"{rate_bare / row['req_per_s']:.3f}  unexpected {row['unexpected']}")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"asgi-{stamp}.txt").write_text(text + "\n")
    (RESULTS / f"asgi-{stamp}.json").write_text(json.dumps(
        {"in_process": in_process, "http": http}, indent=2))


if __name__ == "__main__":
    main()
