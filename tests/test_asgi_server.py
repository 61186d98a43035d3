"""The project under a real ASGI server (issue 12, item 4): uvicorn serves
``demo_project.asgi:application`` on 127.0.0.1 with the test settings and a SQLite file, and
httpx drives it like any client would: the token endpoint, the async protected views, and a
sync DRF view and plain view next to them, with 200 / 403 ``insufficient_scope`` / 401.

Checklist items: TOK-07 (a token over HTTP), BEARER-05, BEARER-06, BEARER-08, RSV-07, DPOP-20.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NO_TOKEN_CHALLENGE
from tests.servers import serving

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
READ, WRITE = "inventory:read", "inventory:write"
#: Behind a TLS-terminating proxy: uvicorn believes X-Forwarded-Proto from 127.0.0.1.
HTTPS = {"X-Forwarded-Proto": "https"}

SETTINGS = """
from tests.settings import *  # noqa: F403

DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {database!r}}}}}
"""

SETUP = """
import json
from oauth_cc.models import Client, Scope
from oauth_cc.server import keys
from demo_project.models import Item

keys.rotate()
for name in ("inventory:read", "inventory:write"):
    Scope.objects.get_or_create(name=name)
Item.objects.create(name="bolts", quantity=7)
clients = {}
for role, scope in (("reader", "inventory:read"), ("writer", "inventory:write")):
    client = Client.objects.create(name=role, allowed_scopes=scope, default_scopes=scope)
    clients[role] = [client.client_id, client.add_secret()]
print(json.dumps(clients))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """uvicorn in a subprocess; yields (base URL, {role: [client_id, secret]})."""
    folder = tmp_path_factory.mktemp("asgi")
    (folder / "asgi_settings.py").write_text(
        SETTINGS.format(database=str(folder / "db.sqlite3")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTH_CC_TEST")}
    env.update(DJANGO_SETTINGS_MODULE="asgi_settings",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(folder)]))
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    django_admin = [sys.executable, "-m", "django"]
    subprocess.run([*django_admin, "migrate", "--noinput", "-v", "0"], env=env, check=True,
                   cwd=ROOT, timeout=120)
    setup = subprocess.run([*django_admin, "shell", "-c", SETUP], env=env, check=True,
                           cwd=ROOT, timeout=60, capture_output=True, text=True)
    clients = json.loads(setup.stdout.strip().splitlines()[-1])
    with serving(lambda port: [
            sys.executable, "-m", "uvicorn", "demo_project.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
            "--no-access-log", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"],
            env=env, cwd=ROOT, what="uvicorn") as server:
        yield server.url, clients
    # No unexpected exception was logged by the server during the tests.
    assert b"Traceback" not in server.errors, server.errors.decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def tokens(server: tuple[str, dict[str, Any]]) -> dict[str, str]:
    """A token for each client, from the token endpoint under uvicorn."""
    url, clients = server
    found = {}
    with httpx.Client(base_url=url, timeout=20) as http:
        for role, (client_id, secret) in clients.items():
            response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client_id, secret), headers=HTTPS)
            assert response.status_code == 200, response.text
            assert response.headers["Cache-Control"] == "no-store"
            assert response.json()["token_type"] == "Bearer"
            found[role] = response.json()["access_token"]
    return found


PROTECTED = [
    "/api/async/stock",   # async function view, scopes_required
    "/api/async/stats",   # async class-based view, ProtectedResourceMixin
    "/api/whoami",        # sync DRF view
    "/api/plain/stock",   # sync plain view
]


@pytest.mark.parametrize("path", PROTECTED)
def test_reader_gets_200_TOK_07(server, tokens, path):
    url, clients = server
    with httpx.Client(base_url=url, timeout=20) as http:
        for _ in range(2):  # first sight, then the verified-token cache
            response = http.get(path, headers={**HTTPS,
                                               "Authorization": f"Bearer {tokens['reader']}"})
            assert response.status_code == 200, response.text
    if path == "/api/async/stock":
        assert response.json() == {"client_id": clients["reader"][0],
                                   "stock": [{"name": "bolts", "quantity": 7}]}


@pytest.mark.parametrize("path", PROTECTED)
def test_writer_gets_403_insufficient_scope_RSV_07(server, tokens, path):
    url, _ = server
    with httpx.Client(base_url=url, timeout=20) as http:
        response = http.get(path, headers={**HTTPS,
                                           "Authorization": f"Bearer {tokens['writer']}"})
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="insufficient_scope"')
    assert f'scope="{READ}"' in challenge
    assert response.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("path", PROTECTED)
def test_no_token_gets_401_and_a_bare_challenge_BEARER_08_DPOP_20(server, path):
    url, _ = server
    with httpx.Client(base_url=url, timeout=20) as http:
        response = http.get(path, headers=HTTPS)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == NO_TOKEN_CHALLENGE


@pytest.mark.parametrize("path", PROTECTED)
def test_bad_token_gets_401_invalid_token_BEARER_06(server, tokens, path):
    url, _ = server
    with httpx.Client(base_url=url, timeout=20) as http:
        response = http.get(path, headers={**HTTPS,
                                           "Authorization": f"Bearer {tokens['reader']}x"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_open_async_view(server):
    url, _ = server
    with httpx.Client(base_url=url, timeout=20) as http:
        assert http.get("/api/async/health").json() == {"status": "ok"}


def test_concurrent_requests_on_the_async_views(server, tokens):
    # Many requests at once on the server's one event loop: all answered, none refused.
    url, _ = server

    async def main() -> list[int]:
        headers = {**HTTPS, "Authorization": f"Bearer {tokens['reader']}"}
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            responses = await asyncio.gather(*(
                http.get(PROTECTED[i % 2], headers=headers) for i in range(100)))
        return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 100
