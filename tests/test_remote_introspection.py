"""Remote introspection mode: a resource server in another project checks each token at the
authorization server's introspection endpoint (RFC 7662), over real HTTP to pytest-django's
``live_server`` running our own authorization server in this process.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import basic, bearer
from tests.test_remote_mode import issue

WHOAMI = "/api/whoami"
INTROSPECT_PATH = "/oauth/introspect"
CACHE_SECONDS = 30


@pytest.fixture
def reader(make_client: Callable[..., Any]) -> tuple[str, str]:
    client, secret = make_client(scope="inventory:read inventory:write", default_scope=None)
    return client.client_id, secret


@pytest.fixture
def introspecting(remote: Callable[..., str], live_server: Any, make_client: Any,
                  settings: Any, fake_clock: Any) -> Callable[..., None]:
    """Remote mode with introspection, as a project without oauth_cc's tables would set it.
    The live server stands behind a "TLS proxy": every request to it counts as HTTPS."""
    settings.SECURE_PROXY_SSL_HEADER = ("SERVER_PROTOCOL", "HTTP/1.1")
    inspector, secret = make_client(can_introspect=True, name="resource server")

    def configure(**overrides: Any) -> None:
        remote(**{"INTROSPECTION_ENDPOINT": f"{live_server.url}{INTROSPECT_PATH}",
                  "INTROSPECTION_CLIENT_ID": inspector.client_id,
                  "INTROSPECTION_CLIENT_SECRET": secret,
                  "INTROSPECTION_CACHE_SECONDS": CACHE_SECONDS, **overrides})

    configure()
    return configure


def revoke(live_server: Any, client_id: str, secret: str, token: str) -> None:
    request = urllib.request.Request(  # noqa: S310 (loopback http only)
        f"{live_server.url}/oauth/revoke", data=urlencode({"token": token}).encode(),
        headers={"Authorization": basic(client_id, secret),
                 "Content-Type": "application/x-www-form-urlencoded"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        assert response.status == 200


def test_revoked_jwt_is_refused_within_the_cache_time_REV_06_INTRO_03(
        client, live_server, introspecting, reader, live_paths, fake_clock):
    # REV-06: a resource server in another project refuses a revoked token, within
    # INTROSPECTION_CACHE_SECONDS; INTRO-03: it reads `active` from the answer.
    token = issue(live_server, *reader)
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert live_paths.count(INTROSPECT_PATH) == 1  # the answer is remembered
    revoke(live_server, *reader, token)
    fake_clock.advance(CACHE_SECONDS)
    refused = client.get(WHOAMI, **bearer(token))
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="The access token is not active."')
    assert live_paths.count(INTROSPECT_PATH) == 2


def test_opaque_token_is_accepted_by_introspection_RSV_04_INTRO_03(
        client, live_server, introspecting, make_client):
    # RSV-04: the audience of an opaque token comes from the answer and must be ours.
    c, secret = make_client(scope="inventory:read", default_scope="inventory:read",
                            token_format="opaque")
    token = issue(live_server, c.client_id, secret)
    assert token.startswith("occat_")
    response = client.get(WHOAMI, **bearer(token))
    assert response.status_code == 200, response.content
    assert response.json()["client_id"] == c.client_id


def test_opaque_token_for_another_audience_is_refused_RSV_04(
        client, live_server, introspecting, make_client):
    # RSV-04
    c, secret = make_client(scope="inventory:read", default_scope="inventory:read",
                            token_format="opaque")
    token = issue(live_server, c.client_id, secret)
    introspecting(RESOURCE_AUDIENCE="https://another-api.example.test")
    response = client.get(WHOAMI, **bearer(token))
    assert response.status_code == 401
    assert "not meant for this resource" in response["WWW-Authenticate"]


def test_answer_is_never_kept_past_exp_RSV_06(
        client, live_server, introspecting, make_client, live_paths, fake_clock):
    # RSV-06: an opaque token past its exp is refused, however long answers are kept.
    c, secret = make_client(scope="inventory:read", default_scope="inventory:read",
                            token_format="opaque", access_token_lifetime=10)
    token = issue(live_server, c.client_id, secret)
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    fake_clock.advance(11)
    assert client.get(WHOAMI, **bearer(token)).status_code == 401


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_authorization_server_fails_closed_RSV_09(
        client, live_server, introspecting, reader, closed_port, caplog):
    # RSV-09 DEC: without an answer the token cannot be verified: 401, nothing remembered,
    # and the log line names no token.
    token = issue(live_server, *reader)
    introspecting(INTROSPECTION_ENDPOINT=f"http://127.0.0.1:{closed_port}/oauth/introspect")
    response = client.get(WHOAMI, **bearer(token))
    assert response.status_code == 401
    assert "cannot be verified right now" in response["WWW-Authenticate"]
    assert token not in caplog.text
    introspecting()
    assert client.get(WHOAMI, **bearer(token)).status_code == 200


def test_wrong_introspection_credentials_fail_closed_CAUTH_09(
        client, live_server, introspecting, reader):
    # CAUTH-09: the introspection endpoint authenticates the resource server.
    token = issue(live_server, *reader)
    introspecting(INTROSPECTION_CLIENT_SECRET="not-the-secret")
    assert client.get(WHOAMI, **bearer(token)).status_code == 401


def test_answer_holds_the_claims_the_resource_needs_INTRO_03(
        client, live_server, introspecting, reader):
    # INTRO-03: active, with the members the resource server reads.
    token = issue(live_server, *reader)
    assert client.get(WHOAMI, **bearer(token)).status_code == 200
    from oauth_cc.resource import introspection

    answers = [introspection.answers.peek(key) for key in introspection.answers.keys()]
    assert len(answers) == 1
    assert answers[0]["active"] is True
    assert {"client_id", "exp", "aud", "iss", "jti", "scope"} <= set(answers[0])
    assert json.dumps(answers[0])  # plain JSON, nothing else
