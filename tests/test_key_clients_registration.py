"""Registering key-, certificate- and DPoP-based clients in the admin and with createclient,
then using them at the token endpoint (CAUTH-08, JWTCA-08, MTLS-02, DPOP-14)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from oauth_cc.models import Client
from tests.conftest import assert_error, post_token
from tests.test_admin import add_form
from tests.test_client_assertions import (
    body,
    client_private_key,
    jwks_text,
    public_jwk,
    sign,
)

GRANT = {"grant_type": "client_credentials"}
ADD_URL = "/admin/oauth_cc/client/add/"


def es256_jwks() -> str:
    return jwks_text(public_jwk(client_private_key("ES256"), "ES256", "k1"))


# --- admin ------------------------------------------------------------------------------------

def test_admin_registers_a_private_key_jwt_client_without_a_secret_CAUTH_08(
        admin_client: Any, client: Any, signing_key: Any) -> None:
    """CAUTH-08: a key-based client gets no secret; its assertion gets a token."""
    from oauth_cc.models import Scope

    Scope.objects.create(name="read")
    response = admin_client.post(ADD_URL, add_form(
        token_endpoint_auth_method="private_key_jwt", jwks=es256_jwks()), follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "No secret was generated" in page
    created = Client.objects.get(name="billing service")
    assert created.secrets.count() == 0
    token = post_token(client, body(sign(created.client_id, client_private_key("ES256"),
                                         "ES256")))
    assert token.status_code == 200, token.content


@pytest.mark.parametrize("fields, field, text", [
    ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks", "public keys"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "{not json"}, "jwks", ""),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example/"},
     "jwks_uri", "https"),
    ({"token_endpoint_auth_method": "tls_client_auth"}, "tls_client_auth_subject_dn", "one"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a",
      "tls_client_auth_san_dns": "a.example"}, "tls_client_auth_san_dns", "only one"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_ip": "nope"},
     "tls_client_auth_san_ip", "IP"),
])
def test_admin_shows_what_a_method_needs_JWTCA_08_MTLS_02(
        admin_client: Any, db: Any, fields: dict[str, str], field: str, text: str) -> None:
    """JWTCA-08, MTLS-02: the form names the field that is missing or wrong; nothing is
    created."""
    from oauth_cc.models import Scope

    Scope.objects.create(name="read")
    response = admin_client.post(ADD_URL, add_form(**fields))

    assert response.status_code == 200  # the form again, with errors
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert text in " ".join(errors[field])
    assert not Client.objects.filter(name="billing service").exists()


def test_admin_client_page_has_key_and_binding_fields(admin_client: Any, db: Any) -> None:
    page = admin_client.get(ADD_URL).content.decode()
    for name in ("jwks", "jwks_uri", "tls_client_auth_subject_dn", "tls_client_auth_san_dns",
                 "dpop_bound_access_tokens", "tls_client_certificate_bound_access_tokens"):
        assert f'name="{name}"' in page, name


# --- createclient ---------------------------------------------------------------------------

def run(*args: str) -> str:
    out = io.StringIO()
    call_command("createclient", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_createclient_private_key_jwt_from_a_jwks_file_CAUTH_08_JWTCA_08(
        client: Any, signing_key: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(es256_jwks())
    created = json.loads(run("svc", "--scope", "read", "--auth-method", "private_key_jwt",
                             "--jwks", str(keys), "--json"))

    assert "client_secret" not in created
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    text = run("svc2", "--scope", "read", "--auth-method", "private_key_jwt",
               "--jwks", str(keys))
    assert "client_secret" not in text and "No secret" in text
    response = post_token(client, body(sign(created["client_id"], client_private_key("ES256"),
                                            "ES256")))
    assert response.status_code == 200, response.content


def test_createclient_refuses_a_key_client_without_keys_JWTCA_08(db: Any,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="jwks"):
        run("svc", "--scope", "read", "--auth-method", "private_key_jwt")
    with pytest.raises(CommandError, match="cannot read"):
        run("svc", "--scope", "read", "--auth-method", "private_key_jwt",
            "--jwks", str(tmp_path / "missing.json"))
    assert not Client.objects.exists()


def test_createclient_client_secret_jwt_gets_a_secret_long_enough_for_hs512_JWTCA_08(
        client: Any, signing_key: Any) -> None:
    created = json.loads(run("svc", "--scope", "read", "--auth-method", "client_secret_jwt",
                             "--json"))
    secret = created["client_secret"]
    assert len(secret.encode()) >= 64
    response = post_token(client, body(sign(created["client_id"], secret, "HS512", kid=None)))
    assert response.status_code == 200, response.content


def test_createclient_tls_client_auth_with_a_subject_MTLS_02(db: Any) -> None:
    created = json.loads(run("svc", "--scope", "read", "--auth-method", "tls_client_auth",
                             "--subject-dn", "CN=billing,O=Example", "--certificate-bound",
                             "--json"))
    stored = Client.objects.get(client_id=created["client_id"])
    assert "client_secret" not in created
    assert stored.tls_client_auth_subject_dn == "CN=billing,O=Example"
    assert stored.tls_client_certificate_bound_access_tokens is True


def test_createclient_dpop_required_DPOP_14_X_10(client: Any, signing_key: Any) -> None:
    created = json.loads(run("svc", "--scope", "read", "--dpop-required", "--json"))

    assert Client.objects.get(client_id=created["client_id"]).dpop_bound_access_tokens
    response = post_token(client, GRANT, auth=(created["client_id"], created["client_secret"]))
    assert_error(response, "invalid_dpop_proof")
