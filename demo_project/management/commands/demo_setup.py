"""``manage.py demo_setup``: make the demo usable; safe to run again and again."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from oauth_cc import clock
from oauth_cc.models import Client, Scope, SigningKey
from oauth_cc.server import keys

DEMO_CLIENT = "demo-client"
DEMO_OPAQUE_CLIENT = "demo-opaque-client"
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
            admin_password = self._ensure_admin()

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
        self.stdout.write(f"Discovery (RFC 8414): {base}/.well-known/oauth-authorization-server")
        self.stdout.write(f"JWKS: {base}/oauth/jwks\n")

    def _client(self, name: str, *, can_introspect: bool, token_format: str
                ) -> tuple[Client, str]:
        client, _ = Client.objects.update_or_create(
            name=name,
            defaults={
                "allowed_scopes": " ".join(sorted(SCOPES)),
                "default_scopes": "inventory:read",
                "description": "Created by make demo",
                "can_introspect": can_introspect,
                "token_format": token_format,
            },
        )
        # The old secret cannot be shown again (only its hash is kept): replace it.
        client.secrets.filter(revoked_at__isnull=True).update(revoked_at=clock.now())
        return client, client.add_secret(label="demo")

    def _ensure_admin(self) -> str | None:
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists():
            return None
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@example.invalid", password)
        return password
