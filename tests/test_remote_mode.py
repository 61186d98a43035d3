"""Remote mode: the resource server verifies tokens with the authorization server's JWKS,
fetched over real HTTP from pytest-django's ``live_server`` running our own authorization
server (RSV-03, RSV-04, RSV-05, RSV-09, JWKS-07).

Remote mode is ``OAUTH_CC["JWKS_URI"]`` set. The live server runs in this process, so it
shares the settings, the clock (``oauth_cc.clock.source``) and the in-memory database with the
test; ``request_started`` tells how often it was asked for the JWKS.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from oauth_cc import caches, jose
from oauth_cc.models import SigningKey
from oauth_cc.server import keys
from tests.conftest import (
    AUDIENCE,
    ISSUER,
    _private_key,
    basic,
    bearer,
    forge,
    valid_claims,
)

ROOT = Path(__file__).resolve().parent.parent
JWKS_PATH = "/oauth/jwks"
WHOAMI = "/api/whoami"
READ = "inventory:read"
OTHER_API = "https://other-api.example.test"
OTHER_ISSUER = "https://other-as.example.test"
CACHE_SECONDS = 300  # REMOTE_JWKS_CACHE_SECONDS default
MIN_REFRESH = 30  # REMOTE_JWKS_MIN_REFRESH_SECONDS default


# --- a URLconf for tests that need the live JWKS to fail or to redirect -----------------------
# Tests switch ROOT_URLCONF to this module: the demo API stays, the JWKS answers 503, and
# /redirect sends the client wherever ?to= says (a redirect the JWKS client must not follow
# into another scheme). Changing ROOT_URLCONF does not touch OAUTH_CC, so no cache is cleared.

def _jwks_unavailable(request: HttpRequest) -> HttpResponse:
    return HttpResponse("down for maintenance", status=503, content_type="text/plain")


def _redirect(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(status=302)
    response["Location"] = request.GET["to"]
    return response


urlpatterns = [
    path("oauth/jwks", _jwks_unavailable),
    path("redirect", _redirect),
    path("", include("demo_project.urls")),
]


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _fresh_validation_caches() -> Iterator[None]:
    caches.clear()
    yield
    caches.clear()


@pytest.fixture
def reader(make_client: Callable[..., Any]) -> tuple[str, str]:
    client, secret = make_client(scope="inventory:read inventory:write", default_scope=None)
    return client.client_id, secret


def issue(live_server: Any, client_id: str, secret: str, scope: str = READ) -> str:
    """An access token from the live authorization server's token endpoint."""
    request = urllib.request.Request(  # noqa: S310 (loopback http only)
        f"{live_server.url}/oauth/token",
        data=urlencode({"grant_type": "client_credentials", "scope": scope}).encode(),
        headers={
            "Authorization": basic(client_id, secret),
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-Proto": "https",  # the live server stands behind a "TLS proxy"
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        assert response.status == 200
        return json.load(response)["access_token"]


def sign_with_stored_key(kid: str, **claims: Any) -> str:
    """A token signed with the stored private key of ``kid``, as an AS process that already
    promoted it would sign (this process's promote() would also clear this RS's caches)."""
    row = SigningKey.objects.get(kid=kid)
    private_key = keys.decrypt_private_key(row.encrypted_private_key)
    return jwt.encode(valid_claims(**claims), private_key, algorithm=row.algorithm,
                      headers={"typ": "at+jwt", "kid": kid})


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["error"] == "invalid_token"


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- verification against the live JWKS -------------------------------------------------------

def test_live_token_validates_and_warm_call_does_no_query_RSV_05(
        remote, reader, live_server, client, django_assert_num_queries):
    """A token from the live AS verifies with its served JWKS (RSV-05); once the JWKS is
    cached, a protected call does no database query in this thread."""
    client_id, secret = reader
    first_token, second_token = (issue(live_server, client_id, secret) for _ in range(2))

    first = client.get(WHOAMI, **bearer(first_token))  # warms the JWKS cache
    assert first.status_code == 200, first.content
    assert first.json()["client_id"] == client_id

    with django_assert_num_queries(0):
        second = client.get(WHOAMI, **bearer(second_token))  # not in the verified cache
    assert second.status_code == 200, second.content
    assert second.json()["client_id"] == client_id
    assert second.json()["scope"] == READ


def test_jwks_fetched_once_and_cached_RSV_09(remote, live_paths, client):
    # RSV-09: many protected calls, each verifying a signature, cost one JWKS fetch.
    # RSV-09
    remote(VERIFIED_TOKEN_CACHE_SIZE=0)
    for n in range(15):
        token = forge(valid_claims(scope=READ, client_id=f"client-{n}"))
        response = client.get(WHOAMI, **bearer(token))
        assert response.status_code == 200, response.content
        assert response.json()["client_id"] == f"client-{n}"
    assert live_paths.count(JWKS_PATH) == 1


def test_unknown_kid_flood_refetches_at_most_once_per_interval_RSV_09(
        remote, live_paths, client, fake_clock):
    """RSV-09: an unknown kid may trigger a refetch, but a flood of them (the kid is untrusted
    input) costs at most one fetch per REMOTE_JWKS_MIN_REFRESH_SECONDS."""
    warm = client.get(WHOAMI, **bearer(forge(valid_claims(scope=READ))))
    assert warm.status_code == 200
    assert live_paths.count(JWKS_PATH) == 1

    odd_kids = ["../../../etc/passwd", f"http://127.0.0.1:{closed_port()}/jwks", "x" * 200]
    for kid in [f"bogus-{n}" for n in range(20)] + odd_kids:
        token = forge(valid_claims(scope=READ), header={"kid": kid})
        assert_invalid_token(client.get(WHOAMI, **bearer(token)))
    assert live_paths.count(JWKS_PATH) == 1, "refetched within the minimum interval"

    fake_clock.advance(MIN_REFRESH)
    for n in range(20):
        token = forge(valid_claims(scope=READ), header={"kid": f"bogus-later-{n}"})
        assert_invalid_token(client.get(WHOAMI, **bearer(token)))
    assert live_paths.count(JWKS_PATH) == 2, "one refetch once the interval has passed"

    fake_clock.advance(MIN_REFRESH - 1)
    token = forge(valid_claims(scope=READ), header={"kid": "bogus-again"})
    assert_invalid_token(client.get(WHOAMI, **bearer(token)))
    assert live_paths.count(JWKS_PATH) == 2


def test_jku_and_x5u_are_never_followed_RSV_09(remote, live_server, live_paths, client):
    # RSV-09: never follow jku / x5u, even when they point at a reachable server.
    # RSV-09
    attacker_key = _private_key("ES256")
    attacker_kid = jose.public_jwk(attacker_key, "ES256")["kid"]
    token = jwt.encode(
        valid_claims(scope=READ), attacker_key, algorithm="ES256",
        headers={"typ": "at+jwt", "kid": attacker_kid,
                 "jku": f"{live_server.url}/attacker/jwks.json",
                 "x5u": f"{live_server.url}/attacker/cert.pem"},
    )
    assert_invalid_token(client.get(WHOAMI, **bearer(token)))
    assert not any(p.startswith("/attacker/") for p in live_paths)


# --- rotation (JWKS-07) -----------------------------------------------------------------------

def test_pending_key_is_picked_up_before_it_signs_JWKS_07(
        remote, reader, live_server, live_paths, client, fake_clock):
    """JWKS-07: a new key is published before use; the RS learns it at its next scheduled
    refresh, so the first token signed with it needs no extra fetch."""
    client_id, secret = reader
    old_token = issue(live_server, client_id, secret)
    assert client.get(WHOAMI, **bearer(old_token)).status_code == 200
    assert live_paths.count(JWKS_PATH) == 1

    (done,) = keys.rotate(algorithm="ES256")
    assert "published, not yet signing" in done
    new_kid = SigningKey.objects.get(state=SigningKey.State.PENDING).kid
    # The AS keeps signing with the old key while the new one is only published.
    assert kid_of(issue(live_server, client_id, secret)) == kid_of(old_token)

    fake_clock.advance(CACHE_SECONDS)
    assert client.get(WHOAMI, **bearer(old_token)).status_code == 200
    assert live_paths.count(JWKS_PATH) == 2  # the scheduled refresh, which sees the new key

    new_token = sign_with_stored_key(new_kid, scope=READ)
    response = client.get(WHOAMI, **bearer(new_token))
    assert response.status_code == 200, response.content
    assert live_paths.count(JWKS_PATH) == 2


def test_rotation_picked_up_without_restart_JWKS_07_RSV_09(
        remote, reader, live_server, live_paths, client, fake_clock):
    """A token with a kid the cached JWKS lacks is refused until REMOTE_JWKS_MIN_REFRESH_SECONDS
    have passed since the last fetch, then the refetch finds the new key (RSV-09, JWKS-07)."""
    client_id, secret = reader
    old_token = issue(live_server, client_id, secret)
    assert client.get(WHOAMI, **bearer(old_token)).status_code == 200
    assert live_paths.count(JWKS_PATH) == 1

    keys.rotate(algorithm="ES256")  # a pending key: published now, not in the RS cache
    new_kid = SigningKey.objects.get(state=SigningKey.State.PENDING).kid
    new_token = sign_with_stored_key(new_kid, scope=READ)

    fake_clock.advance(MIN_REFRESH - 1)
    assert_invalid_token(client.get(WHOAMI, **bearer(new_token)))
    assert live_paths.count(JWKS_PATH) == 1  # rate-limited: no refetch yet

    fake_clock.advance(1)
    response = client.get(WHOAMI, **bearer(new_token))
    assert response.status_code == 200, response.content
    assert live_paths.count(JWKS_PATH) == 2

    # The AS promotes the key; the old one is retired but still published (JWKS-07).
    # promote() also clears this process's caches, as the AS and RS share a process here.
    keys.rotate()
    promoted_token = issue(live_server, client_id, secret)
    assert kid_of(promoted_token) == new_kid
    for token in (promoted_token, old_token):
        response = client.get(WHOAMI, **bearer(token))
        assert response.status_code == 200, response.content
        assert response.json()["client_id"] == client_id


# --- fetch failures -----------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["closed port", "404 path"])
def test_jwks_fetch_failure_is_401_and_logged_without_token_RSV_09(
        remote, live_server, client, caplog, where):
    # RSV-05: no key, no acceptance; an unreachable JWKS is a 401 invalid_token, never a 500.
    # RSV-09
    uri = (f"http://127.0.0.1:{closed_port()}/oauth/jwks" if where == "closed port"
           else f"{live_server.url}/oauth/jwks-missing")
    remote(JWKS_URI=uri)
    token = forge(valid_claims(scope=READ))
    with caplog.at_level(logging.DEBUG, logger="oauth_cc"):
        response = client.get(WHOAMI, **bearer(token))
    assert_invalid_token(response)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and r.name.startswith("oauth_cc")]
    assert warnings and "JWKS" in warnings[0].getMessage()
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_failing_jwks_is_not_refetched_on_every_request_RSV_09(
        remote, live_server, live_paths, client, fake_clock):
    # RSV-09: refetches are rate-limited, also while the AS is failing.
    # RSV-09
    remote(JWKS_URI=f"{live_server.url}/oauth/jwks-missing")
    for _ in range(10):
        assert_invalid_token(client.get(WHOAMI, **bearer(forge(valid_claims(scope=READ)))))
    assert live_paths.count("/oauth/jwks-missing") <= 1


def test_stale_jwks_served_while_the_as_fails_RSV_09(
        remote, live_paths, client, settings, fake_clock, caplog):
    """After a successful fetch, a failing JWKS endpoint keeps the cached keys in use, and the
    failing endpoint is retried at most every REMOTE_JWKS_MIN_REFRESH_SECONDS (RSV-09)."""
    remote(VERIFIED_TOKEN_CACHE_SIZE=0)

    def call() -> Any:
        return client.get(WHOAMI, **bearer(forge(valid_claims(scope=READ))))

    assert call().status_code == 200
    assert live_paths.count(JWKS_PATH) == 1

    settings.ROOT_URLCONF = __name__  # the live JWKS now answers 503
    fake_clock.advance(CACHE_SECONDS)  # the cached JWKS is due for a refresh
    with caplog.at_level(logging.WARNING, logger="oauth_cc"):
        response = call()
    assert response.status_code == 200, response.content  # served from the stale keys
    assert live_paths.count(JWKS_PATH) == 2
    assert any("cannot fetch the JWKS" in r.getMessage() for r in caplog.records)

    for _ in range(5):
        assert call().status_code == 200
    fake_clock.advance(MIN_REFRESH - 1)
    assert call().status_code == 200
    assert live_paths.count(JWKS_PATH) == 2  # no retry inside the minimum interval

    fake_clock.advance(1)
    assert call().status_code == 200
    assert live_paths.count(JWKS_PATH) == 3  # one retry, still failing, still stale keys


# --- what JWKS_URI may point at ---------------------------------------------------------------

def _jwks_file(tmp_path: Path) -> Path:
    """A file holding the real JWKS: if it were ever read, the token would verify."""
    jwk = jose.public_jwk(_private_key("RS256"), "RS256")
    target = tmp_path / "jwks.json"
    target.write_text(json.dumps({"keys": [jwk]}))
    return target


@pytest.mark.parametrize("scheme", ["file", "FILE"])
def test_file_scheme_jwks_uri_is_never_read_RSV_05(remote, client, tmp_path, caplog, scheme):
    # RSV-05: the keys come from the AS over http(s) only.
    # RSV-05
    target = _jwks_file(tmp_path)
    token = forge(valid_claims(scope=READ))
    # Control: the file's keys do verify the token, so a 401 means the file was not read.
    file_key = jwt.PyJWKSet.from_dict(json.loads(target.read_text()))[kid_of(token)]
    jwt.decode(token, file_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    remote(JWKS_URI=f"{scheme}://{target}")
    with caplog.at_level(logging.DEBUG, logger="oauth_cc"):
        response = client.get(WHOAMI, **bearer(token))
    assert_invalid_token(response)
    assert any(r.levelno >= logging.ERROR for r in caplog.records)


def test_etc_passwd_jwks_uri_is_401_RSV_05(remote, client):
    # RSV-05
    remote(JWKS_URI="file:///etc/passwd")
    assert_invalid_token(client.get(WHOAMI, **bearer(forge(valid_claims(scope=READ)))))


def test_redirect_to_file_scheme_is_not_followed_RSV_05(
        remote, live_server, live_paths, client, settings, tmp_path):
    # RSV-05
    target = _jwks_file(tmp_path)
    settings.ROOT_URLCONF = __name__
    remote(JWKS_URI=f"{live_server.url}/redirect?to={quote(f'file://{target}', safe='')}")
    assert_invalid_token(client.get(WHOAMI, **bearer(forge(valid_claims(scope=READ)))))
    assert live_paths.count("/redirect") == 1


# --- issuer and audience (RSV-03, RSV-04) -----------------------------------------------------

def test_token_for_another_api_is_refused_RSV_04(remote, reader, live_server, client):
    # RSV-04
    client_id, secret = reader
    token = issue(live_server, client_id, secret)  # aud: the AS's DEFAULT_AUDIENCE
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    remote(RESOURCE_AUDIENCE=OTHER_API)
    response = client.get(WHOAMI, **bearer(token))
    assert_invalid_token(response)
    assert "not meant for this resource" in response.json()["error_description"]
    for aud in (OTHER_API, [AUDIENCE, OTHER_API]):
        response = client.get(WHOAMI, **bearer(forge(valid_claims(scope=READ, aud=aud))))
        assert response.status_code == 200, response.content
        assert OTHER_API in response.json()["aud"]


def test_trusted_issuer_setting_is_respected_RSV_03(remote, reader, live_server, client):
    # RSV-03
    client_id, secret = reader
    token = issue(live_server, client_id, secret)  # iss: the AS's ISSUER
    remote(TRUSTED_ISSUER=OTHER_ISSUER)
    response = client.get(WHOAMI, **bearer(token))
    assert_invalid_token(response)
    assert "untrusted issuer" in response.json()["error_description"]
    trusted = forge(valid_claims(scope=READ, iss=OTHER_ISSUER))
    assert client.get(WHOAMI, **bearer(trusted)).status_code == 200
    near_miss = forge(valid_claims(scope=READ, iss=OTHER_ISSUER + "/"))
    assert_invalid_token(client.get(WHOAMI, **bearer(near_miss)))


# --- the resource-server half alone -----------------------------------------------------------

RESOURCE_SERVER_ONLY = """
import json
import sys

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="resource-server-only",
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    DATABASES={},
    OAUTH_CC=json.loads(sys.argv[1]),
)
django.setup()

from oauth_cc.errors import InvalidToken
from oauth_cc.resource.verification import verify

try:
    print(verify(sys.argv[2]).client_id)
    code = 0
except InvalidToken as error:
    print(error.description)
    code = 3
print("authorization server loaded:", "oauth_cc.models" in sys.modules)
sys.exit(code)
"""


def run_resource_server(tmp_path: Path, config: dict[str, Any], token: str
                        ) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "resource_server_only.py"
    script.write_text(RESOURCE_SERVER_ONLY)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, str(script), json.dumps(config), token],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False,
    )


