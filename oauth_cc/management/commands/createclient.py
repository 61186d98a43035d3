"""``manage.py createclient NAME``: register a client and print its secret once."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from oauth_cc import scopes
from oauth_cc.models import Audience, Client, Scope, TokenEndpointAuthMethod, TokenFormat
from oauth_cc.registry import client_auth_method_choices


class Command(BaseCommand):
    help = "Register a client-credentials client. The secret is printed once and not stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a human-readable name")
        parser.add_argument("--scope", dest="scopes", default="",
                            help='allowed scopes, space-separated: --scope "read write"')
        parser.add_argument("--default-scope", dest="default_scopes", default=None,
                            help="scopes granted when a request names none "
                                 "(default: all allowed scopes)")
        parser.add_argument("--auth-method", default=TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
                            choices=[name for name, _ in client_auth_method_choices()])
        parser.add_argument("--lifetime", type=int, default=None,
                            help="access-token lifetime in seconds (default: the setting)")
        parser.add_argument("--audience", dest="audiences", default="",
                            help="allowed audiences (absolute URIs), space-separated; "
                                 "unregistered ones are registered")
        parser.add_argument("--token-format", choices=TokenFormat.values, default="",
                            help="jwt or opaque (default: OAUTH_CC['ACCESS_TOKEN_FORMAT'])")
        parser.add_argument("--introspect", action="store_true",
                            help="allow this client to call the introspection endpoint")
        parser.add_argument("--description", default="")
        parser.add_argument("--json", action="store_true",
                            help="print a JSON object with client_id and client_secret")

    def handle(self, *args: Any, **options: Any) -> None:
        allowed = options["scopes"].split()
        default = allowed if options["default_scopes"] is None else options[
            "default_scopes"].split()
        bad = [name for name in allowed + default if not scopes.is_scope_token(name)]
        if bad:
            raise CommandError("A scope name has characters RFC 6749 §3.3 does not allow.")
        with transaction.atomic():
            created = []
            for name in sorted(set(allowed)):
                _, new = Scope.objects.get_or_create(name=name)
                if new:
                    created.append(name)
            new_audiences = []
            client = Client(
                name=options["name"],
                description=options["description"],
                token_endpoint_auth_method=options["auth_method"],
                allowed_scopes=" ".join(allowed),
                default_scopes=" ".join(default),
                allowed_audiences=options["audiences"],
                access_token_lifetime=options["lifetime"],
                token_format=options["token_format"],
                can_introspect=options["introspect"],
            )
            try:
                client.full_clean()
            except ValidationError as exc:
                raise CommandError("; ".join(
                    f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
                )) from None
            for identifier in sorted(set(client.audience_list)):
                _, new = Audience.objects.get_or_create(identifier=identifier)
                if new:
                    new_audiences.append(identifier)
            try:
                with transaction.atomic():
                    client.save()
            except IntegrityError:  # the same name, registered since full_clean() looked
                raise CommandError(f"name: A client named {client.name!r} already exists."
                                   ) from None
            secret = client.add_secret(label="created by createclient")
        if options["json"]:
            self.stdout.write(json.dumps({
                "client_id": client.client_id,
                "client_secret": secret,
                "name": client.name,
                "scope": client.allowed_scopes,
                "default_scope": client.default_scopes,
                "token_endpoint_auth_method": client.token_endpoint_auth_method,
            }))
            return
        if created:
            self.stdout.write(f"Registered new scopes: {' '.join(created)}")
        if new_audiences:
            self.stdout.write(f"Registered new audiences: {' '.join(new_audiences)}")
        self.stdout.write(f"client_id:     {client.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write("Store the secret now: it is not kept and cannot be shown again.")
