"""Least privilege per audience: a scope tied to some APIs never reaches a token for another
(RES-05, JWT-06, BCP-03). Over HTTP at the token endpoint, checking the response's ``scope``
and the JWT's claims."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_cc.models import Scope
from tests.conftest import AUDIENCE, assert_error, post_token, verify

ORDERS = "https://orders.example.test"
BILLING = "https://billing.example.test"
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def tied(make_client: Any, signing_key: Any) -> tuple[Any, str]:
    """A client allowed ``orders:read billing:read audit`` (all three by default) for the
    orders and billing APIs; ``orders:read`` means something to orders only, ``billing:read``
    to billing only, ``audit`` to every API."""
    client, secret = make_client(scope="orders:read billing:read audit", default_scope=None,
                                 allowed_audiences=f"{ORDERS} {BILLING}")
    Scope.objects.filter(name="orders:read").update(audiences=ORDERS)
    Scope.objects.filter(name="billing:read").update(audiences=BILLING)
    # .update() sends no signal; save one row so the cached map is rebuilt, as the admin does.
    Scope.objects.get(name="audit").save()
    return client, secret


def test_default_scopes_narrowed_to_the_audience_RES_05_JWT_06(client: Any, tied: Any) -> None:
    c, secret = tied
    response = post_token(client, {**GRANT, "resource": ORDERS}, auth=(c.client_id, secret))

    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "audit orders:read"  # RES-05: the response says what was granted
    claims = verify(client, body["access_token"], audience=ORDERS)
    assert claims["aud"] == ORDERS and claims["scope"] == "audit orders:read"


def test_requested_scope_for_another_audience_refused_BCP_03(client: Any, tied: Any) -> None:
    c, secret = tied
    response = post_token(client, {**GRANT, "resource": ORDERS, "scope": "billing:read"},
                          auth=(c.client_id, secret))

    body = assert_error(response, "invalid_scope")
    assert "resource" in body["error_description"]


def test_requested_scopes_meaningful_to_the_audience_granted_JWT_06(client: Any, tied: Any
                                                                     ) -> None:
    c, secret = tied
    response = post_token(client, {**GRANT, "resource": BILLING, "scope": "billing:read audit"},
                          auth=(c.client_id, secret))

    assert response.status_code == 200
    assert response.json()["scope"] == "audit billing:read"


def test_token_for_two_audiences_carries_only_scopes_both_understand_RES_05(
        client: Any, tied: Any) -> None:
    """RES-05, BCP-03: neither API may receive the other's scope."""
    c, secret = tied
    both = [("grant_type", "client_credentials"), ("resource", ORDERS), ("resource", BILLING)]
    response = post_token(client, both, auth=(c.client_id, secret))

    assert response.status_code == 200
    assert response.json()["scope"] == "audit"
    named = post_token(client, [*both, ("scope", "orders:read")], auth=(c.client_id, secret))
    assert_error(named, "invalid_scope")
    shared = Scope.objects.get(name="orders:read")
    shared.audiences = f"{ORDERS} {BILLING}"
    shared.save()
    response = post_token(client, both, auth=(c.client_id, secret))
    assert response.json()["scope"] == "audit orders:read"


def test_no_default_scope_left_for_the_audience_is_invalid_scope_RES_05(
        client: Any, make_client: Any, signing_key: Any) -> None:
    c, secret = make_client(scope="billing:read", default_scope=None,
                            allowed_audiences=f"{ORDERS} {BILLING}")
    scope = Scope.objects.get(name="billing:read")
    scope.audiences = BILLING
    scope.save()

    response = post_token(client, {**GRANT, "resource": ORDERS}, auth=(c.client_id, secret))

    assert_error(response, "invalid_scope")


def test_untied_scopes_go_to_every_audience_JWT_06(client: Any, api_client: Any) -> None:
    c, secret = api_client
    response = post_token(client, {**GRANT, "scope": "read write"}, auth=(c.client_id, secret))

    assert response.status_code == 200
    assert verify(client, response.json()["access_token"], audience=AUDIENCE)["scope"] == (
        "read write")


def test_tying_a_scope_takes_effect_at_once_in_this_process_BCP_03(client: Any, tied: Any
                                                                    ) -> None:
    c, secret = tied
    audit = Scope.objects.get(name="audit")
    audit.audiences = BILLING
    audit.save()

    response = post_token(client, {**GRANT, "resource": ORDERS}, auth=(c.client_id, secret))

    assert response.json()["scope"] == "orders:read"


def test_scope_audiences_must_be_absolute_uris(db: Any) -> None:
    from django.core.exceptions import ValidationError

    scope = Scope(name="x", audiences="not-a-uri")
    with pytest.raises(ValidationError) as raised:
        scope.full_clean()
    assert "audiences" in raised.value.message_dict
