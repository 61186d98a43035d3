"""``manage.py importdot``: register django-oauth-toolkit's client-credentials applications
as oauth_cc clients, keeping each ``client_id`` and secret, so that no calling service changes
its credentials.

DOT's table is read with plain SQL (DOT need not be installed, and the table may be in
another database alias). A secret DOT stored in clear is stored here as its SHA-256 digest;
one it stored as a Django password hash is kept in ``ClientSecret.legacy_hash`` and replaced
by the digest on the client's first token request (``oauth_cc.server.client_secret``).
Nothing here prints a secret or a hash.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import identify_hasher
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.connection import ConnectionDoesNotExist
from django.views.decorators.debug import sensitive_variables

from oauth_cc import credentials, scopes
from oauth_cc.models import Client, ClientSecret, Scope, TokenEndpointAuthMethod

DEFAULT_TABLE = "oauth2_provider_application"
#: DOT's values (``AbstractApplication.CLIENT_CONFIDENTIAL``, ``GRANT_CLIENT_CREDENTIALS``).
CONFIDENTIAL = "confidential"
CLIENT_CREDENTIALS = "client-credentials"
LABEL = "imported from django-oauth-toolkit"
#: Columns every DOT version has; ``hash_client_secret`` (DOT 2.x and later) is optional.
_COLUMNS = ("client_id", "name", "client_type", "authorization_grant_type", "client_secret")
#: The shape of Django's encoded password hashes: ``algorithm$...``.
_HASH_SHAPE = re.compile(r"[A-Za-z0-9_]+\$.")
_CLIENT_ID_LENGTH = Client._meta.get_field("client_id").max_length or 100
_NAME_LENGTH = Client._meta.get_field("name").max_length or 200


class UnknownHasher(ValueError):
    """A stored secret is a password hash of an algorithm not in ``PASSWORD_HASHERS``."""


@dataclass
class Application:
    """One row of DOT's application table, as this command needs it."""

    client_id: str
    name: str
    client_type: str
    grant_type: str
    stored_secret: str
    hashed: bool | None  # DOT's hash_client_secret; None where the column does not exist

    def __repr__(self) -> str:  # never show the secret
        return f"Application(client_id={self.client_id!r})"


@dataclass
class Planned:
    """An application to register, with the secret columns to store."""

    application: Application
    name: str
    renamed: bool
    digest: str
    legacy_hash: str
    hint: str

    def __repr__(self) -> str:
        return f"Planned(client_id={self.application.client_id!r}, name={self.name!r})"


@sensitive_variables()
def secret_columns(stored: str, hashed: bool | None) -> tuple[str, str, str]:
    """``(digest, legacy_hash, hint)`` for a secret as DOT stored it.

    DOT checks a stored value with ``check_password`` when ``identify_hasher`` recognises it
    and compares it as plaintext otherwise; the same test decides here. A value that must be
    a hash (``hash_client_secret`` set) or looks like one (``algorithm$...``, where DOT
    predates that column) but whose algorithm is missing from ``PASSWORD_HASHERS`` raises
    ``UnknownHasher``: storing the digest of a hash would make the hash itself a secret.
    """
    try:
        identify_hasher(stored)
    except ValueError:
        if hashed or (hashed is None and _HASH_SHAPE.match(stored)):
            raise UnknownHasher from None
        return credentials.digest(stored), "", ClientSecret.imported_hint(stored)
    return ClientSecret.unmatchable_digest(), stored, ClientSecret.imported_hint()


def _quote(connection: BaseDatabaseWrapper, table: str) -> str:
    """``table`` quoted for SQL; ``schema.table`` becomes two quoted names."""
    return ".".join(connection.ops.quote_name(part) for part in table.split("."))


@sensitive_variables()
def read_applications(alias: str, table: str, client_ids: list[str]) -> list[Application]:
    """DOT's applications (only ``client_ids`` if given), by plain SQL on ``alias``."""
    try:
        connection = connections[alias]
    except ConnectionDoesNotExist:
        raise CommandError(f"No database {alias!r} in settings.DATABASES.") from None
    name = _quote(connection, table)
    quote = connection.ops.quote_name
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {name} WHERE 1 = 0")  # noqa: S608 (quoted name)
            present = {column[0] for column in cursor.description}
            missing = [column for column in _COLUMNS if column not in present]
            if missing:
                raise CommandError(f"Table {table!r} in database {alias!r} lacks the column(s) "
                                   f"{', '.join(missing)}: is it django-oauth-toolkit's "
                                   "application table?")
            columns = [*_COLUMNS, "hash_client_secret"] if "hash_client_secret" in present \
                else list(_COLUMNS)
            sql = f"SELECT {', '.join(quote(c) for c in columns)} FROM {name}"  # noqa: S608
            if client_ids:
                sql += f" WHERE {quote('client_id')} IN ({', '.join(['%s'] * len(client_ids))})"
            cursor.execute(sql + f" ORDER BY {quote('client_id')}", client_ids)
            rows = cursor.fetchall()
    except DatabaseError as exc:
        raise CommandError(f"Cannot read table {table!r} in database {alias!r} "
                           f"({type(exc).__name__}: {exc}).") from None
    return [
        Application(client_id=str(row[0]), name=str(row[1] or ""), client_type=str(row[2]),
                    grant_type=str(row[3]), stored_secret=str(row[4] or ""),
                    hashed=bool(row[5]) if len(row) > 5 else None)
        for row in rows
    ]


