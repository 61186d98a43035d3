"""Over HTTP: gunicorn with 2 sync workers on 127.0.0.1, driven by a bounded load generator.

Called by run.py after the in-process part has filled ``<workdir>/bench.sqlite3``:
``run_all(scenarios, workdir, quick)``, ``table(results)``, ``targets(results)``.

- gunicorn (``--workers 2 --worker-class sync``) runs as a subprocess of this process, bound
  to 127.0.0.1 on a free port, and is always stopped (terminate, then kill) before returning.
- The load generator is ``wrk`` when it is installed, with a Lua script that counts the
  status of every response (the ``response`` callback makes wrk slower, but every status is
  seen); otherwise a Python generator: processes of threads, each sending raw requests on a
  new connection each time (gunicorn's sync workers close every connection anyway). Either
  way: a fixed number of connections; each scenario is warmed up, then loaded for a fixed time
  in rounds, round-robin across scenarios (so drift hits all alike); req/s, p50 and p99 are
  medians over the rounds. Any unexpected status, or any connection error, marks it invalid.
- Requests carry the same method, path, headers and body as the in-process calls (headers are
  taken from ``Scenario.environ()``, so ``X-Forwarded-Proto: https`` and Host ``bench.test``).
  Each scenario's response check runs once over HTTP before it is loaded.
- Memory: for the bare view and for the oauth_cc protected view, a fresh gunicorn serves a
  fixed number of requests; the VmRSS of each worker is read from /proc before and after,
  and the largest is reported.

Only 127.0.0.1 is contacted; every loop is bounded in count and in time.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import math
import os
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"
WORKERS = 2
CONNECTIONS = 8
GENERATOR_PROCESSES = 2  # Python generator: processes x threads = CONNECTIONS
WRK_THREADS = 2
REQUEST_TIMEOUT = 10.0  # seconds, per request
STARTUP_TIMEOUT = 30.0  # seconds for gunicorn to answer

# (group, kind) of the scenarios loaded over HTTP. Not over HTTP: DOT's PBKDF2 token requests
# (too slow) and the scenarios that need a harness switch in the server (ES256, first sight).
HTTP_KINDS = [("ceiling", "bare"), ("floor", "plain"), ("oauth_cc", "valid"),
              ("oauth_cc", "invalid"), ("DOT", "valid"), ("DOT", "invalid"),
              ("oauth_cc", "token"), ("DOT", "token")]
BARE = ("ceiling", "bare")
OCC_VALID = ("oauth_cc", "valid")
RSS_TOLERANCE = 0.10
VALID_JWT_FLOOR = 0.85

MODES = {  # seconds; wrk rounds durations up to whole seconds
    False: {"rounds": 5, "round_seconds": 2.0, "warmup": 1.0, "memory_requests": 100_000,
            "memory_warmup": 1_000, "memory_cap": 120.0},
    True: {"rounds": 2, "round_seconds": 1.0, "warmup": 0.5, "memory_requests": 5_000,
           "memory_warmup": 200, "memory_cap": 20.0},
}


# --- requests -----------------------------------------------------------------------------

def request_spec(scenario: Any) -> dict[str, Any]:
    """Method, path, headers and body of a scenario, as sent over HTTP (JSON-serialisable)."""
    environ = scenario.environ()
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = value
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    headers.setdefault("Host", environ.get("SERVER_NAME", "bench.test"))
    path = environ.get("PATH_INFO", scenario.path)
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    return {"name": scenario.name, "group": scenario.group, "kind": scenario.kind,
            "method": environ.get("REQUEST_METHOD", scenario.method), "path": path,
            "headers": headers, "body": scenario.body.decode("latin-1"),
            "expect": scenario.expect}


def fetch(port: int, spec: dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> Any:
    """One request on a fresh connection; returns a ``scenarios.Response``."""
    from scenarios import Response

    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(spec["method"], spec["path"], body=spec["body"].encode("latin-1") or None,
                     headers=spec["headers"])
        response = conn.getresponse()
        body = response.read()
        return Response(response.status, dict(response.getheaders()), body)
    finally:
        conn.close()


# --- gunicorn -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


class Gunicorn:
    """gunicorn serving bench_project on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, workdir: Path, tag: str) -> None:
        self.workdir = workdir
        self.tag = tag
        self.log_path = workdir / f"gunicorn-{tag}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.seen_workers: set[int] = set()

    def __enter__(self) -> Gunicorn:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _start(self) -> None:
        self.port = _free_port()
        env = dict(os.environ)
        env["BENCH_DATABASE"] = str(self.workdir / "bench.sqlite3")
        env["DJANGO_SETTINGS_MODULE"] = "bench_project.settings"
        env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS),
                   "--worker-class", "sync", "--bind", f"{HOST}:{self.port}",
                   "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning"]
        version = tuple(int(p) for p in re.findall(r"\d+", _version("gunicorn"))[:2])
        if version >= (25, 1):  # no control socket in ~/.gunicorn
            command.append("--no-control-socket")
        command.append("bench_project.wsgi:application")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, cwd=HERE, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        probe = {"method": "GET", "path": "/plain", "body": "",
                 "headers": {"Host": "bench.test", "X-Forwarded-Proto": "https"}}
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in {STARTUP_TIMEOUT:.0f} s: "
                                   f"{self.log_tail()}")
            try:
                if fetch(self.port, probe, timeout=2).status == 200 and \
                        len(self.workers()) == WORKERS:
                    return
            except OSError:
                pass
            time.sleep(0.1)

    def workers(self) -> list[int]:
        if self.proc is None:
            return []
        pids = _children(self.proc.pid)
        self.seen_workers.update(pids)
        return pids

    def settle(self, limit: float = 2.0) -> None:
        """Wait (at most ``limit`` seconds) until the workers use no CPU: a load generator
        that stops leaves requests in flight, which must not count against the next run."""
        deadline = time.monotonic() + limit
        last, quiet = None, 0
        while time.monotonic() < deadline and quiet < 2:
            ticks = []
            for pid in self.workers():
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    continue
                fields = stat[stat.rfind(")") + 2:].split()
                ticks.append(int(fields[11]) + int(fields[12]))  # utime + stime
            quiet = quiet + 1 if ticks == last else 0
            last = ticks
            time.sleep(0.03)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        self.workers()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # Workers normally exit with the master; kill any that outlived it (by pid).
        deadline = time.monotonic() + 5
        left = [pid for pid in self.seen_workers if _alive(pid)]
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [pid for pid in left if _alive(pid)]
        for pid in left:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"gunicorn" in cmdline:
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc = None


