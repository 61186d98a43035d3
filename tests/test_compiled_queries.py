"""The hot-path queries compiled once (``oauth_cc.queries``) agree with the queryset
methods they are built from, for every state a row can be in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oauth_cc import clock, credentials
from oauth_cc.models import ClientSecret, OpaqueToken
from oauth_cc.server.client_secret import usable_secrets
from tests.conftest import post_token


@pytest.fixture
def secrets_in_every_state(make_client, fake_clock):
    """A client with a secret of each kind, and an inactive client with a good secret."""
    c, _usable = make_client()
    now = clock.now()
    c.add_secret(expires_at=now + timedelta(seconds=30), label="expires soon")
    c.add_secret(expires_at=now - timedelta(seconds=1), label="expired")
    revoked = c.add_secret(label="revoked")
    ClientSecret.objects.filter(digest=credentials.digest(revoked)).update(revoked_at=now)
    inactive, _secret = make_client(is_active=False)
    return c, inactive


def _orm(client_id):
    return sorted(ClientSecret.objects.usable()
                  .filter(client__client_id=client_id, client__is_active=True)
                  .values_list("digest", flat=True))


def _compiled(client_id):
    return sorted(row.secret_digest for row in usable_secrets(client_id))


def test_usable_secrets_query_agrees_with_the_queryset_method(
        secrets_in_every_state, fake_clock):
    # One definition of a usable secret, at every moment of a secret's life.
    c, inactive = secrets_in_every_state
    for step in (0, 29, 2, 3600):
        fake_clock.advance(step)
        assert _compiled(c.client_id) == _orm(c.client_id)
        assert _compiled(inactive.client_id) == _orm(inactive.client_id) == []
        assert _compiled("no-such-client") == []
    assert len(_orm(c.client_id)) == 1  # only the secret without expiry is left


def test_compiled_client_is_the_row(secrets_in_every_state):
    c, _inactive = secrets_in_every_state
    found = usable_secrets(c.client_id)[0]
    assert (found.pk, found.client_id, found.name, found.is_active,
            found.token_endpoint_auth_method, found.allowed_scopes) == (
        c.pk, c.client_id, c.name, True, c.token_endpoint_auth_method, c.allowed_scopes)


def test_opaque_lookup_agrees_with_the_row(client, make_client, signing_key):
    # The opaque token's claims come from its own row, audience included.
    c, secret = make_client(token_format="opaque")
    response = post_token(client, {"grant_type": "client_credentials"},
                          auth=(c.client_id, secret))
    raw = response.json()["access_token"]
    row = OpaqueToken.objects.get()
    record = OpaqueToken.find(credentials.digest(raw))
    assert (record.jti, record.scope, record.audience, record.expires_at, record.client_id) == (
        row.jti, row.scope, row.audience, row.expires_at, c.client_id)
    assert OpaqueToken.find(credentials.digest(raw + "x")) is None