def skip_reason(application: Application, existing: set[str]) -> str | None:
    """Why ``application`` is not imported, or None."""
    if application.client_id in existing:
        return "a client with this client_id exists already (imported before?)"
    if application.client_type != CONFIDENTIAL:
        return f"a {application.client_type or 'untyped'} client, not a confidential one"
    if application.grant_type != CLIENT_CREDENTIALS:
        return f"grant type {application.grant_type!r}, not client-credentials"
    if not application.stored_secret:
        return "no client secret"
    client_id = application.client_id
    if len(client_id) > _CLIENT_ID_LENGTH or not client_id.isprintable() or not client_id:
        return f"a client_id oauth_cc cannot keep (longer than {_CLIENT_ID_LENGTH} " \
               "characters, or with control characters)"
    return None


def _name_taken(name: str, used: set[str]) -> bool:
    return name.lower() in used or Client.objects.filter(name__iexact=name).exists()


def unique_name(application: Application, used: set[str]) -> tuple[str, bool]:
    """DOT's name (the client_id if it has none), or, when a client already has that name
    (ignoring case), the name followed by `` (client_id)``; and whether it was renamed."""
    name = " ".join(application.name.split())[:_NAME_LENGTH] or application.client_id
    if not _name_taken(name, used):
        return name, False
    suffix = f" ({application.client_id})"
    renamed = name[: _NAME_LENGTH - len(suffix)] + suffix
    if _name_taken(renamed, used):
        raise CommandError(f"Client {application.client_id}: the names {name!r} and "
                           f"{renamed!r} are both taken. Rename a client and run again.")
    return renamed, True


def _shared_secrets(planned: list[Planned]) -> list[str]:
    """The client_ids of planned clients whose clear secret's digest another planned client
    or an existing secret already has."""
    counts = Counter(plan.digest for plan in planned if not plan.legacy_hash)
    taken = set(ClientSecret.objects.filter(digest__in=list(counts))
                .values_list("digest", flat=True))
    return sorted(plan.application.client_id for plan in planned
                  if not plan.legacy_hash and (counts[plan.digest] > 1 or plan.digest in taken))