@pytest.fixture
def resource_server_config(remote: Callable[..., str]) -> dict[str, Any]:
    return {"JWKS_URI": remote(), "TRUSTED_ISSUER": ISSUER, "RESOURCE_AUDIENCE": AUDIENCE}


def test_resource_server_works_without_the_authorization_server_app_RSV_05(
        resource_server_config, reader, live_server, live_paths, tmp_path):
    # RSV-05
    client_id, secret = reader
    token = issue(live_server, client_id, secret)
    result = run_resource_server(tmp_path, resource_server_config, token)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [client_id, "authorization server loaded: False"]
    assert live_paths.count(JWKS_PATH) == 1


def test_resource_server_alone_refuses_a_bogus_token_RSV_05(
        resource_server_config, tmp_path):
    # RSV-05
    bogus = forge(valid_claims(), header={"kid": "bogus-kid"})
    result = run_resource_server(tmp_path, resource_server_config, bogus)
    assert result.returncode == 3, result.stderr
    assert result.stdout.splitlines() == ["The token's signing key is unknown.",
                                          "authorization server loaded: False"]
    garbage = run_resource_server(tmp_path, resource_server_config, "not-a-jwt")
    assert garbage.returncode == 3, garbage.stderr
    assert garbage.stdout.splitlines()[0] == "The access token is malformed."


def test_resource_server_alone_without_issuer_setting_fails_closed_RSV_03(
        resource_server_config, tmp_path):
    # RSV-03: iss must equal the configured issuer; with none configured, nothing matches.
    # RSV-03
    config = {k: v for k, v in resource_server_config.items() if k != "TRUSTED_ISSUER"}
    token = forge(valid_claims(iss="https://anyone.example.test"))
    result = run_resource_server(tmp_path, config, token)
    assert result.returncode == 3, result.stdout
