"""Fixtures for the fleet tests: they talk to a running fleet (``python -m fleet up`` or
``python -m fleet run -- ...``) whose state file ``FLEET_STATE`` names; without it every test
here is skipped.

Everything goes over real sockets to 127.0.0.1 with ``http.client``: TLS through nginx with a
context that trusts only the fleet's CA, or plain HTTP straight to a gunicorn port. Every
secret and token a test sends is remembered, so that the log test can look for each of them.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import pytest

READ = "inventory:read"
FORM = "application/x-www-form-urlencoded"
TIMEOUT = 10.0  # seconds, per request

#: Timings measured by the tests, printed at the end of the run.
TIMINGS: dict[str, str] = {}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:300]!r}>"


def basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


@dataclass
class Fleet:
    state: dict[str, Any]
    context: ssl.SSLContext
    #: every secret, token and Authorization value the tests sent: none may be in a log
    sensitive: set[str] = field(default_factory=set)

    # --- where --------------------------------------------------------------------------
    def base(self, where: str) -> str:
        """``shared``, ``a``, ``b``, ``rs``: through nginx (https); ``a-direct``, ...: the
        gunicorn port itself (http, no proxy)."""
        if where.endswith("-direct"):
            return self.state["direct"][where.removesuffix("-direct")]
        return self.state["urls"][where]

    def client(self, role: str) -> dict[str, str]:
        return self.state["clients"][role]

    def log(self, name: str) -> Path:
        return Path(self.state["logs"][name])

    def log_lines(self, name: str) -> list[str]:
        return self.log(name).read_text(errors="replace").splitlines()

    def wait_for_lines(self, name: str, after: int, marker: str, count: int = 1,
                       deadline: float = 3.0) -> list[str]:
        """The lines of log ``name`` past line ``after`` that contain ``marker``, once there
        are ``count`` of them or ``deadline`` seconds have passed (gunicorn writes its access
        line after it has sent the response)."""
        found: list[str] = []

        def enough() -> bool:
            found[:] = [line for line in self.log_lines(name)[after:] if marker in line]
            return len(found) >= count

        poll(enough, deadline=deadline)
        return found

    # --- HTTP -----------------------------------------------------------------------------
    def request(self, where: str, method: str, path: str, *,
                headers: dict[str, str] | None = None, form: dict[str, str] | None = None,
                context: ssl.SSLContext | None = None) -> Response:
        url = urlsplit(self.base(where))
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(url.hostname or "", url.port, timeout=TIMEOUT,
                                               context=context or self.context)
        else:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=TIMEOUT)
        sent = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent.setdefault("Content-Type", FORM)
        for name, value in sent.items():
            if name.lower() == "authorization":
                self.sensitive.add(value)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()},
                            response.read())
        finally:
            conn.close()

    def auth(self, role: str) -> dict[str, str]:
        client = self.client(role)
        self.sensitive.add(client["client_secret"])
        return {"Authorization": basic(client["client_id"], client["client_secret"])}

    def token_response(self, where: str, role: str = "jwt", scope: str = READ) -> Response:
        return self.request(where, "POST", "/oauth/token", headers=self.auth(role),
                            form={"grant_type": "client_credentials", "scope": scope})

    def token(self, where: str, role: str = "jwt", scope: str = READ) -> str:
        response = self.token_response(where, role, scope)
        assert response.status == 200, response
        token = response.json()["access_token"]
        self.sensitive.add(token)
        return token

    def whoami(self, where: str, token: str) -> Response:
        return self.request(where, "GET", "/api/whoami",
                            headers={"Authorization": f"Bearer {token}"})

    def revoke(self, where: str, token: str, role: str = "jwt") -> Response:
        return self.request(where, "POST", "/oauth/revoke", headers=self.auth(role),
                            form={"token": token})

    def manage(self, *args: str, extra_env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
        """``manage.py ARGS`` with the authorization server's settings and database
        (``extra_env``: values a ``shell -c`` command reads, kept off the command line)."""
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update(self.state["as_env"])
        env.update(extra_env or {})
        env["PYTHONPATH"] = self.state["root"]
        return subprocess.run(
            [self.state["python"], str(Path(self.state["root"]) / "manage.py"), *args],
            env=env, cwd=self.state["root"], capture_output=True, text=True, timeout=120,
            check=False)


def poll(check: Any, *, deadline: float, interval: float = 0.05) -> tuple[Any, int, float]:
    """Call ``check()`` until it returns something true or ``deadline`` seconds pass:
    ``(last result, attempts, seconds)``."""
    start = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        result = check()
        elapsed = time.monotonic() - start
        if result or elapsed > deadline:
            return result, attempts, elapsed
        time.sleep(interval)


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    path = os.environ.get("FLEET_STATE")
    if not path:
        pytest.skip("no fleet: run `python -m fleet run -- python -m pytest tests/fleet`")
    state = json.loads(Path(path).read_text())
    if not state.get("ready"):
        pytest.fail(f"the fleet in {path} is not ready")
    context = ssl.create_default_context(cafile=state["ca_file"])
    yield Fleet(state, context)


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "fleet_finale(rank): run after the other fleet tests, by rank (the database "
        "outage, then the log check)")
    config.addinivalue_line(
        "markers", "measurement: prints figures; asserts only that every answer was expected")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fleet tests run in file order (test_fleet.py, then test_under_load.py), except those
    marked ``fleet_finale``, which run last by rank: the database outage must not disturb
    the others, and the log check reads what every other test left."""

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("fleet_finale")
        return int(marker.args[0]) if marker else 0

    items.sort(key=rank)  # stable: everything else keeps its order


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("fleet timings")
        for name, value in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {value}")

