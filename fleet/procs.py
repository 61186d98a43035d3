"""Process helpers for the fleet: free ports, readiness polls, starting and stopping.

Every process the fleet starts is recorded as ``{"pid": ..., "started": ..., "exe": ...}``:
``started`` is the kernel's start time of that pid (``/proc/PID/stat``, field 22) and ``exe``
its executable. A process is only ever signalled when pid and start time still match, so a
recycled pid is never touched. Each long-running process leads its own session, and whatever
it leaves behind in that session when it dies (nginx workers outlive a killed master) is
found by session id, start time and executable, and stopped too.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class FleetError(Exception):
    """The fleet cannot start or stop; the message says why."""


# --- ports and readiness ----------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tcp_open(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def http_request(url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None,
                 body: bytes | None = None, context: ssl.SSLContext | None = None,
                 timeout: float = 5.0) -> tuple[int, bytes]:
    """One request on a fresh connection: ``(status, body)``. Raises ``OSError``."""
    scheme, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, int(port or 443), timeout=timeout,
                                           context=context)
    else:
        conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request(method, "/" + path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_status(url: str, context: ssl.SSLContext | None = None) -> int | None:
    try:
        return http_request(url, context=context, timeout=2.0)[0]
    except (OSError, http.client.HTTPException):
        return None


def wait_until(check: Callable[[], bool], *, what: str, timeout: float,
               proc: subprocess.Popen[Any] | None = None, log: Path | None = None) -> float:
    """Poll ``check`` every 0.1 s until it is true; return the seconds it took. Fails after
    ``timeout`` seconds, or at once when ``proc`` has exited."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise FleetError(f"{what}: the process exited with {proc.returncode}"
                             + tail(log))
        if time.monotonic() - start > timeout:
            raise FleetError(f"{what}: not ready after {timeout:.0f} s" + tail(log))
        time.sleep(0.1)


def tail(log: Path | None, lines: int = 12) -> str:
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"\n--- last lines of {log} ---\n" + "\n".join(text)


# --- processes --------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()  # fields from 3 (state) on


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is gone."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def record(pid: int) -> dict[str, Any]:
    started = start_time(pid)
    if started is None:
        raise FleetError(f"process {pid} vanished right after it started")
    return {"pid": pid, "started": started, "exe": _exe(pid)}


def alive(proc: Mapping[str, Any]) -> bool:
    """True while the recorded process (same pid, same start time) runs and is not a zombie."""
    fields = _stat(proc["pid"])
    return bool(fields) and fields[0] != "Z" and int(fields[19]) == proc["started"]


def _processes() -> Iterator[tuple[int, list[str]]]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and len(fields) > 19 and fields[0] != "Z":
                yield int(entry), fields


def children(pid: int) -> list[dict[str, int]]:
    return [{"pid": p, "started": int(f[19])} for p, f in _processes() if int(f[1]) == pid]


def left_in_session(proc: Mapping[str, Any]) -> list[dict[str, int]]:
    """Processes of the session that ``proc`` led, started no earlier than it, running the
    same executable: its workers, also once it is gone."""
    if not proc.get("exe"):
        return []
    return [{"pid": p, "started": int(f[19])} for p, f in _processes()
            if int(f[3]) == proc["pid"] and int(f[19]) >= proc["started"]
            and p != proc["pid"] and _exe(p) == proc["exe"]]


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by an earlier `fleet up`): init reaps it


def _signal(proc: Mapping[str, Any], sig: int) -> None:
    if alive(proc):
        try:
            os.kill(proc["pid"], sig)
        except ProcessLookupError:
            pass


def _wait_gone(procs: Sequence[Mapping[str, Any]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            _reap(proc["pid"])
        if not any(alive(p) for p in procs):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def stop(proc: Mapping[str, Any], *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> str:
    """Stop one recorded process: ``sig``, then SIGKILL after ``timeout`` seconds; then
    whatever it leaves behind (children, its session's processes). Returns what happened."""
    how = "not running"
    kids = children(proc["pid"]) if alive(proc) else []
    if alive(proc):
        _signal(proc, sig)
        how = "stopped"
        if not _wait_gone([proc], timeout):
            _signal(proc, signal.SIGKILL)
            _wait_gone([proc], 5.0)
            how = "killed"
    else:
        _reap(proc["pid"])
    left = kids + [p for p in left_in_session(proc) if p not in kids]
    if left and not _wait_gone(left, 5.0 if how != "not running" else 0.0):
        for other in left:
            _signal(other, signal.SIGTERM)
        if not _wait_gone(left, 5.0):
            for other in left:
                _signal(other, signal.SIGKILL)
            _wait_gone(left, 5.0)
        how += f"; stopped {len(left)} process(es) it left behind"
    return how


def spawn(command: Sequence[str], *, env: Mapping[str, str], log: Path, cwd: Path
          ) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own session (it outlives ``fleet up``), its stdout
    and stderr appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(list(command), cwd=cwd, env=dict(env),  # noqa: S603
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def run(command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path,
        timeout: float = 120.0, what: str) -> str:
    """Run a command to completion; its stdout, or ``FleetError`` with its output."""
    try:
        result = subprocess.run(list(command), cwd=cwd,  # noqa: S603
                                env=None if env is None else dict(env),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FleetError(f"{what}: timed out after {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise FleetError(f"{what}: exit status {result.returncode}\n"
                         f"{(result.stdout + result.stderr)[-2000:]}")
    return result.stdout
