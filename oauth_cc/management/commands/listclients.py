"""``manage.py listclients``: registered clients, without secrets."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from oauth_cc.models import Client, ClientSecret


class Command(BaseCommand):
    help = "List registered clients (never their secrets)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        usable = ClientSecret.objects.usable().filter(client=OuterRef("pk"))
        clients = Client.objects.annotate(usable_secrets=Coalesce(Subquery(
            usable.order_by().values("client").annotate(n=Count("pk")).values("n")), 0))
        rows = [
            {
                "client_id": c.client_id,
                "name": c.name,
                "is_active": c.is_active,
                "token_endpoint_auth_method": c.token_endpoint_auth_method,
                "scope": c.allowed_scopes,
                "default_scope": c.default_scopes,
                "usable_secrets": c.usable_secrets,
            }
            for c in clients
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        if not rows:
            self.stdout.write("No clients. Create one with: manage.py createclient NAME")
        for row in rows:
            state = "active" if row["is_active"] else "inactive"
            self.stdout.write(
                f"{row['client_id']}  {row['name']}  [{state}, {row['token_endpoint_auth_method']},"
                f" {row['usable_secrets']} usable secret(s)]  scope: {row['scope'] or '-'}"
            )
