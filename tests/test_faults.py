"""Database faults, made real on the test database itself: read-only (``PRAGMA query_only``)
and gone (the tables renamed away). Every endpoint answers
503 ``temporarily_unavailable`` JSON, never an error page; protected APIs keep accepting
valid JWTs from the keys they cached; when the database is back, service resumes by itself.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection

from tests.conftest import bearer, forge, get_token, post_token, valid_claims

pytestmark = [
    pytest.mark.skipif(connection.vendor != "sqlite",
                       reason="the faults are made with SQLite pragmas"),
    # Autocommit, as in production: a failed write must not poison a test-wide transaction.
    pytest.mark.django_db(transaction=True),
]

GRANT = {"grant_type": "client_credentials"}
WHOAMI = "/api/whoami"
TABLES = ("oauth_cc_client", "oauth_cc_clientsecret", "oauth_cc_signingkey", "oauth_cc_scope",
          "oauth_cc_revokedtoken", "oauth_cc_opaquetoken", "oauth_cc_audience")


@contextmanager
def read_only() -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only = ON")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = OFF")


@contextmanager
def gone() -> Iterator[None]:
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')


def assert_unavailable(response: Any, *secrets: str) -> None:
    """GEN-02: JSON, 503 temporarily_unavailable, Retry-After, no-store, nothing echoed."""
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": "temporarily_unavailable",
                               "error_description": "The service is temporarily unavailable."}
    for secret in secrets:
        assert secret not in response.content.decode()


@pytest.fixture
def opaque_client(make_client: Any, signing_key: Any) -> tuple[Any, str]:
    return make_client(scope="inventory:read", default_scope="inventory:read",
                       token_format="opaque")


@pytest.fixture
def jwt_client(make_client: Any, signing_key: Any) -> tuple[Any, str]:
    return make_client(scope="inventory:read", default_scope="inventory:read")


def test_writes_fail_with_503_and_resume_GEN_02(client, opaque_client, jwt_client, settings):
    # GEN-02: an unwritable database: the writing endpoints answer 503 JSON, in DEBUG too
    # (never Django's debug page, which would show the caller's credentials). A full disk
    # raises the same OperationalError, through the same path.
    settings.DEBUG = True
    c, secret = opaque_client
    j, j_secret = jwt_client
    token = get_token(client, j, j_secret)
    with read_only():
        assert_unavailable(post_token(client, GRANT, auth=(c.client_id, secret)), secret)
        assert_unavailable(post_token(client, {"token": token}, url="/oauth/revoke",
                                      auth=(j.client_id, j_secret)), token, j_secret)
        # JWTs are issued without a write, and accepted without a read.
        assert post_token(client, GRANT, auth=(j.client_id, j_secret)).status_code == 200
        assert client.get(WHOAMI, **bearer(token)).status_code == 200
    assert post_token(client, GRANT, auth=(c.client_id, secret)).status_code == 200
    assert post_token(client, {"token": token}, url="/oauth/revoke",
                      auth=(j.client_id, j_secret)).status_code == 200
    assert client.get(WHOAMI, **bearer(token)).status_code == 401


def test_database_gone_every_endpoint_503_apis_keep_working_GEN_02_RSV_05(
        client, jwt_client, make_client):
    # GEN-02: every endpoint of the authorization server answers 503 JSON; RSV-05: a
    # protected API keeps accepting valid JWTs with the keys it has cached, a token seen
    # before and a token seen for the first time alike.
    j, secret = jwt_client
    inspector, inspector_secret = make_client(can_introspect=True)
    seen = get_token(client, j, secret)
    assert client.get(WHOAMI, **bearer(seen)).status_code == 200
    first_sight = forge(valid_claims(scope="inventory:read"))
    with gone():
        assert_unavailable(post_token(client, GRANT, auth=(j.client_id, secret)), secret)
        assert_unavailable(post_token(client, {"token": seen}, url="/oauth/introspect",
                                      auth=(inspector.client_id, inspector_secret)), seen)
        assert_unavailable(post_token(client, {"token": seen}, url="/oauth/revoke",
                                      auth=(j.client_id, secret)), seen)
        assert_unavailable(client.get("/oauth/jwks", secure=True))
        assert_unavailable(client.get("/.well-known/oauth-authorization-server", secure=True))
        assert client.get(WHOAMI, **bearer(seen)).status_code == 200
        assert client.get(WHOAMI, **bearer(first_sight)).status_code == 200
    assert post_token(client, GRANT, auth=(j.client_id, secret)).status_code == 200


def test_opaque_token_cannot_be_checked_without_the_database_RSV_09(client, opaque_client):
    # RSV-09 DEC: an opaque token seen for the first time needs its row: without the
    # database it cannot be verified (401, not remembered); once back, it is accepted.
    c, secret = opaque_client
    token = get_token(client, c, secret)
    with gone():
        response = client.get(WHOAMI, **bearer(token))
        assert response.status_code == 401
        assert "cannot be verified right now" in response["WWW-Authenticate"]
    assert client.get(WHOAMI, **bearer(token)).status_code == 200


def test_unexpected_failure_is_json_500_even_in_debug_GEN_02(client, jwt_client, settings,
                                                             monkeypatch):
    # GEN-02: a bug inside an endpoint is 500 JSON server_error, never the debug page.
    from oauth_cc.server import grants

    settings.DEBUG = True
    c, secret = jwt_client

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(grants.issuing, "issue", broken)
    response = post_token(client, GRANT, auth=(c.client_id, secret))
    assert response.status_code == 500
    assert response.json() == {"error": "server_error",
                               "error_description": "The server could not answer this request."}
    assert secret not in response.content.decode()
