"""``manage.py purgetokens``: expired revocation rows and opaque tokens go, live ones stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from oauth_cc import clock
from oauth_cc.models import Client, OpaqueToken, RevokedToken

from .conftest import FakeClock

pytestmark = pytest.mark.django_db

MakeClient = Callable[..., tuple[Client, str]]


@pytest.fixture
def rows(make_client: MakeClient, fake_clock: FakeClock) -> dict[str, list[str]]:
    """Revoked and opaque tokens, by jti: two long expired, one expired within the clock
    leeway (a resource server still accepts such a JWT), two live."""
    client, _ = make_client()
    now = clock.now()
    ages = {"old": timedelta(hours=-2), "older": timedelta(days=-3),
            "leeway": timedelta(seconds=-10), "live": timedelta(minutes=5),
            "later": timedelta(hours=1)}
    for name, delta in ages.items():
        RevokedToken.objects.create(jti=f"revoked-{name}", client_id=client.client_id,
                                    expires_at=now + delta, revoked_at=now)
        OpaqueToken.objects.create(digest=f"{name:0>64}", jti=f"opaque-{name}", client=client,
                                   scope="read", audience="https://api.example.test",
                                   issued_at=now - timedelta(hours=4),
                                   expires_at=now + delta)
    return {"gone": ["old", "older"], "kept": ["leeway", "live", "later"]}


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purgetokens", *args, stdout=out)
    return out.getvalue()


def remaining() -> tuple[set[str], set[str]]:
    return (set(RevokedToken.objects.values_list("jti", flat=True)),
            set(OpaqueToken.objects.values_list("jti", flat=True)))


def test_deletes_expired_rows_and_keeps_live_ones(rows: dict[str, list[str]]) -> None:
    output = purge()

    assert output == "Deleted 2 revoked token(s) and 2 opaque token(s).\n"
    assert remaining() == ({f"revoked-{n}" for n in rows["kept"]},
                           {f"opaque-{n}" for n in rows["kept"]})
    assert purge() == "Deleted 0 revoked token(s) and 0 opaque token(s).\n"


def test_leeway_rows_go_once_past_it(rows: dict[str, list[str]],
                                     fake_clock: FakeClock) -> None:
    fake_clock.advance(30)

    assert purge() == "Deleted 3 revoked token(s) and 3 opaque token(s).\n"
    assert remaining() == ({"revoked-live", "revoked-later"}, {"opaque-live", "opaque-later"})


def test_dry_run_deletes_nothing(rows: dict[str, list[str]]) -> None:
    before = remaining()

    output = purge("--dry-run")

    assert output.startswith("Would delete 2 revoked token(s) and 2 opaque token(s) that "
                             "expired before ")
    assert remaining() == before


def test_dry_run_lists_tokens_when_verbose(rows: dict[str, list[str]]) -> None:
    lines = purge("--dry-run", "-v", "2").splitlines()

    assert sorted(lines[1:]) == ["opaque token opaque-old", "opaque token opaque-older",
                                 "revoked token revoked-old", "revoked token revoked-older"]
    assert len(remaining()[0]) == 5


def test_docstring_shows_the_cron_line() -> None:
    from oauth_cc.management.commands import purgetokens

    cron = "*/15 * * * * cd /srv/app && python manage.py purgetokens"
    assert cron in (purgetokens.__doc__ or "")
    assert cron in purgetokens.Command.help
