"""DRF integration, plain-view protection and the demo API, through HTTP (BEARER, RSV)."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from demo_project.models import Item
from oauth_cc.resource.verification import AccessToken
from tests.conftest import (
    AUDIENCE,
    NO_TOKEN_CHALLENGE,
    bearer,
    broken_signature,
    forge,
    get_token,
    valid_claims,
)

ITEMS = "/api/items/"
READ, WRITE = "inventory:read", "inventory:write"


def challenge(response) -> str:
    return response["WWW-Authenticate"]


def assert_insufficient(response, scope: str) -> None:
    # BEARER-05, BEARER-09, RSV-07
    assert response.status_code == 403
    assert challenge(response) == (
        'Bearer realm="api", error="insufficient_scope", error_description="The access token '
        f'does not grant the required scope.", scope="{scope}"'
    )
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert body["scope"] == scope


@pytest.fixture
def inventory_client(make_client, signing_key):
    return make_client(scope=f"{READ} {WRITE} a b c admin", default_scope=READ)


@pytest.fixture
def token_for(client, inventory_client):
    c, secret = inventory_client

    def issue(scope: str) -> str:
        return get_token(client, c, secret, scope=scope)

    return issue


# --- the demo API: the issue's "Done when" -------------------------------------------------

def test_demo_api_200_with_a_good_token(client, token_for):
    """RSV-07: a token with inventory:read lists items."""
    Item.objects.create(name="bolt", quantity=3)
    response = client.get(ITEMS, **bearer(token_for(READ)))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert [item["name"] for item in response.json()] == ["bolt"]
    assert "WWW-Authenticate" not in response


def test_demo_api_401_without_token_BEARER_08(client, token_for):
    """BEARER-05, BEARER-08, X-05: no credentials, a bare challenge with realm."""
    response = client.get(ITEMS)
    assert response.status_code == 401
    assert challenge(response) == NO_TOKEN_CHALLENGE


def test_demo_api_401_with_a_bad_token_BEARER_09(client, token_for):
    """BEARER-09, X-08: a bad token is 401 invalid_token, not 403."""
    token = token_for(READ)
    response = client.get(ITEMS, **bearer(broken_signature(token)))
    assert response.status_code == 401
    assert challenge(response).startswith('Bearer realm="api", error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


def test_demo_api_403_missing_scope_BEARER_05(client, token_for):
    # BEARER-05
    """A read-only token cannot create an item: 403 naming the scope needed."""
    response = client.post(ITEMS, {"name": "nut", "quantity": 1}, **bearer(token_for(READ)))
    assert_insufficient(response, WRITE)
    assert not Item.objects.exists()


def test_demo_viewset_per_action_scopes_RSV_07(client, token_for):
    # RSV-07
    writer = token_for(f"{READ} {WRITE}")
    created = client.post(ITEMS, {"name": "nut", "quantity": 7}, **bearer(writer))
    assert created.status_code == 201
    item_id = created.json()["id"]
    reader = token_for(READ)
    assert client.get(f"{ITEMS}{item_id}/", **bearer(reader)).json()["quantity"] == 7
    assert_insufficient(client.delete(f"{ITEMS}{item_id}/", **bearer(reader)), WRITE)
    assert client.delete(f"{ITEMS}{item_id}/", **bearer(writer)).status_code == 204


def test_demo_class_function_and_plain_views(client, token_for, inventory_client):
    c, _ = inventory_client
    token = token_for(READ)
    assert client.get("/api/stats", **bearer(token)).json() == {"items": 0, "total_quantity": 0}
    whoami = client.get("/api/whoami", **bearer(token)).json()
    assert whoami["client_id"] == c.client_id
    assert whoami["scope"] == READ
    assert whoami["aud"] == [AUDIENCE]
    plain = client.get("/api/plain/stock", **bearer(token))
    assert plain.status_code == 200
    assert plain.json() == {"client_id": c.client_id, "stock": []}


def test_write_only_token_cannot_read(client, token_for):
    token = token_for(WRITE)
    for path in (ITEMS, "/api/stats", "/api/whoami", "/api/plain/stock"):
        assert_insufficient(client.get(path, **bearer(token)), READ)


# --- principal and token object -----------------------------------------------------------

def test_request_user_is_a_client_principal(client, token_for, inventory_client):
    c, _ = inventory_client
    body = client.get("/t/authenticated", **bearer(token_for("a"))).json()
    assert body == {"user": "ClientPrincipal", "client_id": c.client_id,
                    "is_authenticated": True, "pk": f"client:{c.client_id}"}


def test_is_authenticated_alone_works_and_still_401s(client, token_for):
    """DRF's IsAuthenticated accepts the principal; without a token it is a 401 challenge."""
    assert client.get("/t/function-authenticated", **bearer(token_for("a"))).status_code == 200
    response = client.get("/t/authenticated")
    assert response.status_code == 401
    assert challenge(response) == NO_TOKEN_CHALLENGE