# --- load generators ----------------------------------------------------------------------

def _lua_string(text: str) -> str:
    return '"' + "".join(c if c.isalnum() or c in " -_.:/=+,;%~@()[]{}!?*&^$#|<>'" else
                         f"\\{ord(c):03d}" for c in text) + '"'


WRK_SCRIPT = """
local quota = %(quota)d
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  answered = 0
end

function response(status, headers, body)
  answered = answered + 1
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if quota > 0 and answered == quota then
    io.stdout:write("HTTPLOAD-QUOTA\\n")
    io.stdout:flush()
  end
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      all[k] = (all[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(all) do
    parts[#parts + 1] = string.format('"%%s": %%.0f', k, v)
  end
  local e = summary.errors
  io.stdout:write(string.format(
    'HTTPLOAD {"requests": %%.0f, "duration_us": %%.0f, "errors": %%.0f, ' ..
    '"p50_us": %%.0f, "p99_us": %%.0f, "statuses": {%%s}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ", ")))
  io.stdout:flush()
end
"""


def _wrk_script(spec: dict[str, Any], quota: int) -> str:
    lines = [f"wrk.method = {_lua_string(spec['method'])}",
             f"wrk.path = {_lua_string(spec['path'])}"]
    if spec["body"]:
        lines.append(f"wrk.body = {_lua_string(spec['body'])}")
    for name, value in spec["headers"].items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    return "\n".join(lines) + WRK_SCRIPT % {"quota": quota}


def _run_wrk(port: int, spec: dict[str, Any], workdir: Path, duration: float, total: int = 0
             ) -> dict[str, Any]:
    """wrk for ``duration`` seconds; with ``total``, wrk is interrupted (SIGINT, on which it
    reports) once every thread has had its share of responses. Threads are not stopped one
    by one: a stopped thread would leave connections open that block a sync worker."""
    wrk = shutil.which("wrk")
    assert wrk
    quota = math.ceil(total / WRK_THREADS) if total else 0
    script = workdir / "http_load.lua"
    script.write_text(_wrk_script(spec, quota))
    seconds = max(1, math.ceil(duration))
    command = [wrk, "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s",
               "--timeout", f"{REQUEST_TIMEOUT:.0f}s", "-s", str(script),
               f"http://{HOST}:{port}{spec['path']}"]
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_path = workdir / "wrk.stderr"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)

    def read() -> None:
        assert proc.stdout
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    output: list[str] = []
    stopped = 0
    deadline = time.monotonic() + seconds + 30
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            output.append(line)
            if line.startswith("HTTPLOAD-QUOTA"):
                stopped += 1
                if stopped == WRK_THREADS and proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=5)
    report = [line for line in output if line.startswith("HTTPLOAD {")]
    if not report:
        raise RuntimeError(f"wrk gave no report (exit {proc.returncode}): "
                           f"{''.join(output)[-500:]} {stderr_path.read_text()[-500:]}")
    data = json.loads(report[-1][len("HTTPLOAD "):])
    return {"statuses": data["statuses"], "errors": int(data["errors"]),
            "seconds": data["duration_us"] / 1e6, "p50_ms": data["p50_us"] / 1e3,
            "p99_ms": data["p99_us"] / 1e3}


