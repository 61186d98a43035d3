"""The admin ties a scope to audiences (BCP-03, RES-05), and the token endpoint follows."""

from __future__ import annotations

from typing import Any

from oauth_cc.models import Audience, Scope
from tests.conftest import post_token

ORDERS = "https://orders.example.test"
BILLING = "https://billing.example.test"


def test_scope_admin_ties_a_scope_to_audiences_BCP_03(admin_client: Any, client: Any,
                                                       make_client: Any, signing_key: Any
                                                       ) -> None:
    Audience.objects.create(identifier=ORDERS, name="Orders")
    Audience.objects.create(identifier=BILLING)
    c, secret = make_client(scope="orders:read audit", default_scope=None,
                            allowed_audiences=f"{ORDERS} {BILLING}")
    scope = Scope.objects.get(name="orders:read")

    form = admin_client.get(f"/admin/oauth_cc/scope/{scope.pk}/change/")
    assert form.status_code == 200
    page = form.content.decode()
    assert f'value="{ORDERS}"' in page and "Orders" in page  # a checkbox per audience
    saved = admin_client.post(f"/admin/oauth_cc/scope/{scope.pk}/change/", {
        "name": "orders:read", "description": "", "audiences": [ORDERS], "_save": "Save"})

    assert saved.status_code == 302
    assert Scope.objects.get(pk=scope.pk).audiences == ORDERS
    listing = admin_client.get("/admin/oauth_cc/scope/").content.decode()
    assert ORDERS in listing and "every audience" in listing  # audit is tied to none
    # The change reached this process's cache at once: a billing token drops orders:read.
    response = post_token(client, {"grant_type": "client_credentials", "resource": BILLING},
                          auth=(c.client_id, secret))
    assert response.status_code == 200 and response.json()["scope"] == "audit"


def test_scope_admin_unticking_every_audience_unties_it_RES_05(admin_client: Any, db: Any
                                                                ) -> None:
    Audience.objects.create(identifier=ORDERS)
    scope = Scope.objects.create(name="orders:read", audiences=ORDERS)

    saved = admin_client.post(f"/admin/oauth_cc/scope/{scope.pk}/change/", {
        "name": "orders:read", "description": "", "_save": "Save"})

    assert saved.status_code == 302
    assert Scope.objects.get(pk=scope.pk).audiences == ""