def test_access_token_object(rf, token_for, inventory_client):
    from rest_framework.request import Request

    from oauth_cc.resource.principal import ClientPrincipal
    from oauth_cc.rest_framework import BearerTokenAuthentication

    c, _ = inventory_client
    raw = token_for("a b")
    user, token = BearerTokenAuthentication().authenticate(
        Request(rf.get("/", **bearer(raw))))
    assert isinstance(user, ClientPrincipal) and isinstance(token, AccessToken)
    assert token.client_id == c.client_id and token.subject == c.client_id
    assert token.scopes == frozenset({"a", "b"})
    assert token.audience == (AUDIENCE,)
    assert isinstance(token.expires_at, datetime) and token.expires_at.tzinfo is not None
    assert token.jti == token.claims["jti"]
    assert token.has_scopes("a") and not token.has_scopes("a", "c")
    assert not user.has_perm("auth.add_user") and not user.is_staff
    with pytest.raises(TypeError):
        token.claims["scope"] = "admin"  # read-only view of the claims


# --- required_scopes forms --------------------------------------------------------------------

def test_all_listed_scopes_are_required_RSV_07(client, token_for):
    # RSV-07
    assert client.get("/t/all-of", **bearer(token_for("a b"))).status_code == 200
    assert_insufficient(client.get("/t/all-of", **bearer(token_for("a"))), "a b")


def test_per_method_scopes_RSV_07(client, token_for):
    # RSV-07
    assert client.get("/t/per-method", **bearer(token_for("a"))).status_code == 200
    assert_insufficient(client.post("/t/per-method", **bearer(token_for("a"))), "b c")
    assert client.post("/t/per-method", **bearer(token_for("b c"))).status_code == 200


def test_alternatives_RSV_07(client, token_for):
    # RSV-07
    assert client.get("/t/alternatives", **bearer(token_for("admin"))).status_code == 200
    assert client.get("/t/alternatives", **bearer(token_for("a b"))).status_code == 200
    assert_insufficient(client.get("/t/alternatives", **bearer(token_for("a"))), "admin")


def test_bound_permission_and_function_view(client, token_for):
    assert client.get("/t/bound", **bearer(token_for("c"))).status_code == 200
    assert_insufficient(client.get("/t/bound", **bearer(token_for("a"))), "c")
    assert client.get("/t/function", **bearer(token_for("a"))).status_code == 200
    assert_insufficient(client.get("/t/function", **bearer(token_for("b"))), "a")


def test_missing_declaration_fails_loudly(client, token_for):
    token = token_for("a")
    with pytest.raises(ImproperlyConfigured, match="required_scopes"):
        client.get("/t/undeclared", **bearer(token))
    with pytest.raises(ImproperlyConfigured, match="DELETE"):
        client.delete("/t/per-method", **bearer(token))


@pytest.mark.parametrize("spec", [[], "", "bad scope", ["ok", 'bad"'], [[]]])
def test_malformed_declarations_fail_at_definition(spec):
    from oauth_cc.rest_framework import HasScope

    with pytest.raises(ImproperlyConfigured):
        HasScope.require(spec)


# --- composition with DRF's operators ------------------------------------------------------

def test_or_allows_when_the_other_side_allows(client, token_for):
    assert client.get("/t/scope-or-always", **bearer(token_for("a"))).status_code == 200


def test_or_denies_with_scope_challenge(client, token_for):
    assert_insufficient(client.get("/t/scope-or-never", **bearer(token_for("a"))), "admin")
    assert_insufficient(client.get("/t/never-or-scope", **bearer(token_for("a"))), "admin")
    assert client.get("/t/never-or-scope", **bearer(token_for("admin"))).status_code == 200


