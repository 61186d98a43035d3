"""``manage.py rotatekeys``: signing-key rotation without downtime."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from oauth_cc.models import ClientSecret, SigningKey
from oauth_cc.server import keys


class Command(BaseCommand):
    help = (
        "Advance signing-key rotation by one step. With no active key: create and activate "
        "one. Else with no pending key: create one that is published but not yet signing. "
        "Else: activate the pending key and retire the old one (still published until its "
        "tokens expire). Run it, wait at least your resource servers' JWKS cache time, run it "
        "again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", action="store_true",
                            help="create and activate a new key in one step")
        parser.add_argument("--algorithm", choices=sorted(keys.SUPPORTED_ALGORITHMS),
                            help="algorithm of a new key (default: OAUTH_CC['SIGNING_ALGORITHM'])")
        parser.add_argument("--list", action="store_true", help="list keys and do nothing else")
        parser.add_argument("--reencrypt", action="store_true",
                            help="re-encrypt private keys and the secrets kept for "
                                 "client_secret_jwt with the first KEY_ENCRYPTION_KEYS "
                                 "entry and do nothing else")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["list"]:
                self._list()
                return
            if options["reencrypt"]:
                with transaction.atomic():  # all or nothing: keys and secrets together
                    count = keys.reencrypt()
                    secrets = _reencrypt_client_secrets()
                self.stdout.write(f"Re-encrypted {count} private key(s).")
                self.stdout.write(f"Re-encrypted {secrets} client secret(s) "
                                  "(client_secret_jwt).")
                return
            for line in keys.rotate(immediate=options["now"], algorithm=options["algorithm"]):
                self.stdout.write(line)
        except keys.KeyConfigurationError as exc:
            raise CommandError(str(exc)) from None
        except IntegrityError:
            raise CommandError("another key rotation ran at the same time and this one changed "
                               "nothing; check with --list, then run it again") from None

    def _list(self) -> None:
        for key in SigningKey.objects.order_by("created_at"):
            until = f" until {key.publish_until:%Y-%m-%d %H:%M:%S}Z" if key.publish_until else ""
            self.stdout.write(f"{key.kid}  {key.algorithm}  {key.state}{until}")


def _reencrypt_client_secrets() -> int:
    """Re-encrypt every ``ClientSecret.encrypted_secret`` (client_secret_jwt) with the first
    key-encryption key, revoked and expired ones included: they are still readable rows."""
    fernet = keys.fernet()
    count = 0
    rows = ClientSecret.objects.filter(encrypted_secret__isnull=False).select_for_update()
    for secret in rows.only("pk", "encrypted_secret", "client_id").order_by("pk"):
        try:
            secret.encrypted_secret = fernet.rotate(bytes(secret.encrypted_secret or b""))
        except InvalidToken:
            raise keys.KeyConfigurationError(
                "no key in OAUTH_CC['KEY_ENCRYPTION_KEYS'] decrypts the encrypted secret "
                f"{secret.pk} of client {secret.client_id}") from None
        secret.save(update_fields=["encrypted_secret"])
        count += 1
    return count
