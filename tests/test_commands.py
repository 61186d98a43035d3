"""Management commands: createclient, listclients, rotatekeys."""

from __future__ import annotations

import hashlib
import io
import json
import re
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from oauth_cc.models import Client, ClientSecret, Scope, SigningKey
from oauth_cc.server import keys
from tests.conftest import JWKS_URL, install_key, post_token, verify

GRANT = {"grant_type": "client_credentials"}


def run(*args: Any, **options: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def create_json(*args: str) -> dict[str, Any]:
    return json.loads(run("createclient", *args, "--json"))


def every_stored_value() -> list[str]:
    """Every value of every column of every table, as text."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from introspection)
            for row in cursor.fetchall():
                values.extend(
                    bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                    for v in row
                )
    return values


@pytest.fixture
def es256_settings(settings: Any, db: Any) -> Any:
    """New keys are ES256 (fast to generate) unless a test says otherwise."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "SIGNING_ALGORITHM": "ES256"}
    return settings


# --- createclient -----------------------------------------------------------------------------

def test_createclient_prints_client_id_and_secret_once(client, signing_key):
    output = run("createclient", "billing service", "--scope", "read write")
    client_id = re.search(r"^client_id:\s+(\S+)$", output, re.M).group(1)
    secret = re.search(r"^client_secret:\s+(\S+)$", output, re.M).group(1)
    assert output.count(secret) == 1
    assert "Registered new scopes: read write" in output
    stored = Client.objects.get(client_id=client_id)
    assert stored.name == "billing service"
    assert secret.startswith("occs_")
    response = post_token(client, GRANT, auth=(client_id, secret))
    assert response.status_code == 200


def test_createclient_json_credentials_authenticate_at_the_token_endpoint_CAUTH_02(
    client, signing_key
):
    # CAUTH-02
    created = create_json("svc", "--scope", "read write", "--default-scope", "read")
    assert set(created) >= {"client_id", "client_secret"}
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    response = post_token(
        client, {**GRANT, "scope": "write"},
        auth=(created["client_id"], created["client_secret"]),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "write"
    assert verify(client, body["access_token"])["client_id"] == created["client_id"]
    default = post_token(client, GRANT, auth=(created["client_id"], created["client_secret"]))
    assert default.json()["scope"] == "read"  # SCOPE-03: the default, announced


def test_createclient_registers_its_scopes(db):
    Scope.objects.create(name="read")
    output = run("createclient", "svc", "--scope", "read write admin:all")
    assert "Registered new scopes: admin:all write" in output
    assert set(Scope.objects.values_list("name", flat=True)) == {"read", "write", "admin:all"}
    client = Client.objects.get()
    assert client.allowed_scopes == "admin:all read write"
    assert client.default_scopes == "admin:all read write"


@pytest.mark.parametrize(
    "scope", ['read "quoted"', "back\\slash", "caf\u00e9"]
)
def test_createclient_refuses_invalid_scope_syntax_SCOPE_01(db, scope):
    # SCOPE-01
    with pytest.raises(CommandError):
        run("createclient", "svc", "--scope", scope)
    assert not Client.objects.exists()
    assert not Scope.objects.exists()


def test_createclient_refuses_default_scope_outside_the_allowed_ones(db):
    with pytest.raises(CommandError, match="default_scopes"):
        run("createclient", "svc", "--scope", "read", "--default-scope", "write")
    assert not Client.objects.exists()
    assert not Scope.objects.exists()  # the transaction was rolled back


def test_createclient_client_secret_post_uses_body_credentials_CAUTH_04_CAUTH_07(
    client, signing_key
):
    # CAUTH-04, CAUTH-07
    created = create_json("svc", "--scope", "read", "--auth-method", "client_secret_post")
    assert created["token_endpoint_auth_method"] == "client_secret_post"
    body = {**GRANT, "client_id": created["client_id"], "client_secret": created["client_secret"]}
    response = post_token(client, body)
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"

    # Basic is not the registered method for this client.
    basic = post_token(client, GRANT, auth=(created["client_id"], created["client_secret"]))
    assert basic.status_code == 401
    assert basic.json()["error"] == "invalid_client"
    assert basic["WWW-Authenticate"].startswith("Basic realm=")


def test_createclient_refuses_an_unknown_auth_method(db):
    with pytest.raises(CommandError):
        run("createclient", "svc", "--auth-method", "none")
    assert not Client.objects.exists()


@pytest.mark.parametrize(("lifetime", "expected"), [("120", 120), ("100000", 3600)])
def test_createclient_lifetime_is_capped_by_max_lifetime_TOK_10(
    client, signing_key, lifetime, expected
):
    # TOK-10
    created = create_json("svc", "--scope", "read", "--lifetime", lifetime)
    response = post_token(client, GRANT, auth=(created["client_id"], created["client_secret"]))
    assert response.status_code == 200
    assert response.json()["expires_in"] == expected
    claims = verify(client, response.json()["access_token"])
    assert claims["exp"] - claims["iat"] == expected


@pytest.mark.parametrize("lifetime", ["0", "-5"])
def test_createclient_refuses_a_lifetime_below_one_second(db, lifetime):
    with pytest.raises(CommandError):
        run("createclient", "svc", "--lifetime", lifetime)
    assert not Client.objects.exists()


def test_createclient_stores_only_the_sha256_digest_GEN_07(db):
    # GEN-07
    created = create_json("svc", "--scope", "read")
    secret = created["client_secret"]
    stored = ClientSecret.objects.get(client__client_id=created["client_id"])
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    values = every_stored_value()
    assert stored.digest in values  # the scan does see the secret table
    assert not [value for value in values if secret in value]
    assert not [value for value in values if secret[len("occs_"):] in value]


def test_createclient_secret_has_at_least_160_random_bits_GEN_06(db):
    # GEN-06
    secret = create_json("svc")["client_secret"]
    body = secret.removeprefix("occs_")
    assert re.fullmatch(r"[A-Za-z0-9]+", body)
    assert len(body) * 5.95 >= 160  # log2(62) ≈ 5.95 bits per character


# --- listclients ------------------------------------------------------------------------------

def test_listclients_text_never_prints_secrets(db):
    first = create_json("first svc", "--scope", "read")
    second = create_json("second svc", "--auth-method", "client_secret_post")
    output = run("listclients")
    for created in (first, second):
        assert created["client_id"] in output
        assert created["client_secret"] not in output
        assert created["client_secret"][5:15] not in output
        digest = hashlib.sha256(created["client_secret"].encode()).hexdigest()
        assert digest not in output
    assert "first svc" in output
    assert "1 usable secret(s)" in output
    assert "client_secret_post" in output


def test_listclients_json_never_prints_secrets(db):
    created = create_json("svc", "--scope", "read write")
    output = run("listclients", "--json")
    assert created["client_secret"] not in output
    (row,) = json.loads(output)
    assert row["client_id"] == created["client_id"]
    assert row["scope"] == "read write"
    assert row["usable_secrets"] == 1
    assert not {"client_secret", "secret", "digest"} & set(row)


def test_listclients_without_clients(db):
    assert "No clients" in run("listclients")
    assert json.loads(run("listclients", "--json")) == []


# --- rotatekeys -------------------------------------------------------------------------------

def test_rotatekeys_steps_bootstrap_pending_promote_JWKS_07(client, es256_settings):
    # JWKS-07
    output = run("rotatekeys")
    first = SigningKey.objects.get()
    assert first.state == SigningKey.State.ACTIVE
    assert f"created and activated {first.kid}" in output

    output = run("rotatekeys")
    second = SigningKey.objects.get(state=SigningKey.State.PENDING)
    assert second.kid in output
    assert "not yet signing" in output
    assert {jwk["kid"] for jwk in client.get(JWKS_URL, secure=True).json()["keys"]} == {
        first.kid, second.kid,
    }

    output = run("rotatekeys")
    assert f"activated {second.kid}" in output
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (SigningKey.State.RETIRED, SigningKey.State.ACTIVE)
    assert first.publish_until is not None
    assert {jwk["kid"] for jwk in client.get(JWKS_URL, secure=True).json()["keys"]} == {
        first.kid, second.kid,
    }


def test_rotatekeys_bootstrap_key_signs_tokens_JWT_01(client, es256_settings, make_client):
    # JWT-01
    run("rotatekeys")
    oauth_client, secret = make_client()
    response = post_token(client, GRANT, auth=(oauth_client.client_id, secret))
    assert response.status_code == 200
    assert verify(client, response.json()["access_token"])["sub"] == oauth_client.client_id


def test_rotatekeys_list_shows_keys_and_changes_nothing(es256_settings, db):
    assert run("rotatekeys", "--list") == ""
    run("rotatekeys")
    run("rotatekeys")
    run("rotatekeys")
    before = list(SigningKey.objects.values_list("kid", "state", "publish_until"))
    output = run("rotatekeys", "--list")
    assert list(SigningKey.objects.values_list("kid", "state", "publish_until")) == before
    lines = output.splitlines()
    assert len(lines) == 2
    for kid, state, publish_until in before:
        (line,) = [line for line in lines if line.startswith(kid)]
        assert "ES256" in line
        assert state in line
        if publish_until is not None:
            assert f"until {publish_until:%Y-%m-%d %H:%M:%S}Z" in line


def test_rotatekeys_now_replaces_the_active_key_in_one_step(client, es256_settings):
    old = install_key("EdDSA")
    output = run("rotatekeys", "--now")
    new = SigningKey.objects.get(state=SigningKey.State.ACTIVE)
    assert new.kid != old.kid
    assert new.algorithm == "ES256"
    assert f"created and activated {new.kid}" in output
    old.refresh_from_db()
    assert old.state == SigningKey.State.RETIRED
    served = {jwk["kid"] for jwk in client.get(JWKS_URL, secure=True).json()["keys"]}
    assert served == {old.kid, new.kid}


def test_rotatekeys_now_discards_a_prepared_pending_key(client, es256_settings):
    install_key("EdDSA")
    pending = install_key("RS256", state=SigningKey.State.PENDING)
    output = run("rotatekeys", "--now")
    assert f"removed pending {pending.kid}" in output
    pending.refresh_from_db()
    assert pending.state == SigningKey.State.REMOVED
    assert bytes(pending.encrypted_private_key) == b""
    served = {jwk["kid"] for jwk in client.get(JWKS_URL, secure=True).json()["keys"]}
    assert pending.kid not in served
    assert SigningKey.objects.get(state=SigningKey.State.ACTIVE).algorithm == "ES256"


def test_rotatekeys_algorithm_option_overrides_the_setting_JWKS_03(client, settings, db):
    # JWKS-03
    settings.OAUTH_CC = {**settings.OAUTH_CC, "SIGNING_ALGORITHM": "EdDSA"}
    run("rotatekeys", "--algorithm", "ES256")
    key = SigningKey.objects.get()
    assert key.algorithm == "ES256"
    (jwk,) = client.get(JWKS_URL, secure=True).json()["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")
    run("rotatekeys")
    assert SigningKey.objects.get(state=SigningKey.State.PENDING).algorithm == "EdDSA"


@pytest.mark.parametrize("algorithm", ["HS256", "none", "RS512"])
def test_rotatekeys_refuses_unsupported_algorithms_JWT_01(db, algorithm):
    # JWT-01
    with pytest.raises(CommandError):
        run("rotatekeys", "--algorithm", algorithm)
    assert not SigningKey.objects.exists()


def test_rotatekeys_without_key_encryption_keys_is_a_command_error(settings, db):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "KEY_ENCRYPTION_KEYS": []}
    with pytest.raises(CommandError, match="KEY_ENCRYPTION_KEYS"):
        run("rotatekeys", "--algorithm", "ES256")
    assert not SigningKey.objects.exists()


def test_rotatekeys_reencrypt_reports_the_count(settings, db):
    install_key("ES256")
    install_key("EdDSA", state=SigningKey.State.PENDING)
    new_kek = Fernet.generate_key().decode()
    settings.OAUTH_CC = {
        **settings.OAUTH_CC,
        "KEY_ENCRYPTION_KEYS": [new_kek, *settings.OAUTH_CC["KEY_ENCRYPTION_KEYS"]],
    }
    assert "Re-encrypted 2 private key(s)." in run("rotatekeys", "--reencrypt")
    for key in SigningKey.objects.all():
        Fernet(new_kek).decrypt(bytes(key.encrypted_private_key))


def test_rotatekeys_reencrypt_with_unrelated_keys_is_a_command_error(settings, db):
    install_key("ES256")
    settings.OAUTH_CC = {
        **settings.OAUTH_CC, "KEY_ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
    }
    with pytest.raises(CommandError, match="KEY_ENCRYPTION_KEYS"):
        run("rotatekeys", "--reencrypt")


def test_rotatekeys_prunes_expired_retired_keys(es256_settings, client, monkeypatch):
    from oauth_cc import clock

    run("rotatekeys")
    run("rotatekeys")
    run("rotatekeys")
    retired = SigningKey.objects.get(state=SigningKey.State.RETIRED)
    later = retired.publish_until.timestamp()
    monkeypatch.setattr(clock, "source", lambda: later)
    output = run("rotatekeys")
    assert f"removed {retired.kid}" in output
    retired.refresh_from_db()
    assert retired.state == SigningKey.State.REMOVED
    assert bytes(retired.encrypted_private_key) == b""
    served = {jwk["kid"] for jwk in client.get(JWKS_URL, secure=True).json()["keys"]}
    assert retired.kid not in served
    assert keys.prune() == []
