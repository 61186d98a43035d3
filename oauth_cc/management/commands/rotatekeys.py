"""``manage.py rotatekeys``: signing-key rotation without downtime."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from oauth_cc.models import SigningKey
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
                            help="re-encrypt private keys with the first KEY_ENCRYPTION_KEYS "
                                 "entry and do nothing else")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["list"]:
                self._list()
                return
            if options["reencrypt"]:
                count = keys.reencrypt()
                self.stdout.write(f"Re-encrypted {count} private key(s).")
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
