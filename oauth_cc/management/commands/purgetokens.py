"""``manage.py purgetokens``: delete revocation-list rows and opaque tokens that have expired.

A revoked token needs its ``RevokedToken`` row only until it would have expired, and an opaque
token's row is useless after its expiry; both are deleted here (``revocation.purge()``). A row
is kept for ``OAUTH_CC['CLOCK_LEEWAY']`` seconds after ``exp``, since resource servers still
accept a JWT that long. Run it from cron, e.g. every quarter of an hour::

    */15 * * * * cd /srv/app && python manage.py purgetokens
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from oauth_cc import clock
from oauth_cc.models import OpaqueToken, RevokedToken
from oauth_cc.server import revocation


def cutoff() -> datetime:
    """Rows whose ``expires_at`` is at or before this instant can go (``clock.expired``)."""
    return clock.expiry_cutoff()


class Command(BaseCommand):
    help = (
        "Delete revoked-token rows and opaque tokens that have expired (plus "
        "OAUTH_CC['CLOCK_LEEWAY']). Run it regularly, e.g. from cron: "
        "*/15 * * * * cd /srv/app && python manage.py purgetokens"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="print what would be deleted and delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        before = cutoff()
        if options["dry_run"]:
            revoked = RevokedToken.objects.filter(expires_at__lte=before)
            opaque = OpaqueToken.objects.filter(expires_at__lte=before)
            self.stdout.write(f"Would delete {revoked.count()} revoked token(s) and "
                              f"{opaque.count()} opaque token(s) that expired before "
                              f"{before:%Y-%m-%d %H:%M:%S}Z.")
            if options["verbosity"] >= 2:
                for jti in revoked.values_list("jti", flat=True):
                    self.stdout.write(f"revoked token {jti}")
                for jti in opaque.values_list("jti", flat=True):
                    self.stdout.write(f"opaque token {jti}")
            return
        revoked_count, opaque_count = revocation.purge(before)
        self.stdout.write(f"Deleted {revoked_count} revoked token(s) and {opaque_count} "
                          "opaque token(s).")