def _raw_request(spec: dict[str, Any]) -> bytes:
    """The request as bytes; ``Connection: close`` (gunicorn's sync workers close anyway)."""
    body = spec["body"].encode("latin-1")
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in spec["headers"].items()]
    if body or spec["method"] in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _exchange(address: tuple[str, int], payload: bytes) -> int:
    """One request on a new connection; the status of a complete response, or an error."""
    with socket.create_connection(address, timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(payload)
        chunks = []
        for _ in range(1000):  # responses here are small; bounded all the same
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            raise ValueError("response too long")
    head, separator, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not separator or not head.startswith(b"HTTP/1."):
        raise ValueError("malformed response")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and int(value) != len(body):
            raise ValueError("truncated response")
    return int(head[9:12])


def _generate(job: dict[str, Any]) -> dict[str, Any]:
    """In a generator process: ``threads`` connections in turn until the deadline or quota.

    Latency is from the connect to the last byte of the response."""
    address = (job["host"], job["port"])
    payload = _raw_request(job["spec"])
    quota, deadline = job["quota"], job["start_at"] + job["duration"]
    out: list[dict[str, Any]] = []

    def worker() -> None:
        statuses: Counter[int] = Counter()
        latencies: list[int] = []
        errors = sent = 0
        clock = time.perf_counter
        while sent < quota and errors < 100 and time.monotonic() < deadline:
            sent += 1
            began = clock()
            try:
                status = _exchange(address, payload)
            except (OSError, ValueError):
                errors += 1
                continue
            latencies.append(round((clock() - began) * 1e6))
            statuses[status] += 1
        out.append({"statuses": statuses, "latencies": latencies, "errors": errors,
                    "end": time.monotonic()})

    while time.monotonic() < job["start_at"]:
        time.sleep(min(0.01, max(0.0, job["start_at"] - time.monotonic())))
    threads = [threading.Thread(target=worker) for _ in range(job["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=job["duration"] + REQUEST_TIMEOUT + 10)
    statuses: Counter[int] = Counter()
    for r in out:
        statuses.update(r["statuses"])
    return {"statuses": {str(k): v for k, v in statuses.items()},
            "latencies": [x for r in out for x in r["latencies"]],
            "errors": sum(r["errors"] for r in out) + job["threads"] - len(out),
            "end": max((r["end"] for r in out), default=time.monotonic())}


def _percentile(ordered: list[int], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _run_python(port: int, spec: dict[str, Any], duration: float, total: int) -> dict[str, Any]:
    """The fallback generator: processes of threads, a new connection per request."""
    start_at = time.monotonic() + 0.2  # the generator processes start together
    job = {"spec": spec, "host": HOST, "port": port,
           "threads": CONNECTIONS // GENERATOR_PROCESSES, "start_at": start_at,
           "duration": duration,
           "quota": math.ceil(total / CONNECTIONS) if total else 10_000_000}
    command = [sys.executable, str(Path(__file__).resolve()), "generate"]
    procs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=HERE)
             for _ in range(GENERATOR_PROCESSES)]
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(json.dumps(job).encode(),
                                              timeout=duration + REQUEST_TIMEOUT + 30)
            if proc.returncode != 0:
                raise RuntimeError(f"generator failed: {stderr.decode()[-800:]}")
            results.append(json.loads(stdout))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    statuses: Counter[str] = Counter()
    for r in results:
        statuses.update(r["statuses"])
    latencies = sorted(x for r in results for x in r["latencies"])
    return {"statuses": dict(statuses), "errors": sum(r["errors"] for r in results),
            "seconds": max(r["end"] for r in results) - start_at,
            "p50_ms": _percentile(latencies, 50) / 1e3, "p99_ms": _percentile(latencies, 99) / 1e3}


def load(port: int, spec: dict[str, Any], workdir: Path, duration: float, total: int = 0
         ) -> dict[str, Any]:
    """Load one scenario for ``duration`` seconds, or until ``total`` responses (within the
    duration); the status of every response is counted and checked."""
    if shutil.which("wrk"):
        out = _run_wrk(port, spec, workdir, duration, total)
    else:
        out = _run_python(port, spec, duration, total)
    requests = sum(out["statuses"].values())
    unexpected = requests - out["statuses"].get(str(spec["expect"]), 0)
    out.update(requests=requests, unexpected=unexpected,
               rps=requests / out["seconds"] if out["seconds"] > 0 else 0.0,
               valid=unexpected == 0 and out["errors"] == 0 and requests > 0)
    return out


def engine() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        return (f"Python generator ({GENERATOR_PROCESSES} processes x "
                f"{CONNECTIONS // GENERATOR_PROCESSES} threads, a connection per request)")
    try:
        banner = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10,
                                check=False).stdout.split("\n")[0]
    except (OSError, subprocess.TimeoutExpired):
        banner = "wrk"
    version = " ".join(banner.split()[:2]) or "wrk"
    return f"{version} ({WRK_THREADS} threads, Lua status check)"


# --- the HTTP part of the benchmark -------------------------------------------------------

def _select(scenarios: list[Any]) -> list[Any]:
    by_kind = {(s.group, s.kind): s for s in scenarios}
    return [by_kind[k] for k in HTTP_KINDS if k in by_kind]


def _check(port: int, scenario: Any, spec: dict[str, Any]) -> str:
    response = fetch(port, spec)
    if response.status != scenario.expect:
        return f"status {response.status}, expected {scenario.expect}: {response.body[:200]!r}"
    if scenario.check:
        try:
            scenario.check(response)
        except Exception as exc:  # recorded, reported
            return f"check failed: {type(exc).__name__}: {exc}"
    return "ok"


def _memory(workdir: Path, spec: dict[str, Any], mode: dict[str, Any], tag: str
            ) -> dict[str, Any]:
    with Gunicorn(workdir, tag) as server:
        warm = load(server.port, spec, workdir, mode["memory_cap"], total=mode["memory_warmup"])
        server.settle()
        pids = server.workers()
        before = {str(pid): rss_kib(pid) for pid in pids}
        run = load(server.port, spec, workdir, mode["memory_cap"], total=mode["memory_requests"])
        server.settle()  # the workers finish requests the generator left in flight
        after_pids = server.workers()
        after = {str(pid): rss_kib(pid) for pid in after_pids}
    same_workers = pids == after_pids
    complete = run["requests"] >= mode["memory_requests"]
    return {"scenario": spec["name"], "requests": run["requests"], "seconds": run["seconds"],
            "warmup_requests": warm["requests"], "rss_before_kib": before,
            "rss_after_kib": after, "max_before_kib": max(before.values()),
            "max_after_kib": max(after.values()), "same_workers": same_workers,
            "complete": complete, "statuses": run["statuses"],
            "warmup_statuses": warm["statuses"],
            "unexpected": run["unexpected"] + warm["unexpected"],
            "errors": run["errors"] + warm["errors"],
            "valid": run["valid"] and warm["valid"] and same_workers and complete}


def _summarise(entry: dict[str, Any], rounds: list[dict[str, Any]]) -> None:
    statuses: Counter[str] = Counter()
    for r in rounds:
        statuses.update(r["statuses"])
    rps = [r["rps"] for r in rounds]
    median = statistics.median(rps)
    entry.update(
        rounds=[{k: r[k] for k in ("requests", "seconds", "rps", "p50_ms", "p99_ms", "statuses",
                                   "errors")} for r in rounds],
        statuses=dict(statuses), requests=sum(statuses.values()),
        seconds=sum(r["seconds"] for r in rounds), rps=median,
        spread=(max(rps) - min(rps)) / median if median else float("nan"),
        p50_ms=statistics.median(r["p50_ms"] for r in rounds),
        p99_ms=statistics.median(r["p99_ms"] for r in rounds),
        unexpected=entry["unexpected"] + sum(r["unexpected"] for r in rounds),
        errors=entry["errors"] + sum(r["errors"] for r in rounds),
        valid=entry["valid"] and all(r["valid"] for r in rounds))


def run_all(scenarios: list[Any], workdir: Path, quick: bool) -> dict[str, Any]:
    mode = dict(MODES[bool(quick)])
    if shutil.which("wrk"):  # wrk counts whole seconds
        for key in ("round_seconds", "warmup"):
            mode[key] = float(max(1, math.ceil(mode[key])))
    workdir = Path(workdir)
    chosen = _select(scenarios)
    results: dict[str, Any] = {
        "engine": engine(), "gunicorn": _version("gunicorn"), "workers": WORKERS,
        "connections": CONNECTIONS, "cores": os.cpu_count(), "quick": bool(quick), **mode,
        "scenarios": {}, "memory": {}, "errors": [],
    }
    missing = [k for k in HTTP_KINDS if k not in {(s.group, s.kind) for s in chosen}]
    if missing:
        results["errors"].append(f"no scenario for {missing}")
    started = time.monotonic()
    print(f"over HTTP: {results['engine']}, {CONNECTIONS} connections, {mode['rounds']} rounds "
          f"of {mode['round_seconds']:g} s per scenario ...", flush=True)
    try:
        with Gunicorn(workdir, "load") as server:
            loaded = []
            for s in chosen:  # check, then warm up
                spec = request_spec(s)
                entry: dict[str, Any] = {
                    "group": s.group, "kind": s.kind, "method": spec["method"],
                    "path": spec["path"], "expect": s.expect,
                    "check": _check(server.port, s, spec)}
                results["scenarios"][s.name] = entry
                if entry["check"] != "ok":
                    entry["valid"] = False
                    continue
                server.settle()
                warm = load(server.port, spec, workdir, mode["warmup"])
                entry.update(warmup_statuses=warm["statuses"], unexpected=warm["unexpected"],
                             errors=warm["errors"], valid=warm["valid"])
                loaded.append((spec, entry))
            rounds: dict[str, list[dict[str, Any]]] = {spec["name"]: [] for spec, _ in loaded}
            for _ in range(mode["rounds"]):
                for spec, _ in loaded:
                    server.settle()
                    rounds[spec["name"]].append(
                        load(server.port, spec, workdir, mode["round_seconds"]))
            for spec, entry in loaded:
                _summarise(entry, rounds[spec["name"]])
    except Exception as exc:  # recorded; the in-process results still count
        results["errors"].append(f"load: {type(exc).__name__}: {exc}")
    by_kind = {(s.group, s.kind): s for s in chosen}
    for key in (BARE, OCC_VALID):
        if key not in by_kind:
            continue
        spec = request_spec(by_kind[key])
        print(f"over HTTP: worker RSS after {mode['memory_requests']:,} requests, "
              f"{spec['name']} ...", flush=True)
        try:
            results["memory"]["/".join(key)] = _memory(workdir, spec, mode, "memory-" + key[1])
        except Exception as exc:  # recorded, reported
            results["errors"].append(f"memory {spec['name']}: {type(exc).__name__}: {exc}")
    results["seconds"] = time.monotonic() - started
    return results


# --- reporting ----------------------------------------------------------------------------

def _find(results: dict[str, Any], key: tuple[str, str]) -> tuple[str, dict[str, Any]] | None:
    for name, entry in results.get("scenarios", {}).items():
        if (entry.get("group"), entry.get("kind")) == key:
            return name, entry
    return None


def table(results: dict[str, Any]) -> str:
    bare = _find(results, BARE)
    bare_rps = bare[1].get("rps") if bare and bare[1].get("valid") else None
    lines = [f"load: {results['engine']}, {results['connections']} connections; per scenario "
             f"{results['warmup']:g} s warm-up, then {results['rounds']} rounds of "
             f"{results['round_seconds']:g} s, round-robin; medians over rounds.",
             f"gunicorn {results['gunicorn']}, {results['workers']} sync workers on 127.0.0.1. "
             f"The generator shares the {results['cores']} cores with the workers, so req/s "
             "understate the server; compare ratios.",
             f"{'scenario':44} {'req/s':>7} {'spread':>7} {'p50 ms':>7} {'p99 ms':>7} "
             f"{'÷ bare':>7}  statuses"]
    dash = "—"
    for name, e in results.get("scenarios", {}).items():
        if "rps" not in e:
            lines.append(f"{name:44} {dash:>7} {dash:>7} {dash:>7} {dash:>7} {dash:>7}  "
                         f"INVALID: {e.get('check') if e.get('check') != 'ok' else 'not measured'}")
            continue
        ratio = f"{e['rps'] / bare_rps:7.2f}" if bare_rps else f"{dash:>7}"
        status = ", ".join(f"{k}×{v:,}" for k, v in sorted(e["statuses"].items()))
        if e["errors"]:
            status += f", {e['errors']:,} connection errors"
        if e["unexpected"]:
            status += f", {e['unexpected']:,} unexpected (warm-up included)"
        verdict = "" if e["valid"] else "INVALID "
        lines.append(f"{name:44} {e['rps']:7.0f} {e['spread'] * 100:6.0f}% {e['p50_ms']:7.2f} "
                     f"{e['p99_ms']:7.2f} {ratio}  {verdict}{status}")
    memory = results.get("memory", {})
    if memory:
        lines.append("")
        lines.append(f"Worker RSS (the larger of {results['workers']} workers; a fresh gunicorn "
                     "per row; 'start' is after the warm-up requests):")
        lines.append(f"{'scenario':44} {'requests':>9} {'start MiB':>10} {'after MiB':>10} "
                     f"{'÷ bare':>7}")
        base = memory.get("/".join(BARE))
        for m in memory.values():
            ratio = (f"{m['max_after_kib'] / base['max_after_kib']:7.3f}" if base
                     else f"{dash:>7}")
            note = "" if m["valid"] else "  INVALID"
            if not m["same_workers"]:
                note += " (a worker was replaced)"
            if not m["complete"]:
                note += " (stopped at the time limit)"
            if m["unexpected"] or m["errors"]:
                note += f" ({m['unexpected']:,} unexpected, {m['errors']:,} connection errors)"
            lines.append(f"{m['scenario']:44} {m['requests']:9,} "
                         f"{m['max_before_kib'] / 1024:10.1f} {m['max_after_kib'] / 1024:10.1f} "
                         f"{ratio}{note}")
    for error in results.get("errors", []):
        lines.append(f"ERROR {error}")
    lines.append(f"(HTTP part took {results.get('seconds', 0):.0f} s)")
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    out = []
    bare, valid = _find(results, BARE), _find(results, OCC_VALID)
    label = f"HTTP valid JWT ≥ {VALID_JWT_FLOOR}× bare req/s"
    if bare and valid and "rps" in bare[1] and "rps" in valid[1] and bare[1]["rps"]:
        ratio = valid[1]["rps"] / bare[1]["rps"]
        ok = bare[1]["valid"] and valid[1]["valid"]
        out.append((label, f"{ratio:.3f} (limit {VALID_JWT_FLOOR})" + ("" if ok else ", INVALID"),
                    ok and ratio >= VALID_JWT_FLOOR))
    else:
        out.append((label, "not measured", False))

    n = results.get("memory_requests", 0)
    label = f"RSS after {n:,} requests within {RSS_TOLERANCE:.0%} of bare"
    base = results.get("memory", {}).get("/".join(BARE))
    occ = results.get("memory", {}).get("/".join(OCC_VALID))
    if base and occ:
        change = occ["max_after_kib"] / base["max_after_kib"] - 1
        ok = base["valid"] and occ["valid"]
        out.append((label, f"{change * 100:+.1f}% ({occ['max_after_kib'] / 1024:.1f} vs "
                    f"{base['max_after_kib'] / 1024:.1f} MiB)" + ("" if ok else ", INVALID"),
                    ok and change <= RSS_TOLERANCE))
    else:
        out.append((label, "not measured", False))

    runs = list(results.get("scenarios", {}).values()) + list(results.get("memory", {}).values())
    total = sum(sum(r.get("statuses", {}).values()) + sum(r.get("warmup_statuses", {}).values())
                for r in runs)
    unexpected = sum(r.get("unexpected", 0) for r in runs)
    errors = sum(r.get("errors", 0) for r in runs)
    failed_checks = [name for name, r in results.get("scenarios", {}).items()
                     if r.get("check") != "ok"]
    value = f"{total:,} responses, {unexpected:,} unexpected, {errors:,} connection errors"
    if failed_checks:
        value += f", failed checks: {', '.join(failed_checks)}"
    if results.get("errors"):
        value += f", {len(results['errors'])} harness errors"
    out.append(("all responses had the expected status", value,
                total > 0 and not unexpected and not errors and not failed_checks
                and not results.get("errors")))
    return out


if __name__ == "__main__":  # a generator process: python http_load.py generate < job.json
    if sys.argv[1:] == ["generate"]:
        json.dump(_generate(json.load(sys.stdin)), sys.stdout)
    else:
        sys.exit(__doc__)
