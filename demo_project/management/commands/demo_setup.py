"""``manage.py demo_setup``: make the demo usable; safe to run again and again.

Besides ``demo-client`` (secret) and ``demo-opaque-client``, it registers one client per
way a standard client library can authenticate (``python -m demo_project.clients``):
``demo-key-client`` (``private_key_jwt``, an ES256 key pair), ``demo-jwt-secret-client``
(``client_secret_jwt``) and ``demo-dpop-client`` (DPoP-bound tokens required). What that
script needs is written to ``settings.DEMO_STATE_DIR`` (git-ignored, mode 0600): the
private JWK, kept across runs, and the client_ids and the secrets of this run.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from jwt.algorithms import get_default_algorithms

from oauth_cc import clock, jose
from oauth_cc.models import Client, Scope, SigningKey
from oauth_cc.server import keys

DEMO_CLIENT = "demo-client"
DEMO_OPAQUE_CLIENT = "demo-opaque-client"
DEMO_KEY_CLIENT = "demo-key-client"
DEMO_JWT_SECRET_CLIENT = "demo-jwt-secret-client"
DEMO_DPOP_CLIENT = "demo-dpop-client"
#: Files in ``settings.DEMO_STATE_DIR``, read by ``demo_project.clients``.
PRIVATE_JWK_FILE = "demo-key-client.jwk.json"
CLIENTS_FILE = "clients.json"
#: The examples of ``python -m demo_project.clients``.
EXAMPLES = (
    "private_key_jwt-authlib",
    "private_key_jwt-requests-oauth2client",
    "client_secret_jwt-authlib",
    "client_secret_jwt-requests-oauth2client",
    "dpop-requests-oauth2client",
)
SCOPES = {
    "inventory:read": "Read inventory items",
    "inventory:write": "Create and delete inventory items",
}


class Command(BaseCommand):
    help = "Ensure a signing key, demo scopes and a demo client exist; print how to use them."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for name, description in SCOPES.items():
                Scope.objects.get_or_create(name=name, defaults={"description": description})
            if not SigningKey.objects.filter(state=SigningKey.State.ACTIVE).exists():
                for line in keys.rotate():
                    self.stdout.write(f"signing key: {line}")
            # The demo client may also introspect, so that one secret shows everything.
            client, secret = self._client(DEMO_CLIENT, can_introspect=True, token_format="")
            opaque, opaque_secret = self._client(DEMO_OPAQUE_CLIENT, can_introspect=False,
                                                 token_format="opaque")
            state_dir = getattr(settings, "DEMO_STATE_DIR", None)
            private_jwk = self._private_jwk(Path(state_dir) if state_dir else None)
            key_client, _ = self._client(
                DEMO_KEY_CLIENT, can_introspect=False, token_format="",
                token_endpoint_auth_method="private_key_jwt",
                jwks=json.dumps({"keys": [public_only(private_jwk)]}), with_secret=False)
            # client_secret_jwt: the method is set before the secret is made, so that the
            # server keeps the secret encrypted (it checks the MAC with the secret itself).
            jwt_client, jwt_secret = self._client(
                DEMO_JWT_SECRET_CLIENT, can_introspect=False, token_format="",
                token_endpoint_auth_method="client_secret_jwt")
            dpop_client, dpop_secret = self._client(
                DEMO_DPOP_CLIENT, can_introspect=False, token_format="",
                token_endpoint_auth_method="client_secret_basic",
                dpop_bound_access_tokens=True)
            admin_password = self._ensure_admin()
        if state_dir:
            write_private(Path(state_dir) / CLIENTS_FILE, {
                DEMO_KEY_CLIENT: {"client_id": key_client.client_id},
                DEMO_JWT_SECRET_CLIENT: {"client_id": jwt_client.client_id,
                                         "client_secret": jwt_secret},
                DEMO_DPOP_CLIENT: {"client_id": dpop_client.client_id,
                                   "client_secret": dpop_secret},
            })

        port = getattr(settings, "PORT", 8000)
        base = f"http://127.0.0.1:{port}"
        verify_prefix = "" if port == 8000 else f"DEMO_PORT={port} "
        self.stdout.write(self.style.SUCCESS("\noauth_cc demo is ready.\n"))
        self.stdout.write(f"  client_id:     {client.client_id}")
        self.stdout.write(f"  client_secret: {secret}   (new on every run; only its hash is kept)")
        if admin_password:
            self.stdout.write(f"  admin:         {base}/admin/  user 'admin', "
                              f"password '{admin_password}'")
        else:
            self.stdout.write(f"  admin:         {base}/admin/  (user 'admin'; reset with "
                              "'.venv/bin/python manage.py changepassword admin')")
        self.stdout.write("\nGet a token:\n")
        self.stdout.write(
            f"  curl -s -u '{client.client_id}:{secret}' "
            f"-d grant_type=client_credentials -d scope=inventory:read {base}/oauth/token\n"
        )
        self.stdout.write("Call the protected API (paste these into the same shell):\n")
        self.stdout.write(
            f"  TOKEN=$(curl -s -u '{client.client_id}:{secret}' -d grant_type=client_credentials "
            f"-d scope=inventory:read {base}/oauth/token | .venv/bin/python -c "
            "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
            f'  curl -i -H "Authorization: Bearer $TOKEN" {base}/api/items/'
            "              # 200: the token has inventory:read\n"
            f'  curl -i -H "Authorization: Bearer $TOKEN" -d name=bolt -d quantity=5 '
            f"{base}/api/items/   # 403 insufficient_scope: needs inventory:write\n"
            f"  curl -i {base}/api/items/"
            "                                          # 401: no token\n"
            f'  curl -i -H "Authorization: Bearer $TOKEN" {base}/api/whoami\n'
            f'  {verify_prefix}.venv/bin/python -m demo_project.verify_token "$TOKEN"'
            "    # verify it against the JWKS yourself\n"
        )
        self.stdout.write(
            "For a token that may write, add -d scope='inventory:read inventory:write' "
            "to the token request.\n"
        )
        self.stdout.write("The same token at an async view and at a django-ninja API "
                          "(a write-only token shows the 403):\n")
        self.stdout.write(
            f"  WRITER=$(curl -s -u '{client.client_id}:{secret}' -d grant_type=client_credentials "
            f"-d scope=inventory:write {base}/oauth/token | .venv/bin/python -c "
            "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
            f'  curl -i -H "Authorization: Bearer $TOKEN" {base}/api/async/stock'
            "          # 200 (async def view)\n"
            f'  curl -i -H "Authorization: Bearer $WRITER" {base}/api/async/stock'
            "         # 403 insufficient_scope\n"
            f"  curl -i {base}/api/async/stock"
            "                                        # 401: no token\n"
            f'  curl -i -H "Authorization: Bearer $TOKEN" {base}/api/ninja/items'
            "           # 200 (django-ninja)\n"
            f'  curl -i -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
            f"-d '{{\"name\": \"bolt\", \"quantity\": 5}}' {base}/api/ninja/items"
            "   # 403: needs inventory:write\n"
            f"  curl -i {base}/api/ninja/items"
            "                                         # 401: no token\n"
            f"  Ninja's OpenAPI with the clientCredentials flow and each operation's scopes: "
            f"{base}/api/ninja/docs\n"
        )
        auth = f"-u '{client.client_id}:{secret}'"
        self.stdout.write("Introspect, revoke, and see the API refuse the revoked token:\n")
        self.stdout.write(
            f'  curl -s {auth} -d "token=$TOKEN" {base}/oauth/introspect'
            "      # active: true\n"
            f'  curl -i {auth} -d "token=$TOKEN" {base}/oauth/revoke'
            "          # 200\n"
            f'  curl -i -H "Authorization: Bearer $TOKEN" {base}/api/items/'
            "              # 401 invalid_token\n"
            f'  curl -s {auth} -d "token=$TOKEN" {base}/oauth/introspect'
            "      # active: false\n"
        )
        self.stdout.write(f"Opaque tokens (client {DEMO_OPAQUE_CLIENT}):\n")
        self.stdout.write(
            f"  OPAQUE=$(curl -s -u '{opaque.client_id}:{opaque_secret}' "
            f"-d grant_type=client_credentials {base}/oauth/token | .venv/bin/python -c "
            "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
            f'  curl -i -H "Authorization: Bearer $OPAQUE" {base}/api/whoami\n'
        )
        self._print_library_examples(
            state_dir=Path(state_dir) if state_dir else None, port_prefix=verify_prefix,
            key_client=key_client, jwt_client=(jwt_client, jwt_secret),
            dpop_client=(dpop_client, dpop_secret))
        self.stdout.write(f"Discovery (RFC 8414): {base}/.well-known/oauth-authorization-server")
        self.stdout.write(f"JWKS: {base}/oauth/jwks\n")

    def _print_library_examples(self, *, state_dir: Path | None, port_prefix: str,
                                key_client: Client, jwt_client: tuple[Client, str],
                                dpop_client: tuple[Client, str]) -> None:
        self.stdout.write("Standard client libraries (Authlib, requests-oauth2client; the "
                          "demo extra):\n")
        (jwt_client, jwt_secret), (dpop_client, dpop_secret) = jwt_client, dpop_client
        key_file = state_dir / PRIVATE_JWK_FILE if state_dir else None
        self.stdout.write(f"  {DEMO_KEY_CLIENT} (private_key_jwt, ES256): "
                          f"client_id {key_client.client_id}, private JWK in "
                          f"{key_file or '(not saved: DEMO_STATE_DIR is not set)'}")
        self.stdout.write(f"  {DEMO_JWT_SECRET_CLIENT} (client_secret_jwt): "
                          f"client_id {jwt_client.client_id}, client_secret {jwt_secret}")
        self.stdout.write(f"  {DEMO_DPOP_CLIENT} (client_secret_basic, DPoP required): "
                          f"client_id {dpop_client.client_id}, client_secret {dpop_secret}")
        if state_dir is None:
            self.stdout.write("  (DEMO_STATE_DIR is not set: nothing saved for the examples)\n")
            return
        self.stdout.write(f"  These secrets are new on every run too; this run's are saved "
                          f"for the examples in {state_dir / CLIENTS_FILE} (mode 0600).\n")
        for example in EXAMPLES:
            self.stdout.write(f"  {port_prefix}.venv/bin/python -m demo_project.clients "
                              f"{example}")
        self.stdout.write("")

    @sensitive_variables("private_jwk")
    def _private_jwk(self, state_dir: Path | None) -> dict[str, Any]:
        """The ES256 private JWK of demo-key-client: the saved one, or a new key pair (saved
        when there is a state folder)."""
        path = state_dir / PRIVATE_JWK_FILE if state_dir else None
        if path is not None and path.exists():
            saved: dict[str, Any] = json.loads(path.read_text())
            return saved
        private_key = ec.generate_private_key(ec.SECP256R1())
        public = jose.public_jwk(private_key, "ES256")
        private_jwk = {**get_default_algorithms()["ES256"].to_jwk(private_key, as_dict=True),
                       "kid": public["kid"], "use": "sig", "alg": "ES256"}
        if path is not None:
            write_private(path, private_jwk)
            self.stdout.write(f"Wrote {path} with a new ES256 key pair for {DEMO_KEY_CLIENT}.")
        return private_jwk

    def _client(self, name: str, *, can_introspect: bool, token_format: str,
                with_secret: bool = True, **fields: Any) -> tuple[Client, str]:
        client, _ = Client.objects.update_or_create(
            name=name,
            defaults={
                "allowed_scopes": " ".join(sorted(SCOPES)),
                "default_scopes": "inventory:read",
                "description": "Created by make demo",
                "can_introspect": can_introspect,
                "token_format": token_format,
                **fields,
            },
        )
        # The old secret cannot be shown again (only its hash is kept): replace it.
        client.secrets.filter(revoked_at__isnull=True).update(revoked_at=clock.now())
        return client, client.add_secret(label="demo") if with_secret else ""

    def _ensure_admin(self) -> str | None:
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists():
            return None
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@example.invalid", password)
        return password


def public_only(private_jwk: dict[str, Any]) -> dict[str, Any]:
    """The public members of an EC JWK, as the client registers them."""
    return {name: private_jwk[name] for name in ("kty", "crv", "x", "y", "kid", "use", "alg")}


def write_private(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as JSON readable by the owner only (0600, folder 0700), replacing
    the file in one step."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)  # an older .partial may have had another mode
        json.dump(document, file, indent=2)
        file.write("\n")
    os.replace(partial, path)
