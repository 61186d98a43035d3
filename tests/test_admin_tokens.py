"""The Django admin for audiences, client token settings, revoked and opaque tokens.

Revoking by pasting a token must never echo, log or store the token (as with client secrets).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.sessions.models import Session
from django.test import Client as HttpClient

from oauth_cc.models import Audience, Client, OpaqueToken, RevokedToken, Scope, SigningKey
from oauth_cc.server import keys

from .conftest import AUDIENCE, ISSUER, FakeClock, bearer, forge, get_token, valid_claims
from .test_admin import add_form, change_form, client_change, form_errors

pytestmark = pytest.mark.django_db

AUDIENCE_LIST = "/admin/oauth_cc/audience/"
AUDIENCE_ADD = "/admin/oauth_cc/audience/add/"
CLIENT_ADD = "/admin/oauth_cc/client/add/"
CLIENT_LIST = "/admin/oauth_cc/client/"
REVOKED_LIST = "/admin/oauth_cc/revokedtoken/"
REVOKE = "/admin/oauth_cc/revokedtoken/revoke/"
OPAQUE_LIST = "/admin/oauth_cc/opaquetoken/"
WHOAMI = "/api/whoami"
READ = "inventory:read"
ORDERS = "https://orders.example.test"
REPORTS = "https://reports.example.test"
NOT_OURS = "This is not a token issued by this server"

MakeClient = Callable[..., tuple[Client, str]]


def audience_change(audience: Audience) -> str:
    return f"{AUDIENCE_LIST}{audience.pk}/change/"


def staff(username: str, *codenames: str) -> HttpClient:
    """A logged-in staff user with exactly these oauth_cc permissions."""
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="oauth_cc", codename__in=codenames,
    ))
    http = HttpClient()
    http.force_login(user)
    return http


def messages_of(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def stored_anywhere(http: HttpClient, token: str) -> list[str]:
    """Places outside the response where ``token`` could leak: cookies, sessions, log."""
    found = [name for name, morsel in http.cookies.items() if token in morsel.value]
    for session in Session.objects.all():
        if token in repr(session.get_decoded()):
            found.append(f"session {session.session_key}")
    for entry in LogEntry.objects.all():
        if token in entry.change_message or token in entry.object_repr:
            found.append(f"log entry {entry.pk}")
    return found


def whoami_status(token: str) -> int:
    return HttpClient().get(WHOAMI, **bearer(token)).status_code


@pytest.fixture
def jwt_client(signing_key: SigningKey, make_client: MakeClient) -> tuple[Client, str]:
    """A client that gets JWT access tokens for the demo inventory API."""
    return make_client(scope=READ, default_scope=READ)


@pytest.fixture
def opaque_client(signing_key: SigningKey, make_client: MakeClient) -> tuple[Client, str]:
    """A client that gets opaque access tokens for the demo inventory API."""
    return make_client(scope=READ, default_scope=READ, token_format="opaque",
                       name="opaque client")


# --- audiences ------------------------------------------------------------------------------

def test_audience_crud(admin_client: HttpClient) -> None:
    response = admin_client.post(AUDIENCE_ADD, {
        "identifier": ORDERS, "name": "Orders API", "description": "",
        "is_active": "on", "access_token_lifetime": "300",
    })
    assert response.status_code == 302, form_errors(response)
    audience = Audience.objects.get()
    assert (audience.identifier, audience.name, audience.access_token_lifetime) == (
        ORDERS, "Orders API", 300)

    listing = admin_client.get(AUDIENCE_LIST)
    assert list(listing.context["cl"].list_display) == [
        "action_checkbox", "identifier", "name", "is_active", "access_token_lifetime"]
    assert ORDERS in listing.content.decode()
    assert list(admin_client.get(AUDIENCE_LIST, {"q": "orders"}).context["cl"].result_list
                ) == [audience]
    assert not admin_client.get(AUDIENCE_LIST, {"q": "billing"}).context["cl"].result_list

    # The identifier is fixed once created; the rest can change.
    response = admin_client.post(audience_change(audience), {
        "identifier": REPORTS, "name": "Orders", "description": "v2",
        "access_token_lifetime": "",
    })
    assert response.status_code == 302, form_errors(response)
    audience.refresh_from_db()
    assert (audience.identifier, audience.name, audience.is_active,
            audience.access_token_lifetime) == (ORDERS, "Orders", False, None)

    response = admin_client.post(f"{AUDIENCE_LIST}{audience.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Audience.objects.exists()


def test_audience_list_is_editable(admin_client: HttpClient) -> None:
    audience = Audience.objects.create(identifier=ORDERS, access_token_lifetime=300)

    response = admin_client.post(AUDIENCE_LIST, {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000", "form-0-id": str(audience.pk),
        "form-0-access_token_lifetime": "120", "_save": "Save",
    })

    assert response.status_code == 302
    audience.refresh_from_db()
    assert not audience.is_active
    assert audience.access_token_lifetime == 120


@pytest.mark.parametrize("identifier", ["not-a-uri", "https://api.example.test/#frag",
                                        "https://a.example.test https://b.example.test"])
def test_audience_identifier_must_be_one_absolute_uri(admin_client: HttpClient,
                                                     identifier: str) -> None:
    response = admin_client.post(AUDIENCE_ADD, {"identifier": identifier, "is_active": "on"})

    assert response.status_code == 200
    assert "identifier" in response.context["adminform"].form.errors
    assert not Audience.objects.exists()


# --- client token settings ------------------------------------------------------------------

def test_audience_checkboxes_list_registered_audiences(admin_client: HttpClient) -> None:
    Audience.objects.create(identifier=ORDERS, name="Orders API")
    Audience.objects.create(identifier=REPORTS, is_active=False)

    body = admin_client.get(CLIENT_ADD).content.decode()

    for identifier in (ORDERS, REPORTS, AUDIENCE):
        assert f'<input type="checkbox" name="allowed_audiences" value="{identifier}"' in body
    assert f"{ORDERS} (Orders API)" in body
    assert f"{REPORTS} (inactive)" in body
    assert f"{AUDIENCE} (DEFAULT_AUDIENCE)" in body
    assert 'name="token_format"' in body
    assert 'name="can_introspect"' in body


def test_client_form_saves_audiences_and_token_settings(admin_client: HttpClient,
                                                         signing_key: SigningKey) -> None:
    Scope.objects.create(name="read")
    Audience.objects.create(identifier=REPORTS)
    Audience.objects.create(identifier=ORDERS)

    response = admin_client.post(CLIENT_ADD, add_form(
        allowed_audiences=[REPORTS, ORDERS, REPORTS], token_format="opaque",
        can_introspect="on",
    ))

    assert response.status_code == 303, form_errors(response)  # to the secret page
    client = Client.objects.get()
    assert client.allowed_audiences == f"{ORDERS} {REPORTS}"
    assert client.token_format == "opaque"
    assert client.can_introspect

    body = admin_client.get(client_change(client)).content.decode()
    assert re.search(rf'name="allowed_audiences" value="{ORDERS}"[^>]*checked', body)
    assert re.search(rf'name="allowed_audiences" value="{REPORTS}"[^>]*checked', body)
    assert not re.search(rf'name="allowed_audiences" value="{AUDIENCE}"[^>]*checked', body)

    response = admin_client.post(client_change(client), change_form(
        client, allowed_audiences=[], token_format="jwt",
    ))

    assert response.status_code == 302, form_errors(response)
    client.refresh_from_db()
    assert client.allowed_audiences == ""
    assert client.token_format == "jwt"
    assert not client.can_introspect


def test_unregistered_audience_is_refused(admin_client: HttpClient, db: Any) -> None:
    response = admin_client.post(CLIENT_ADD, add_form(allowed_audiences=[ORDERS]))

    assert "allowed_audiences" in response.context["adminform"].form.errors
    assert not Client.objects.exists()


def test_stored_unregistered_audience_survives_an_edit(
    admin_client: HttpClient, make_client: MakeClient
) -> None:
    client, _ = make_client(allowed_audiences=f"{ORDERS} {REPORTS}")
    # Deleting an Audience strips it from clients; a stored identifier can still be
    # unregistered when it was written some other way (a data migration, a bulk update).
    Audience.objects.filter(identifier=REPORTS).update(identifier="https://renamed.example.test")

    body = admin_client.get(client_change(client)).content.decode()
    assert f"{REPORTS} (not registered)" in body
    assert re.search(rf'name="allowed_audiences" value="{REPORTS}"[^>]*checked', body)

    response = admin_client.post(client_change(client), change_form(
        client, name="renamed", allowed_audiences=[REPORTS, ORDERS],
    ))

    assert response.status_code == 302, form_errors(response)
    client.refresh_from_db()
    assert client.name == "renamed"
    assert client.allowed_audiences == f"{ORDERS} {REPORTS}"


def test_client_list_filters_on_token_format_and_introspection(
    admin_client: HttpClient, make_client: MakeClient
) -> None:
    default, _ = make_client(name="default")
    opaque, _ = make_client(name="opaque", token_format="opaque", can_introspect=True)
    jwt_client, _ = make_client(name="jwt", token_format="jwt")

    def listed(**query: str) -> list[Client]:
        return list(admin_client.get(CLIENT_LIST, query).context["cl"].result_list)

    assert listed(token_format="opaque") == [opaque]
    assert listed(token_format="jwt") == [jwt_client]
    assert listed(token_format="default") == [default]
    assert listed(can_introspect__exact="1") == [opaque]
    assert listed(can_introspect__exact="0") == [default, jwt_client]


# --- revoking a pasted token ----------------------------------------------------------------

def test_revoke_pasted_jwt(admin_client: HttpClient, jwt_client: tuple[Client, str]) -> None:
    client, secret = jwt_client
    token = get_token(HttpClient(), client, secret)
    assert whoami_status(token) == 200

    response = admin_client.post(REVOKE, {"token": token})

    assert response.status_code == 302
    assert response["Location"] == REVOKED_LIST
    assert "no-store" in response["Cache-Control"]
    assert token not in response.content.decode()
    (row,) = RevokedToken.objects.all()
    assert row.client_id == client.client_id
    assert whoami_status(token) == 401

    page = admin_client.get(response["Location"])
    assert messages_of(page) == [
        ("success", f"Revoked token {row.jti} of client {client.client_id}.")]
    assert token not in page.content.decode()
    assert stored_anywhere(admin_client, token) == []
    entry = LogEntry.objects.get()
    assert entry.object_repr == str(row)


def test_revoke_form_is_never_cached_and_has_no_value(admin_client: HttpClient,
                                                      db: Any) -> None:
    response = admin_client.get(REVOKE)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache"
    assert re.search(r'<textarea name="token"[^>]*>\s*</textarea>', response.content.decode())


def test_revoke_accepts_a_pasted_authorization_header(
    admin_client: HttpClient, jwt_client: tuple[Client, str]
) -> None:
    client, secret = jwt_client
    token = get_token(HttpClient(), client, secret)

    admin_client.post(REVOKE, {"token": f"  Bearer {token}\n"})

    assert whoami_status(token) == 401


@pytest.mark.parametrize("kind", ["garbage", "forged", "other issuer", "foreign opaque",
                                  "too long"])
def test_revoke_refuses_what_this_server_did_not_issue(
    admin_client: HttpClient, signing_key: SigningKey, kind: str
) -> None:
    pasted = {
        "garbage": "not-a-token-at-all",
        "forged": forge(valid_claims(iss=ISSUER), algorithm="ES256",
                        key=keys.generate_private_key("ES256")),
        "other issuer": forge(valid_claims(iss="https://elsewhere.example.test")),
        "foreign opaque": "occat_" + "x" * 43,
        "too long": "a" * 9000,
    }[kind]

    response = admin_client.post(REVOKE, {"token": pasted})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    errors = response.context["form"].errors
    assert list(errors) == ["token"]
    assert errors["token"] == [f"{NOT_OURS}."]
    body = response.content.decode()
    assert NOT_OURS in body
    assert pasted not in body
    assert re.search(r'<textarea name="token"[^>]*>\s*</textarea>', body)
    assert not RevokedToken.objects.exists()
    assert stored_anywhere(admin_client, pasted) == []


def test_revoke_requires_a_token(admin_client: HttpClient, db: Any) -> None:
    response = admin_client.post(REVOKE, {"token": "  "})

    assert response.status_code == 200
    assert "token" in response.context["form"].errors


def test_revoke_already_revoked_token_informs(
    admin_client: HttpClient, jwt_client: tuple[Client, str]
) -> None:
    client, secret = jwt_client
    token = get_token(HttpClient(), client, secret)
    admin_client.post(REVOKE, {"token": token}, follow=True)

    response = admin_client.post(REVOKE, {"token": token}, follow=True)

    (row,) = RevokedToken.objects.all()
    assert messages_of(response) == [
        ("info", f"Token {row.jti} of client {client.client_id} was already revoked.")]
    assert token not in response.content.decode()
    assert LogEntry.objects.count() == 1


def test_revoke_expired_token_informs(
    admin_client: HttpClient, jwt_client: tuple[Client, str], fake_clock: FakeClock
) -> None:
    client, secret = jwt_client
    token = get_token(HttpClient(), client, secret)
    fake_clock.advance(3600 + 31)

    response = admin_client.post(REVOKE, {"token": token}, follow=True)

    (level, text), = messages_of(response)
    assert level == "info"
    assert "has expired" in text and client.client_id in text
    assert not RevokedToken.objects.exists()


def test_revoke_needs_permission(jwt_client: tuple[Client, str]) -> None:
    client, secret = jwt_client
    token = get_token(HttpClient(), client, secret)
    viewer = staff("viewer", "view_revokedtoken")

    listing = viewer.get(REVOKED_LIST)
    assert listing.status_code == 200
    assert REVOKE not in listing.content.decode()
    assert viewer.get(REVOKE).status_code == 403
    assert viewer.post(REVOKE, {"token": token}).status_code == 403
    assert not RevokedToken.objects.exists()
    assert whoami_status(token) == 200

    outsider = HttpClient()
    outsider.force_login(User.objects.create_user("outsider", password="pw"))
    assert outsider.post(REVOKE, {"token": token}).status_code == 302  # to the login page
    assert not RevokedToken.objects.exists()


def test_revoke_with_add_permission_only(jwt_client: tuple[Client, str]) -> None:
    client, secret = jwt_client
    token = get_token(HttpClient(), client, secret)
    operator = staff("operator", "add_revokedtoken")

    response = operator.post(REVOKE, {"token": token})

    assert response.status_code == 302
    assert response["Location"] == REVOKE  # no view permission: back to the form
    assert whoami_status(token) == 401


def test_revoked_tokens_are_read_only(
    admin_client: HttpClient, jwt_client: tuple[Client, str], make_client: MakeClient
) -> None:
    client, secret = jwt_client
    other, other_secret = make_client(scope=READ, default_scope=READ, name="other")
    for c, s in ((client, secret), (other, other_secret)):
        admin_client.post(REVOKE, {"token": get_token(HttpClient(), c, s)})
    row = RevokedToken.objects.get(client_id=client.client_id)

    listing = admin_client.get(REVOKED_LIST)
    assert f'href="{REVOKE}"' in listing.content.decode()
    assert list(listing.context["cl"].list_display) == [
        "jti", "client_id", "revoked_at", "expires_at"]  # no checkbox: no action
    filtered = admin_client.get(REVOKED_LIST, {"client_id": client.client_id})
    assert list(filtered.context["cl"].result_list) == [row]

    assert admin_client.get(REVOKED_LIST + "add/").status_code == 403
    change = f"{REVOKED_LIST}{row.pk}/change/"
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"jti": "x"}).status_code == 403
    assert admin_client.post(f"{REVOKED_LIST}{row.pk}/delete/", {"post": "yes"}
                             ).status_code == 403
    assert RevokedToken.objects.count() == 2


# --- opaque tokens --------------------------------------------------------------------------

def test_opaque_tokens_listed_without_digest(
    admin_client: HttpClient, opaque_client: tuple[Client, str]
) -> None:
    client, secret = opaque_client
    token = get_token(HttpClient(), client, secret)
    row = OpaqueToken.objects.get()

    listing = admin_client.get(OPAQUE_LIST)
    detail = admin_client.get(f"{OPAQUE_LIST}{row.pk}/change/")

    for response in (listing, detail):
        body = response.content.decode()
        assert response.status_code == 200
        assert row.jti in body
        assert client.client_id in body
        assert row.digest not in body
        assert token not in body
        assert "digest" not in body
    assert admin_client.get(OPAQUE_LIST + "add/").status_code == 403
    assert admin_client.post(f"{OPAQUE_LIST}{row.pk}/delete/", {"post": "yes"}
                             ).status_code == 403


def test_revoke_opaque_tokens_action(
    admin_client: HttpClient, opaque_client: tuple[Client, str]
) -> None:
    client, secret = opaque_client
    first = get_token(HttpClient(), client, secret)
    second = get_token(HttpClient(), client, secret)
    kept = get_token(HttpClient(), client, secret)
    assert [whoami_status(t) for t in (first, second, kept)] == [200, 200, 200]
    selected = OpaqueToken.objects.exclude(jti=OpaqueToken.objects.order_by("pk").last().jti)

    response = admin_client.post(OPAQUE_LIST, {
        "action": "revoke", "_selected_action": [row.pk for row in selected],
    }, follow=True)

    assert messages_of(response) == [("success", "Revoked 2 tokens.")]
    assert [whoami_status(t) for t in (first, second, kept)] == [401, 401, 200]
    assert OpaqueToken.objects.filter(revoked_at__isnull=False).count() == 2
    assert set(RevokedToken.objects.values_list("jti", flat=True)) == {
        row.jti for row in selected}


def test_revoke_pasted_opaque_token(
    admin_client: HttpClient, opaque_client: tuple[Client, str]
) -> None:
    client, secret = opaque_client
    token = get_token(HttpClient(), client, secret)

    response = admin_client.post(REVOKE, {"token": token}, follow=True)

    row = OpaqueToken.objects.get()
    assert row.revoked_at is not None
    assert messages_of(response) == [
        ("success", f"Revoked token {row.jti} of client {client.client_id}.")]
    assert whoami_status(token) == 401
    assert stored_anywhere(admin_client, token) == []


def test_opaque_revoke_action_needs_change_permission(
    opaque_client: tuple[Client, str]
) -> None:
    client, secret = opaque_client
    token = get_token(HttpClient(), client, secret)
    viewer = staff("viewer", "view_opaquetoken")

    assert 'value="revoke"' not in viewer.get(OPAQUE_LIST).content.decode()
    viewer.post(OPAQUE_LIST, {
        "action": "revoke", "_selected_action": [OpaqueToken.objects.get().pk],
    })

    assert OpaqueToken.objects.get().revoked_at is None
    assert whoami_status(token) == 200
