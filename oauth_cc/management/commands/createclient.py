"""``manage.py createclient NAME``: register a client and print its secret once."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from oauth_cc import scopes
from oauth_cc.models import Audience, Client, Scope, TokenEndpointAuthMethod, TokenFormat
from oauth_cc.registry import client_auth_method_choices, client_auth_methods


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
        parser.add_argument("--jwks", default="",
                            help="the client's public keys: a file holding a JWK Set "
                                 "(private_key_jwt, self_signed_tls_client_auth)")
        parser.add_argument("--jwks-uri", default="",
                            help="an https URL where the client publishes its JWK Set")
        for name, what in (("subject-dn", "subject DN (RFC 4514)"), ("san-dns", "SAN dNSName"),
                           ("san-uri", "SAN URI"), ("san-ip", "SAN IP address"),
                           ("san-email", "SAN rfc822Name")):
            parser.add_argument(f"--{name}", default="",
                                help=f"tls_client_auth: the certificate's {what}")
        parser.add_argument("--dpop-required", action="store_true",
                            help="every token request needs a DPoP proof (RFC 9449 §5.2)")
        parser.add_argument("--certificate-bound", action="store_true",
                            help="bind tokens to the client's TLS certificate (RFC 8705 §3)")
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
        jwks = ""
        if options["jwks"]:
            try:
                with open(options["jwks"], encoding="utf-8") as handle:
                    jwks = handle.read()
            except OSError as exc:
                raise CommandError(f"--jwks: cannot read the file ({exc.strerror}).") from None
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
                jwks=jwks,
                jwks_uri=options["jwks_uri"],
                tls_client_auth_subject_dn=options["subject_dn"],
                tls_client_auth_san_dns=options["san_dns"],
                tls_client_auth_san_uri=options["san_uri"],
                tls_client_auth_san_ip=options["san_ip"],
                tls_client_auth_san_email=options["san_email"],
                dpop_bound_access_tokens=options["dpop_required"],
                tls_client_certificate_bound_access_tokens=options["certificate_bound"],
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
            method = client_auth_methods.get(client.token_endpoint_auth_method)
            # Key- and certificate-based methods authenticate without a secret: none is made.
            secret = (client.add_secret(label="created by createclient")
                      if method is None or method.uses_secret else None)
        if options["json"]:
            self.stdout.write(json.dumps({
                "client_id": client.client_id,
                **({"client_secret": secret} if secret is not None else {}),
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
        if secret is None:
            self.stdout.write(f"No secret: {client.token_endpoint_auth_method} authenticates "
                              "with the client's key or certificate.")
            return
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write("Store the secret now: it is not kept and cannot be shown again.")
