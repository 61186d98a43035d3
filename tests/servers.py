"""Start a server in a subprocess on a free loopback port, wait until it listens, and stop it.

The tests that need a real server process (runserver, uvicorn, gunicorn) share this, so that
each says only what it serves and with which settings.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: How long a server may take to listen; generous, for a loaded two-core CI machine.
START_SECONDS = 60
#: How many ports to try: a free port can be taken by another process before the server binds.
ATTEMPTS = 3


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    #: What the server wrote to stderr, once it has stopped.
    errors: bytes = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serving(command: Callable[[int], Sequence[str]], *, env: dict[str, str], cwd: Path,
            what: str, port: int | None = None, new_session: bool = False
            ) -> Iterator[Server]:
    """Run ``command(port)`` until the block ends; yield once it accepts connections.

    A server that exits before it listens (say, its port was taken meanwhile) is started again
    on another port, up to ``ATTEMPTS`` times; then, or if it does not listen within
    ``START_SECONDS``, ``RuntimeError`` with the tail of its stderr. On exit the server is
    terminated (killed if it does not stop within ten seconds) and ``Server.errors`` holds
    its stderr. That goes to a file, never a pipe nobody reads, so a chatty server can't block.
    With ``port`` (for a server whose settings name it), that port is tried once.
    """
    attempts = ATTEMPTS if port is None else 1
    for attempt in range(1, attempts + 1):
        chosen = port if port is not None else free_port()
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(list(command(chosen)), env=env, cwd=cwd,
                                       stdout=subprocess.DEVNULL, stderr=stderr,
                                       start_new_session=new_session)
            server = Server(chosen, process)
            try:
                if _listening(process, chosen):
                    yield server
                    return
                # Exited rather than timed out: perhaps the port was taken; try another.
                retry = attempt < attempts and process.poll() is not None
            finally:
                _stop(process)
                stderr.seek(0)
                server.errors = stderr.read()
        if not retry:
            raise RuntimeError(f"{what} did not start on port {chosen}: "
                               + server.errors.decode(errors="replace")[-2000:])


def _listening(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            if process.poll() is not None:
                return False
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