class Command(BaseCommand):
    help = ("Register django-oauth-toolkit's confidential client-credentials applications as "
            "clients, keeping their client_id and secret. Reads DOT's table with plain SQL, "
            "so DOT need not be installed. Run it again safely: existing client_ids are "
            "skipped.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default",
                            help="the database alias holding DOT's table (default: default)")
        parser.add_argument("--table", default=DEFAULT_TABLE,
                            help=f"DOT's application table (default: {DEFAULT_TABLE})")
        parser.add_argument("--client-id", dest="client_ids", action="append", default=[],
                            metavar="CLIENT_ID",
                            help="import only this application; repeat for several")
        parser.add_argument("--auth-method", default=TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
                            choices=[TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
                                     TokenEndpointAuthMethod.CLIENT_SECRET_POST],
                            help="the one method the imported clients may use (DOT accepted "
                                 "both; default: client_secret_basic)")
        parser.add_argument("--scopes", "--scope", dest="scopes", default="",
                            help='allowed scopes of every imported client, space-separated: '
                                 '--scopes "read write" (default: none); unregistered ones '
                                 "are registered")
        parser.add_argument("--default-scopes", "--default-scope", dest="default_scopes",
                            default=None,
                            help="scopes granted when a request names none "
                                 "(default: all allowed scopes)")
        parser.add_argument("--dry-run", action="store_true",
                            help="say what would be imported and write nothing")
        parser.add_argument("--json", action="store_true",
                            help="print one JSON object: imported and skipped clients")

    @sensitive_variables()
    def handle(self, *args: Any, **options: Any) -> None:
        allowed = sorted(set(options["scopes"].split()))
        default = allowed if options["default_scopes"] is None else sorted(
            set(options["default_scopes"].split()))
        if any(not scopes.is_scope_token(name) for name in allowed + default):
            raise CommandError("A scope name has characters RFC 6749 §3.3 does not allow.")
        if set(default) - set(allowed):
            raise CommandError("Default scopes must also be allowed scopes (--scopes).")
        dry_run: bool = options["dry_run"]
        wanted: list[str] = options["client_ids"]
        applications = read_applications(options["database"], options["table"], wanted)

        found = {application.client_id for application in applications}
        skipped = [{"client_id": client_id, "reason": f"not in {options['table']}"}
                   for client_id in wanted if client_id not in found]
        existing = set(Client.objects.filter(client_id__in=found)
                       .values_list("client_id", flat=True))
        planned: list[Planned] = []
        unknown_hashers: list[str] = []
        used_names: set[str] = set()
        for application in applications:
            reason = skip_reason(application, existing)
            if reason is not None:
                skipped.append({"client_id": application.client_id, "reason": reason})
                continue
            try:
                digest, legacy_hash, hint = secret_columns(application.stored_secret,
                                                           application.hashed)
            except UnknownHasher:
                unknown_hashers.append(application.client_id)
                continue
            name, renamed = unique_name(application, used_names)
            used_names.add(name.lower())
            planned.append(Planned(application, name, renamed, digest, legacy_hash, hint))
        if unknown_hashers:
            raise CommandError(
                "The secrets of " + ", ".join(unknown_hashers) + " are password hashes of "
                "an algorithm missing from settings.PASSWORD_HASHERS. Add the hasher that "
                "django-oauth-toolkit used (its PASSWORD_HASHERS, or OAUTH2_PROVIDER"
                "['CLIENT_SECRET_HASHER']) and run again. Nothing was imported.")
        shared = _shared_secrets(planned)
        if shared:
            # A digest identifies one secret of one client (it is unique): DOT allowed two
            # applications the same clear secret, this server cannot keep both.
            raise CommandError(
                "These clients share a secret with another imported or existing client: "
                + ", ".join(shared) + ". Give each its own secret in django-oauth-toolkit "
                "(or leave them out with --client-id) and run again. Nothing was imported.")

        with transaction.atomic(using=router.db_for_write(Client)):
            new_scopes = self._register_scopes(allowed, dry_run)
            imported = [self._register(plan, options, allowed, default, dry_run)
                        for plan in planned]
        self._report(imported, skipped, new_scopes, options)

    def _register_scopes(self, names: list[str], dry_run: bool) -> list[str]:
        known = set(Scope.objects.filter(name__in=names).values_list("name", flat=True))
        new = [name for name in names if name not in known]
        if not dry_run:
            Scope.objects.bulk_create([Scope(name=name) for name in new])
        return new

    @sensitive_variables()
    def _register(self, plan: Planned, options: dict[str, Any], allowed: list[str],
                  default: list[str], dry_run: bool) -> dict[str, Any]:
        client = Client(
            client_id=plan.application.client_id,
            name=plan.name,
            description="Imported from django-oauth-toolkit.",
            token_endpoint_auth_method=options["auth_method"],
            allowed_scopes=" ".join(allowed),
            default_scopes=" ".join(default),
        )
        try:
            client.full_clean()
        except ValidationError as exc:
            raise CommandError(f"Client {client.client_id}: " + "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
            )) from None
        if not dry_run:
            try:
                with transaction.atomic(using=router.db_for_write(Client)):
                    client.save(force_insert=True)
            except IntegrityError:  # the same client_id or name, registered meanwhile
                raise CommandError(f"Client {client.client_id}: a client with this client_id "
                                   "or name was registered meanwhile. Nothing was imported."
                                   ) from None
            ClientSecret.objects.create(client=client, digest=plan.digest,
                                        legacy_hash=plan.legacy_hash, hint=plan.hint,
                                        label=LABEL)
        return {
            "client_id": client.client_id,
            "name": client.name,
            "renamed": plan.renamed,
            "stored_as": "password_hash" if plan.legacy_hash else "digest",
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "scope": client.allowed_scopes,
            "default_scope": client.default_scopes,
        }

    def _report(self, imported: list[dict[str, Any]], skipped: list[dict[str, str]],
                new_scopes: list[str], options: dict[str, Any]) -> None:
        dry_run = options["dry_run"]
        if options["json"]:
            self.stdout.write(json.dumps({
                "dry_run": dry_run, "imported": imported, "skipped": skipped,
                "new_scopes": new_scopes,
            }))
            return
        would = "Would import" if dry_run else "Imported"
        if new_scopes:
            self.stdout.write(f"{'Would register' if dry_run else 'Registered'} new scopes: "
                              f"{' '.join(new_scopes)}")
        for entry in imported:
            kept = ("as a password hash, replaced by its SHA-256 digest on first use"
                    if entry["stored_as"] == "password_hash" else "as its SHA-256 digest")
            renamed = " (renamed: the name was taken)" if entry["renamed"] else ""
            self.stdout.write(f"{would} {entry['client_id']} as {entry['name']!r}{renamed}, "
                              f"{entry['token_endpoint_auth_method']}, secret kept {kept}")
        for entry in skipped:
            self.stdout.write(f"Skipped {entry['client_id']}: {entry['reason']}")
        self.stdout.write(f"{would} {len(imported)} client(s), skipped {len(skipped)}."
                          + (" Nothing was written (--dry-run)." if dry_run else ""))
        if imported and not imported[0]["scope"]:
            self.stderr.write(self.style.WARNING(
                "The imported clients have no allowed scope, so every token request is "
                "refused with invalid_scope until they get some (admin, or --scopes)."))
