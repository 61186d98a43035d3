"""Run the quick-start page (docs/quickstart.md) literally, block by block, and check the result.

Used by ci/quickstart.sh, which builds and installs the wheel into a fresh virtualenv first;
see the top of that script for the convention of the ``# quickstart: ...`` markers.

Usage: python run_page.py PAGE --venv VENV --workdir DIR
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

BLOCK = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"^# quickstart: (\S+)(?: \((\w+)\))?")
FILE_MODES = ("append", "replace", "create")
DOC_PORT = "127.0.0.1:8000"


class Failure(Exception):
    pass


def blocks(page: str) -> list[tuple[str, str, str]]:
    """The page's marked blocks in order: (kind or path, mode, body without the marker)."""
    found = []
    for match in BLOCK.finditer(page):
        body = match.group(1)
        first, _, rest = body.partition("\n")
        marker = MARKER.match(first)
        if marker:
            found.append((marker.group(1), marker.group(2) or "", rest))
    return found


def command_lines(body: str) -> str:
    """The body without comment and blank lines (for blocks that are one command)."""
    return "\n".join(line for line in body.splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Runner:
    def __init__(self, venv: Path, workdir: Path) -> None:
        self.cwd = workdir
        self.env = dict(os.environ)
        self.env["VIRTUAL_ENV"] = str(venv)
        self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{self.env['PATH']}"
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.env.pop("PYTHONPATH", None)
        self.state = workdir.parent / "shell-state"
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.server_log = workdir.parent / "runserver.log"
        self.client: dict[str, str] = {}
        self.seen: set[str] = set()

    # -- the block kinds -----------------------------------------------------------------

    def shell(self, body: str, *, keep_state: bool = True) -> str:
        """Run a block in bash (errexit, nounset, pipefail) in the current folder and
        environment; keep the folder it ends in and the variables it exports."""
        script = f"set -euo pipefail\n{body}\n"
        if keep_state:
            state = shlex.quote(str(self.state))
            script += f"env -0 > {state}.env\npwd > {state}.cwd\n"
        done = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=600)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        if done.returncode:
            raise Failure(f"shell block exited with {done.returncode}:\n{body}")
        if keep_state:
            raw = Path(f"{self.state}.env").read_text()
            self.env = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
            self.cwd = Path(Path(f"{self.state}.cwd").read_text().strip())
        return done.stdout

    def write_file(self, path: str, mode: str, body: str) -> None:
        target = self.cwd / path
        exists = target.exists()
        if mode == "create" and exists:
            raise Failure(f"{path} (create): the file already exists")
        if mode in ("append", "replace") and not exists:
            raise Failure(f"{path} ({mode}): no such file in {self.cwd}")
        if mode == "append":
            with target.open("a") as out:
                out.write("\n\n" + body)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        print(f"-- {mode}: {path}")

    def createclient(self, body: str) -> None:
        command = command_lines(body)
        if "\n" in command or "manage.py createclient" not in command:
            raise Failure("the createclient block must be one manage.py createclient command")
        out = self.shell(command + " --json", keep_state=False)
        self.client = json.loads(out.strip().splitlines()[-1])
        self.env["CLIENT_ID"] = self.client["client_id"]
        self.env["CLIENT_SECRET"] = self.client["client_secret"]
        print(f"-- client {self.client['client_id']} with scope {self.client['scope']!r}")

    def start_server(self, body: str) -> None:
        command = command_lines(body)
        if DOC_PORT not in command or "runserver" not in command:
            raise Failure(f"the server block must run runserver on {DOC_PORT}")
        command = command.replace(DOC_PORT, f"127.0.0.1:{self.port}") + " --noreload"
        print(f"-- starting: {command}")
        log = self.server_log.open("wb")
        self.server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.cwd,
                                       env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise Failure(f"runserver exited with {self.server.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise Failure("runserver did not listen within 60 s")

    def run_client(self, body: str) -> None:
        out = self.shell(body.replace(DOC_PORT, f"127.0.0.1:{self.port}"), keep_state=False)
        statuses = [int(m.group(1)) for m in re.finditer(r" (\d{3})$", out, re.M)]
        if statuses != [200, 401]:
            raise Failure(f"the client block printed statuses {statuses}, expected [200, 401]")
        print("-- client block: 200 with the token, 401 without, as the page says")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()

    # -- independent checks ---------------------------------------------------------------

    def request(self, url: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback)
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def check(self) -> None:
        base = f"http://127.0.0.1:{self.port}"
        ident = urllib.parse.quote(self.client["client_id"], safe="")
        secret = urllib.parse.quote(self.client["client_secret"], safe="")
        basic = base64.b64encode(f"{ident}:{secret}".encode()).decode()
        status, _, body = self.request(
            f"{base}/oauth/token", data=b"grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}",
                     "Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise Failure(f"token request: {status} {body!r}")
        token = json.loads(body)
        if token.get("token_type") != "Bearer" or token.get("scope") != "hello:read":
            raise Failure(f"unexpected token response {token!r}")
        status, _, body = self.request(
            f"{base}/api/hello", headers={"Authorization": f"Bearer {token['access_token']}"})
        if status != 200 or json.loads(body).get("hello") != self.client["client_id"]:
            raise Failure(f"with the token: {status} {body!r}")
        status, headers, body = self.request(f"{base}/api/hello")
        challenge = {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "")
        if status != 401 or not challenge.startswith("Bearer"):
            raise Failure(f"without a token: {status} {challenge!r} {body!r}")
        status, _, body = self.request(f"{base}/api/hello",
                                       headers={"Authorization": "Bearer not-a-token"})
        if status != 401 or b"invalid_token" not in body:
            raise Failure(f"with a bad token: {status} {body!r}")
        print("-- checked: token 200, API 200 with it, 401 without, 401 invalid_token")

    # -- the page ------------------------------------------------------------------------

    def run(self, page: str) -> None:
        for kind, mode, body in blocks(page):
            self.seen.add(kind if mode not in FILE_MODES else "file")
            if kind == "install":
                print("-- install block: skipped (the wheel is installed already)")
            elif kind == "shell":
                print(f"-- shell in {self.cwd}:\n{body}")
                self.shell(body)
            elif kind == "createclient":
                self.createclient(body)
            elif kind == "server":
                self.start_server(body)
            elif kind == "client":
                if self.server is None or not self.client:
                    raise Failure("the client block comes before the server or client blocks")
                self.run_client(body)
            elif mode in FILE_MODES:
                self.write_file(kind, mode, body)
            else:
                raise Failure(f"unknown marker: # quickstart: {kind} ({mode})")
        missing = {"shell", "file", "createclient", "server", "client"} - self.seen
        if missing:
            raise Failure(f"the page has no block of kind {sorted(missing)}")
        self.check()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("page", type=Path)
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(args.venv.resolve(), args.workdir.resolve())
    try:
        runner.run(args.page.read_text())
    except (Failure, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as exc:
        print(f"QUICKSTART FAILED: {exc}", file=sys.stderr)
        if runner.server_log.exists():
            print("-- runserver log:", file=sys.stderr)
            print(runner.server_log.read_text(errors="replace")[-4000:], file=sys.stderr)
        return 1
    finally:
        runner.stop_server()
    print("QUICKSTART OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
