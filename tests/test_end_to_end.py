"""End to end over a real HTTP server: a standard client gets a token and verifies it with
PyJWT using nothing but the served JWKS (JWT-01, JWT-02, JWKS-01, JWKS-04)."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from urllib.error import HTTPError

import jwt
import pytest
from django.core.management import call_command

from demo_project.management.commands.demo_setup import Command as DemoSetup
from tests.conftest import AUDIENCE, ISSUER, post_token, verify

ROOT = Path(__file__).resolve().parent.parent


def _token_request(url: str, client_id: str, secret: str) -> urllib.request.Request:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return urllib.request.Request(  # noqa: S310 (loopback http only)
        url,
        data=b"grant_type=client_credentials&scope=read",
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            # The live server speaks plain HTTP; it stands behind a "TLS proxy" here.
            "X-Forwarded-Proto": "https",
        },
        method="POST",
    )


def test_live_server_token_verifies_with_jwks_only_JWT_01_JWKS_04(live_server, settings,
                                                                   api_client):
    # JWT-01, JWKS-04
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client, secret = api_client
    request = _token_request(f"{live_server.url}/oauth/token", client.client_id, secret)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = json.load(response)
    jwks_client = jwt.PyJWKClient(f"{live_server.url}/oauth/jwks", timeout=10)
    signing_key = jwks_client.get_signing_key_from_jwt(body["access_token"])
    claims = jwt.decode(body["access_token"], signing_key, algorithms=["RS256"],
                        audience=AUDIENCE, issuer=ISSUER)
    assert claims["client_id"] == client.client_id
    assert claims["scope"] == "read"


def test_live_server_wrong_secret_gets_basic_challenge_CAUTH_03(live_server, settings,
                                                                api_client):
    # CAUTH-03
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client, _ = api_client
    request = _token_request(f"{live_server.url}/oauth/token", client.client_id, "wrong")
    with pytest.raises(HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 (loopback)
    assert caught.value.code == 401
    assert caught.value.headers["WWW-Authenticate"].startswith('Basic realm="')
    assert json.load(caught.value)["error"] == "invalid_client"


def test_demo_setup_prints_working_credentials(client, db):
    """make demo's setup step, run twice: the second run prints a new, working secret."""
    for _ in range(2):
        out = io.StringIO()
        call_command(DemoSetup(), stdout=out)
        text = out.getvalue()
        client_id = re.search(r"client_id:\s+(\S+)", text).group(1)
        secret = re.search(r"client_secret:\s+(\S+)", text).group(1)
        response = post_token(client, {"grant_type": "client_credentials"},
                              auth=(client_id, secret))
        assert response.status_code == 200
        claims = verify(client, response.json()["access_token"])
        assert claims["scope"] == "inventory:read"
    assert "curl -s -u" in text and "/oauth/token" in text


def test_migrations_are_up_to_date(db):
    call_command("makemigrations", "oauth_cc", "--check", "--dry-run", verbosity=0)


def test_wheel_contains_migrations_templates_and_py_typed(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("oauth_cc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "oauth_cc/migrations/0001_initial.py" in names
    assert "oauth_cc/py.typed" in names
    assert any(n.startswith("oauth_cc/templates/") and n.endswith(".html") for n in names)
    assert not any(n.startswith(("tests/", "demo_project/")) for n in names)
