"""Several processes at once, on a SQLite file with Django's default cache settings:
gunicorn with 3 workers, and key rotations while tokens are being issued.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import basic
from tests.servers import serving

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("gunicorn", path=str(Path(sys.executable).parent))
                                is None, reason="gunicorn is in the test extras")

SETUP = """
import json
from oauth_cc.models import Client, Scope
from oauth_cc.server import keys
keys.rotate()
for name in ("inventory:read",):
    Scope.objects.get_or_create(name=name)
made = {}
for kind, fields in (("jwt", {}), ("opaque", {"token_format": "opaque"})):
    client = Client.objects.create(name=kind, allowed_scopes="inventory:read",
                                   default_scopes="inventory:read", **fields)
    made[kind] = [client.client_id, client.add_secret()]
print(json.dumps(made))
"""


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTH_CC_TEST")}
    env.update(DJANGO_SETTINGS_MODULE="tests.server_settings", PYTHONPATH=str(ROOT),
               OAUTH_CC_SQLITE_FILE=str(tmp_path / "db.sqlite3"))
    django_admin = [sys.executable, "-m", "django"]
    subprocess.run([*django_admin, "migrate", "--noinput", "-v", "0"], env=env, check=True,
                   cwd=ROOT, timeout=120)
    made = subprocess.run([*django_admin, "shell", "-c", SETUP], env=env, check=True,
                          cwd=ROOT, timeout=60, capture_output=True, text=True)
    env["CLIENTS"] = made.stdout.strip().splitlines()[-1]
    return env


@pytest.fixture
def gunicorn(server_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    log = tmp_path / "access.log"
    with serving(lambda port: [
            str(Path(sys.executable).parent / "gunicorn"), "--workers", "3", "--preload",
            "--bind", f"127.0.0.1:{port}", "--access-logfile", str(log),
            "--access-logformat", '%(p)s %(s)s "%(r)s"',
            "django.core.wsgi:get_wsgi_application()"],
            env=server_env, cwd=ROOT, what="gunicorn") as server:
        yield {"base": server.url, "log": log, "clients": json.loads(server_env["CLIENTS"])}


def call(method: str, url: str, body: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request on a new connection (so that the workers share the load), through a
    "TLS proxy" on loopback."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, method=method, data=urlencode(body).encode() if body is not None else None,
        headers={"X-Forwarded-Proto": "https", "Connection": "close", **(headers or {})})
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def token_for(base: str, client_id: str, secret: str) -> str:
    status, body = call("POST", f"{base}/oauth/token", {"grant_type": "client_credentials"},
                        {"Authorization": basic(client_id, secret)})
    assert status == 200, body
    return str(json.loads(body)["access_token"])


def whoami_statuses(base: str, token: str, count: int) -> list[int]:
    """``count`` calls from 8 threads at once, so that every worker takes some."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> int:
        return call("GET", f"{base}/api/whoami", headers={"Authorization": f"Bearer {token}"})[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def workers_serving(log: Path, since: int) -> set[str]:
    """The worker PIDs in the access log's whoami lines after line ``since``."""
    lines = log.read_text().splitlines()[since:]
    return {line.split()[0] for line in lines if "/api/whoami" in line}


@pytest.mark.parametrize("kind", ["jwt", "opaque"])
def test_revocation_reaches_every_worker_at_once_by_default_REV_06_X_11(gunicorn, kind):
    # REV-06, X-11: with no cache settings at all (per-process LocMemCache), a revoked
    # token is refused by the very next request in every worker of the machine.
    base = gunicorn["base"]
    client_id, secret = gunicorn["clients"][kind]
    token = token_for(base, client_id, secret)
    # Until every worker has accepted (and so cached) the token; bounded.
    for _ in range(20):
        assert whoami_statuses(base, token, 24) == [200] * 24
        if len(workers_serving(gunicorn["log"], 0)) == 3:
            break
    assert len(workers_serving(gunicorn["log"], 0)) == 3, "the load did not reach every worker"
    status, _ = call("POST", f"{base}/oauth/revoke", {"token": token},
                     {"Authorization": basic(client_id, secret)})
    assert status == 200
    lines = len(gunicorn["log"].read_text().splitlines())
    for _ in range(20):
        assert whoami_statuses(base, token, 24) == [401] * 24
        if len(workers_serving(gunicorn["log"], lines)) == 3:
            break
    assert len(workers_serving(gunicorn["log"], lines)) == 3


def test_access_log_carries_no_credentials_GEN_05(gunicorn):
    # GEN-05: with a log format without the user field, no secret or token reaches the
    # access log, even from a malformed Basic header (gunicorn decodes those into %(u)s).
    base = gunicorn["base"]
    client_id, secret = gunicorn["clients"]["jwt"]
    token = token_for(base, client_id, secret)
    whoami_statuses(base, token, 3)
    import base64

    call("POST", f"{base}/oauth/token", {"grant_type": "client_credentials"},
         {"Authorization": "Basic " + base64.b64encode(f"{client_id}{secret}".encode()).decode()})
    text = gunicorn["log"].read_text()
    assert secret not in text and token not in text and client_id not in text


def test_rotation_succeeds_while_tokens_are_issued_on_sqlite_JWKS_07(server_env):
    # JWKS-07: rotatekeys (each step, and --now) succeeds while opaque tokens are being
    # written by another process: no "database is locked".
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER], env=server_env, cwd=ROOT, stdout=subprocess.PIPE,
        text=True)
    try:
        # Rotate only once the writer is writing (and handles SIGTERM): it says so after its
        # first token. A writer that dies first ends its output, and the test fails here.
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
        done = subprocess.run([sys.executable, "-c", ROTATOR], env=server_env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    finally:
        writer.terminate()
        out, _ = writer.communicate(timeout=30)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("rotated") == 12, done.stdout
    issued = [int(n) for n in re.findall(r"issued (\d+)", out or "")]
    assert writer.returncode == 0 and issued and issued[0] > 0, out  # every token was 200


ROTATOR = """
import time
import django
django.setup()
from django.core.management import call_command
for step in ([], [], ["--now"], [], [], ["--now"]) * 2:
    call_command("rotatekeys", *step, verbosity=0)
    print("rotated", flush=True)
    time.sleep(0.05)
"""

WRITER = """
import json, os, signal, sys
import django
django.setup()
from django.test import Client
clients = json.loads(os.environ["CLIENTS"])
client_id, secret = clients["opaque"]
import base64
auth = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
http = Client()
count = 0
def stop(*args):
    print(f"issued {count}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    response = http.post("/oauth/token", "grant_type=client_credentials",
                         content_type="application/x-www-form-urlencoded",
                         HTTP_AUTHORIZATION=auth, secure=True)
    assert response.status_code == 200, response.content
    count += 1
    if count == 1:
        print("ready", flush=True)
"""
