"""The demo's client-library examples (``python -m demo_project.clients``), run as a user
runs them: ``manage.py migrate`` and ``demo_setup`` with the demo settings, then
``manage.py runserver`` on a free port on 127.0.0.1, all in a temporary folder (database and
``DEMO_STATE_DIR``), then each example as its own process (JWTCA-08, DPOP-11, DPOP-16,
DPOP-17).
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from demo_project import clients
from demo_project.management.commands import demo_setup
from tests.servers import free_port, serving

pytest.importorskip("authlib")
pytest.importorskip("requests_oauth2client")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo as ``make demo`` runs it, with its database and state in a temporary folder.
    Values set here win over a ``demo_project/.env`` (django-environ only fills gaps)."""
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()  # before the server starts: the demo's settings name it (DEMO_PORT)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OAUTH_CC", "DJANGO_", "DEMO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="demo_project.settings", PYTHONPATH=str(ROOT),
        DEBUG="true", SECRET_KEY=secrets.token_urlsafe(50),
        OAUTH_CC_KEY_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        DEMO_PORT=str(port), DEMO_STATE_DIR=str(folder / "state"),
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                   check=True, timeout=120, capture_output=True)
    setup = subprocess.run([*manage, "demo_setup"], env=env, cwd=ROOT, check=True,
                           timeout=60, capture_output=True, text=True)
    with serving(lambda port: [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
                 env=env, cwd=ROOT, what="manage.py runserver", port=port, new_session=True):
        yield {"env": env, "setup": setup.stdout, "state": folder / "state"}


def run_example(demo: dict[str, Any], example: str) -> str:
    done = subprocess.run([sys.executable, "-m", "demo_project.clients", example],
                          env=demo["env"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("example", [
    "private_key_jwt-authlib",
    "private_key_jwt-requests-oauth2client",
    "client_secret_jwt-authlib",
    "client_secret_jwt-requests-oauth2client",
])
def test_assertion_examples_get_a_token_and_call_the_api_JWTCA_08(demo, example):
    """JWTCA-08: each library authenticates with an assertion whose aud is the issuer,
    gets a Bearer token and calls the API with it."""
    out = run_example(demo, example)
    assert "token response: token_type=Bearer scope=inventory:read expires_in=600" in out
    assert re.search(r"GET http://127\.0\.0\.1:\d+/api/items/ -> 200\n", out), out
    assert "eyJ" not in out  # never the token, nor the assertion


def test_dpop_example_uses_a_bound_token_refused_as_bearer_DPOP_11_DPOP_16_DPOP_17(demo):
    """DPOP-11: a DPoP token for the DPoP-required client; DPOP-16: two calls, each with
    its own proof, both 200; DPOP-17: the same token as a Bearer token, 401."""
    out = run_example(demo, "dpop-requests-oauth2client")
    assert "token response: token_type=DPoP scope=inventory:read" in out
    assert len(re.findall(r"first proof: GET \S+ -> 200\n|second proof: GET \S+ -> 200\n",
                          out)) == 2, out
    assert re.search(r"as Bearer, no proof: GET \S+ -> 401\n"
                     r'  WWW-Authenticate: Bearer realm="api", error="invalid_token"', out), out
    assert "eyJ" not in out


def test_demo_setup_prints_the_examples_and_keeps_its_state_private(demo):
    """The five commands under their heading, after the curl lines; the state files are
    0600 in a 0700 folder and hold no private key but the demo client's own."""
    printed = demo["setup"]
    heading = printed.index("Standard client libraries")
    assert printed.rindex("curl ") < heading
    port = demo["env"]["DEMO_PORT"]
    for example in clients.EXAMPLES:
        assert (f"DEMO_PORT={port} .venv/bin/python -m demo_project.clients {example}"
                in printed[heading:])
    assert tuple(clients.EXAMPLES) == demo_setup.EXAMPLES
    state = demo["state"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in (demo_setup.CLIENTS_FILE, demo_setup.PRIVATE_JWK_FILE):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    saved = json.loads((state / demo_setup.CLIENTS_FILE).read_text())
    assert saved[demo_setup.DEMO_JWT_SECRET_CLIENT]["client_secret"] in printed
    assert saved[demo_setup.DEMO_DPOP_CLIENT]["client_secret"] in printed
    private_jwk = json.loads((state / demo_setup.PRIVATE_JWK_FILE).read_text())
    assert private_jwk["kty"] == "EC" and private_jwk["alg"] == "ES256" and "d" in private_jwk
    assert private_jwk["d"] not in printed


def test_demo_setup_again_keeps_the_key_and_replaces_the_secrets(db, settings, tmp_path):
    """A second run: the same clients and key pair (the registered JWK Set is the saved
    key's), new secrets saved in place of the old ones."""
    from django.core.management import call_command

    from oauth_cc.models import Client

    settings.DEMO_STATE_DIR = tmp_path / "state"
    runs = []
    for _ in range(2):
        call_command("demo_setup", stdout=io.StringIO())
        runs.append({name: (tmp_path / "state" / name).read_text()
                     for name in (demo_setup.CLIENTS_FILE, demo_setup.PRIVATE_JWK_FILE)})
    assert runs[0][demo_setup.PRIVATE_JWK_FILE] == runs[1][demo_setup.PRIVATE_JWK_FILE]
    first, second = (json.loads(run[demo_setup.CLIENTS_FILE]) for run in runs)
    for name in (demo_setup.DEMO_JWT_SECRET_CLIENT, demo_setup.DEMO_DPOP_CLIENT):
        assert first[name]["client_id"] == second[name]["client_id"]
        assert first[name]["client_secret"] != second[name]["client_secret"]
    key_client = Client.objects.get(name=demo_setup.DEMO_KEY_CLIENT)
    private_jwk = json.loads(runs[1][demo_setup.PRIVATE_JWK_FILE])
    assert key_client.jwks_keys == [demo_setup.public_only(private_jwk)]
    assert not key_client.secrets.exists()
    assert Client.objects.get(name=demo_setup.DEMO_DPOP_CLIENT).dpop_bound_access_tokens