def test_and_with_a_failing_other_permission_is_plain_403(client, token_for):
    response = client.get("/t/scope-and-never", **bearer(token_for("a")))
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response  # the scope was fine: no scope challenge


def test_not_inverts(client, token_for):
    assert client.get("/t/not-scope", **bearer(token_for("a"))).status_code == 200
    denied = client.get("/t/not-scope", **bearer(token_for("admin")))
    assert denied.status_code == 403
    assert "insufficient_scope" not in denied.get("WWW-Authenticate", "")


def test_composed_without_token_is_401(client, token_for):
    response = client.get("/t/authenticated-and-scope")
    assert response.status_code == 401
    assert challenge(response) == NO_TOKEN_CHALLENGE


def test_scope_decides_after_another_permission_BEARER_05(client, token_for):
    # BEARER-05: HasScope evaluated last decides: its challenge, whatever came before it,
    # including a DRF composition on its left.
    assert_insufficient(client.get("/t/authenticated-and-scope", **bearer(token_for("a"))),
                        "admin")
    assert_insufficient(client.get("/t/held-scope", **bearer(token_for("a"))), "admin")
    assert client.get("/t/held-scope", **bearer(token_for("admin"))).status_code == 200


def test_two_scope_checks_name_the_first_BEARER_05(client, token_for):
    # BEARER-05: both alternatives fail: the challenge names the first declared.
    assert_insufficient(client.get("/t/scope-or-scope", **bearer(token_for("a"))), "admin")
    assert client.get("/t/scope-or-scope", **bearer(token_for("b"))).status_code == 200


def test_negated_composition_never_reports_the_scope(client, token_for):
    # ~(HasScope & Never) allows whatever the scope; nothing to report either way.
    allowed = client.get("/t/not-of-scope-and-never", **bearer(token_for("a")))
    assert allowed.status_code == 200
    assert "WWW-Authenticate" not in allowed


def test_view_that_cannot_authenticate_gets_drfs_plain_403(client, token_for):
    # No authentication class: no challenge to offer, so no 401 (DRF's own 403).
    response = client.get("/t/no-authenticators", **bearer(token_for("a")))
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response


def test_or_with_an_open_side_needs_no_token_BEARER_08(client):
    # BEARER-08: without a token the scope check fails, but the other side allows: 200 and
    # no challenge. When the other side refuses too, the answer is the bare 401 challenge
    # with the error body's shape.
    opened = client.get("/t/scope-or-always")
    assert opened.status_code == 200
    assert "WWW-Authenticate" not in opened
    closed = client.get("/t/scope-or-never")
    assert closed.status_code == 401
    assert challenge(closed) == NO_TOKEN_CHALLENGE
    assert closed.json() == {"error_description": "An access token is required."}


# --- plain Django views ----------------------------------------------------------------------

def test_plain_views_answer_like_drf_BEARER_05_BEARER_08(client, token_for):
    # BEARER-05, BEARER-08
    assert client.get("/t/plain-alternatives", **bearer(token_for("b"))).status_code == 200
    assert_insufficient(client.get("/t/plain-alternatives", **bearer(token_for("a"))), "admin")
    missing = client.get("/t/plain-alternatives")
    assert missing.status_code == 401 and challenge(missing) == NO_TOKEN_CHALLENGE
    assert client.get("/t/plain-class", **bearer(token_for("a"))).status_code == 200
    assert_insufficient(client.post("/t/plain-class", **bearer(token_for("a"))), "b")


# --- cost ------------------------------------------------------------------------------------

def test_protected_request_runs_no_query(client, token_for, django_assert_num_queries):
    """A protected DRF request in local mode: no database query once the keys are cached."""
    token = token_for(READ)
    forged = forge(valid_claims(scope=READ))
    assert client.get("/api/whoami", **bearer(token)).status_code == 200  # warm
    with django_assert_num_queries(0):
        assert client.get("/api/whoami", **bearer(token)).status_code == 200
        assert client.get("/api/whoami", **bearer(forged)).status_code == 200  # uncached token
        assert client.get("/api/whoami", **bearer("x.y.z")).status_code == 401
