"""The Django admin: secrets shown once, revocation, scopes as checkboxes, key rotation."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client as HttpClient

from oauth_cc.models import Client, ClientSecret, Scope, SigningKey

from .conftest import install_key, post_token

pytestmark = pytest.mark.django_db

CLIENT_ADD = "/admin/oauth_cc/client/add/"
CLIENT_LIST = "/admin/oauth_cc/client/"
SECRET_LIST = "/admin/oauth_cc/clientsecret/"
KEY_LIST = "/admin/oauth_cc/signingkey/"
KEY_ROTATE = "/admin/oauth_cc/signingkey/rotate/"
SECRET_PATTERN = re.compile(r"occs_[A-Za-z0-9]{44}")
GRANT = {"grant_type": "client_credentials"}

MakeClient = Callable[..., tuple[Client, str]]


def client_change(client: Client) -> str:
    return f"/admin/oauth_cc/client/{client.pk}/change/"


def add_form(**fields: Any) -> dict[str, Any]:
    """POST data of the client add form."""
    data: dict[str, Any] = {
        "name": "billing service", "description": "", "is_active": "on",
        "token_endpoint_auth_method": "client_secret_basic",
        "allowed_scopes": ["read"], "default_scopes": ["read"],
        "allowed_audiences": "", "access_token_lifetime": "", "_save": "Save",
    }
    data.update(fields)
    return data


def change_form(client: Client, revoke: tuple[ClientSecret, ...] = (), **fields: Any
                ) -> dict[str, Any]:
    """POST data of the client change form as the page would send it, unchanged but for
    ``fields`` and the secrets to ``revoke``."""
    secrets = list(client.secrets.all())
    data: dict[str, Any] = {
        "name": client.name, "description": client.description,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "allowed_scopes": client.allowed_scopes.split(),
        "default_scopes": client.default_scopes.split(),
        "allowed_audiences": client.allowed_audiences,
        "access_token_lifetime": client.access_token_lifetime or "",
        "secrets-TOTAL_FORMS": str(len(secrets)), "secrets-INITIAL_FORMS": str(len(secrets)),
        "secrets-MIN_NUM_FORMS": "0", "secrets-MAX_NUM_FORMS": "0", "_save": "Save",
    }
    if client.is_active:
        data["is_active"] = "on"
    for index, secret in enumerate(secrets):
        prefix = f"secrets-{index}-"
        data.update({f"{prefix}id": str(secret.pk), f"{prefix}client": str(client.pk),
                     f"{prefix}label": secret.label, f"{prefix}expires_at_0": "",
                     f"{prefix}expires_at_1": ""})
        if secret in revoke:
            data[f"{prefix}revoke"] = "on"
    data.update(fields)
    return data


def form_errors(response: Any) -> Any:
    """Form errors of an admin page, for assertion messages."""
    context = response.context or {}
    if "adminform" not in context:
        return response.status_code
    inlines = [f.formset.errors for f in context.get("inline_admin_formsets", [])]
    return context["adminform"].form.errors, inlines


def secrets_on_page(response: Any) -> list[str]:
    return SECRET_PATTERN.findall(response.content.decode())


def post_then_get(http: HttpClient, url: str, data: dict[str, Any]) -> tuple[Any, Any]:
    """POST that makes secrets, then the GET its 303 leads to: ``(redirect, page)``. The
    redirect itself carries no secret, in its body, its Location or a cookie."""
    redirect = http.post(url, data)
    assert redirect.status_code == 303, form_errors(redirect)
    assert "no-store" in redirect["Cache-Control"]
    assert secrets_on_page(redirect) == []
    assert not SECRET_PATTERN.search(redirect["Location"])
    assert not any(SECRET_PATTERN.search(m.value) for m in redirect.cookies.values())
    return redirect, http.get(redirect["Location"])


def token_status(client_id: str, secret: str) -> tuple[int, dict[str, Any]]:
    response = post_token(HttpClient(), GRANT, auth=(client_id, secret))
    return response.status_code, response.json()


def stored_anywhere(http: HttpClient, secret: str) -> list[str]:
    """Places outside the response where ``secret`` could leak: cookies, sessions, log."""
    found = [name for name, morsel in http.cookies.items() if secret in morsel.value]
    for session in Session.objects.all():
        if secret in repr(session.get_decoded()):
            found.append(f"session {session.session_key}")
    for entry in LogEntry.objects.all():
        if secret in entry.change_message or secret in entry.object_repr:
            found.append(f"log entry {entry.pk}")
    return found


@pytest.fixture
def scopes_registered(db: Any) -> list[str]:
    names = ["admin", "read", "write"]
    for name in names:
        Scope.objects.create(name=name)
    return names


# --- creating a client shows its secret once ------------------------------------------------

def test_add_client_shows_the_secret_once(
    admin_client: HttpClient, signing_key: SigningKey, scopes_registered: list[str]
) -> None:
    redirect, response = post_then_get(admin_client, CLIENT_ADD, add_form())

    assert response.status_code == 200, form_errors(response)
    assert "admin/oauth_cc/client/new_secrets.html" in [t.name for t in response.templates]
    client = Client.objects.get(name="billing service")
    body = response.content.decode()
    (secret,) = set(secrets_on_page(response))
    assert client.client_id in body
    assert "will not be shown again" in body
    assert f'href="{client_change(client)}"' in body
    assert "no-store" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache"

    (stored,) = client.secrets.all()
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored.hint
    assert stored_anywhere(admin_client, secret) == []
    assert not any(secret in morsel.value for morsel in response.cookies.values())

    again = admin_client.get(redirect["Location"])  # a reload: shown once, nothing created
    assert again.status_code == 410
    assert secrets_on_page(again) == []
    assert "has been shown already" in again.content.decode()
    assert Client.objects.filter(name="billing service").count() == 1
    assert client.secrets.count() == 1

    status, body_json = token_status(client.client_id, secret)
    assert status == 200, body_json
    assert body_json["scope"] == "read"

    later = admin_client.get(client_change(client))
    assert later.status_code == 200
    assert secret not in later.content.decode()
    assert secrets_on_page(later) == []
    assert stored.digest not in later.content.decode()
    assert stored.hint in later.content.decode()


def test_add_form_has_no_secret_inline(admin_client: HttpClient, scopes_registered: list[str]
                                       ) -> None:
    response = admin_client.get(CLIENT_ADD)

    assert response.status_code == 200
    assert "secrets-TOTAL_FORMS" not in response.content.decode()
    assert 'name="client_id"' not in response.content.decode()


def test_add_without_change_permission_generates_no_secret(
    db: Any, scopes_registered: list[str]
) -> None:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        codename__in=["add_client", "view_client"]
    ))
    http = HttpClient()
    http.force_login(user)

    response = http.post(CLIENT_ADD, add_form())

    assert response.status_code == 302
    client = Client.objects.get(name="billing service")
    assert not client.secrets.exists()


# --- scopes as checkboxes -------------------------------------------------------------------

def test_scope_checkboxes_list_registered_scopes(
    admin_client: HttpClient, scopes_registered: list[str]
) -> None:
    body = admin_client.get(CLIENT_ADD).content.decode()

    for name in scopes_registered:
        assert re.search(rf'<input type="checkbox" name="allowed_scopes" value="{name}"', body)
        assert re.search(rf'<input type="checkbox" name="default_scopes" value="{name}"', body)


def test_scope_registered_after_import_is_offered(admin_client: HttpClient, db: Any) -> None:
    Scope.objects.create(name="reports:read")

    body = admin_client.get(CLIENT_ADD).content.decode()

    assert 'name="allowed_scopes" value="reports:read"' in body


def test_scope_checkboxes_save_canonical_strings(
    admin_client: HttpClient, scopes_registered: list[str]
) -> None:
    response = admin_client.post(CLIENT_ADD, add_form(
        allowed_scopes=["write", "read", "admin"], default_scopes=["write", "read"],
    ))

    assert response.status_code == 303, form_errors(response)
    client = Client.objects.get()
    assert client.allowed_scopes == "admin read write"
    assert client.default_scopes == "read write"

    response = admin_client.post(client_change(client), change_form(
        client, allowed_scopes=["write", "read"], default_scopes=[],
    ))

    assert response.status_code == 302, form_errors(response)
    client.refresh_from_db()
    assert client.allowed_scopes == "read write"
    assert client.default_scopes == ""


def test_change_form_checks_stored_scopes(
    admin_client: HttpClient, make_client: MakeClient
) -> None:
    client, _ = make_client(scope="read write", default_scope="read")

    body = admin_client.get(client_change(client)).content.decode()

    assert re.search(r'name="allowed_scopes" value="read"[^>]*checked', body)
    assert re.search(r'name="allowed_scopes" value="write"[^>]*checked', body)
    assert re.search(r'name="default_scopes" value="read"[^>]*checked', body)
    assert not re.search(r'name="default_scopes" value="write"[^>]*checked', body)


def test_default_scopes_must_be_allowed(
    admin_client: HttpClient, scopes_registered: list[str]
) -> None:
    response = admin_client.post(CLIENT_ADD, add_form(
        allowed_scopes=["read"], default_scopes=["write"],
    ))

    assert response.status_code == 200
    assert "default_scopes" in response.context["adminform"].form.errors
    assert not Client.objects.exists()
    assert secrets_on_page(response) == []


def test_unregistered_scope_is_refused(
    admin_client: HttpClient, scopes_registered: list[str]
) -> None:
    response = admin_client.post(CLIENT_ADD, add_form(allowed_scopes=["read", "delete"]))

    assert "allowed_scopes" in response.context["adminform"].form.errors
    assert not Client.objects.exists()


def test_invalid_audience_is_refused(
    admin_client: HttpClient, scopes_registered: list[str]
) -> None:
    response = admin_client.post(CLIENT_ADD, add_form(allowed_audiences="not-a-uri"))

    assert "allowed_audiences" in response.context["adminform"].form.errors
    assert not Client.objects.exists()


def test_stored_unregistered_scope_survives_an_edit(
    admin_client: HttpClient, make_client: MakeClient
) -> None:
    client, _ = make_client(scope="read legacy", default_scope="read")
    # Deleting a Scope strips it from clients; a stored name can still be unregistered when
    # it was written some other way (a data migration, a bulk update).
    Scope.objects.filter(name="legacy").update(name="renamed-legacy")

    response = admin_client.post(client_change(client), change_form(client, name="renamed"))

    assert response.status_code == 302, form_errors(response)
    client.refresh_from_db()
    assert client.name == "renamed"
    assert client.allowed_scopes == "legacy read"


# --- generating, revoking, deactivating -----------------------------------------------------

def test_generate_new_secret_action(
    admin_client: HttpClient, signing_key: SigningKey, make_client: MakeClient
) -> None:
    first, first_old = make_client(name="first")
    second, second_old = make_client(name="second")

    _redirect, response = post_then_get(admin_client, CLIENT_LIST, {
        "action": "generate_secret", "_selected_action": [first.pk, second.pk],
    })

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache"
    body = response.content.decode()
    new_secrets = secrets_on_page(response)
    assert len(set(new_secrets)) == 2
    assert first_old not in body and second_old not in body
    assert body.index(first.client_id) < body.index(second.client_id)
    for client, new, old in [(first, new_secrets[0], first_old), (second, new_secrets[1],
                                                                    second_old)]:
        assert f'href="{client_change(client)}"' in body
        assert client.secrets.count() == 2
        assert token_status(client.client_id, new)[0] == 200
        assert token_status(client.client_id, old)[0] == 200  # rotation with overlap
        assert stored_anywhere(admin_client, new) == []


def test_generate_secret_action_needs_change_permission(
    db: Any, make_client: MakeClient
) -> None:
    client, _ = make_client()
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_client"))
    http = HttpClient()
    http.force_login(user)

    assert "generate_secret" not in http.get(CLIENT_LIST).content.decode()
    response = http.post(CLIENT_LIST, {
        "action": "generate_secret", "_selected_action": [client.pk],
    })

    assert secrets_on_page(response) == []
    assert client.secrets.count() == 1


def test_revoke_secret_in_inline(
    admin_client: HttpClient, api_client: tuple[Client, str]
) -> None:
    client, secret = api_client
    assert token_status(client.client_id, secret)[0] == 200
    (stored,) = client.secrets.all()

    response = admin_client.post(client_change(client), change_form(client, revoke=(stored,)))

    assert response.status_code == 302, form_errors(response)
    stored.refresh_from_db()
    assert stored.revoked_at is not None
    status, body = token_status(client.client_id, secret)
    assert status == 401
    assert body["error"] == "invalid_client"


def test_inline_leaves_unchecked_secrets_alone(
    admin_client: HttpClient, api_client: tuple[Client, str]
) -> None:
    client, secret = api_client
    other = client.add_secret(label="spare")
    spare = client.secrets.get(label="spare")

    response = admin_client.post(client_change(client), change_form(client, revoke=(spare,)))

    assert response.status_code == 302, form_errors(response)
    assert token_status(client.client_id, secret)[0] == 200
    assert token_status(client.client_id, other)[0] == 401


def test_secret_inline_cannot_add_and_hides_digest(
    admin_client: HttpClient, api_client: tuple[Client, str]
) -> None:
    client, _ = api_client
    (stored,) = client.secrets.all()

    response = admin_client.get(client_change(client))
    body = response.content.decode()

    assert response.status_code == 200
    assert stored.digest not in body
    assert 'name="secrets-0-revoke"' in body
    assert 'name="secrets-0-digest"' not in body
    (formset,) = response.context["inline_admin_formsets"]
    assert formset.formset.max_num == 0
    assert not formset.has_add_permission


def test_revoked_secret_shows_revoke_disabled(
    admin_client: HttpClient, api_client: tuple[Client, str]
) -> None:
    client, _ = api_client
    admin_client.post(client_change(client), change_form(client, revoke=tuple(
        client.secrets.all()
    )))
    revoked_at = client.secrets.get().revoked_at

    response = admin_client.post(client_change(client), change_form(client))

    assert response.status_code == 302, form_errors(response)
    assert client.secrets.get().revoked_at == revoked_at
    assert re.search(r'name="secrets-0-revoke"[^>]*disabled|disabled[^>]*name="secrets-0-revoke"',
                     admin_client.get(client_change(client)).content.decode())


def test_revoke_secrets_action(admin_client: HttpClient, api_client: tuple[Client, str]) -> None:
    client, secret = api_client

    response = admin_client.post(SECRET_LIST, {
        "action": "revoke", "_selected_action": list(client.secrets.values_list("pk", flat=True)),
    })

    assert response.status_code == 302
    assert token_status(client.client_id, secret)[0] == 401


def test_secret_changelist_has_no_add_and_no_digest(
    admin_client: HttpClient, api_client: tuple[Client, str]
) -> None:
    client, _ = api_client
    stored = client.secrets.get()

    assert admin_client.get(SECRET_LIST + "add/").status_code == 403
    body = admin_client.get(f"{SECRET_LIST}{stored.pk}/change/").content.decode()
    assert stored.digest not in body
    assert stored.hint in body


def test_deactivate_action(admin_client: HttpClient, api_client: tuple[Client, str]) -> None:
    client, secret = api_client

    response = admin_client.post(CLIENT_LIST, {
        "action": "deactivate", "_selected_action": [client.pk],
    })

    assert response.status_code == 302
    client.refresh_from_db()
    assert not client.is_active
    status, body = token_status(client.client_id, secret)
    assert status == 401
    assert body["error"] == "invalid_client"


def test_deactivate_with_checkbox(admin_client: HttpClient, api_client: tuple[Client, str]
                                  ) -> None:
    client, secret = api_client
    data = change_form(client)
    del data["is_active"]

    response = admin_client.post(client_change(client), data)

    assert response.status_code == 302, form_errors(response)
    client.refresh_from_db()
    assert not client.is_active
    assert token_status(client.client_id, secret)[0] == 401


def test_client_changelist_search_and_filter(
    admin_client: HttpClient, make_client: MakeClient
) -> None:
    billing, _ = make_client(name="billing")
    make_client(name="reports", is_active=False)

    found = admin_client.get(CLIENT_LIST, {"q": billing.client_id})
    assert list(found.context["cl"].result_list) == [billing]
    active = admin_client.get(CLIENT_LIST, {"is_active__exact": "1"})
    assert list(active.context["cl"].result_list) == [billing]
    assert 'name="client_id"' not in admin_client.get(client_change(billing)).content.decode()


# --- scopes ---------------------------------------------------------------------------------

def test_scope_admin_adds_scope(admin_client: HttpClient) -> None:
    response = admin_client.post("/admin/oauth_cc/scope/add/", {
        "name": "reports:read", "description": "Read reports",
    })

    assert response.status_code == 302
    assert Scope.objects.get().name == "reports:read"


def test_scope_admin_refuses_bad_name(admin_client: HttpClient) -> None:
    response = admin_client.post("/admin/oauth_cc/scope/add/", {"name": 'no"quote'})

    assert response.status_code == 200
    assert not Scope.objects.exists()


# --- signing keys ---------------------------------------------------------------------------

def test_signing_keys_are_read_only(admin_client: HttpClient, signing_key: SigningKey) -> None:
    assert admin_client.get(KEY_LIST + "add/").status_code == 403
    change = f"{KEY_LIST}{signing_key.pk}/change/"
    response = admin_client.get(change)
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert not response.context["has_delete_permission"]
    assert admin_client.post(change, {"state": "removed"}).status_code == 403
    assert admin_client.post(f"{KEY_LIST}{signing_key.pk}/delete/", {"post": "yes"}
                             ).status_code == 403
    signing_key.refresh_from_db()
    assert signing_key.state == SigningKey.State.ACTIVE


def test_signing_key_page_never_shows_the_private_key(
    admin_client: HttpClient, signing_key: SigningKey
) -> None:
    encrypted = bytes(signing_key.encrypted_private_key).decode("ascii")

    for url in (KEY_LIST, f"{KEY_LIST}{signing_key.pk}/change/"):
        body = admin_client.get(url).content.decode()
        assert signing_key.kid in body
        assert encrypted[:40] not in body
        assert encrypted[-40:] not in body
        assert "encrypted_private_key" not in body


def test_rotate_view_bootstraps_the_first_key(admin_client: HttpClient, db: Any) -> None:
    listing = admin_client.get(KEY_LIST).content.decode()
    assert f'href="{KEY_ROTATE}"' in listing
    assert admin_client.get(KEY_ROTATE).status_code == 200

    response = admin_client.post(KEY_ROTATE, follow=True)

    key = SigningKey.objects.get()
    assert key.state == SigningKey.State.ACTIVE
    assert response.redirect_chain[-1][0] == KEY_LIST
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"created and activated {key.kid} ({key.algorithm})"]


def test_rotate_view_immediate(admin_client: HttpClient, signing_key: SigningKey) -> None:
    admin_client.post(KEY_ROTATE, {"immediate": "on"})

    signing_key.refresh_from_db()
    assert signing_key.state == SigningKey.State.RETIRED
    assert SigningKey.objects.get(state=SigningKey.State.ACTIVE) != signing_key


def test_rotate_action_creates_then_promotes(
    admin_client: HttpClient, signing_key: SigningKey
) -> None:
    action = {"action": "rotate", "_selected_action": [signing_key.pk]}

    response = admin_client.post(KEY_LIST, action, follow=True)

    pending = SigningKey.objects.get(state=SigningKey.State.PENDING)
    messages = [str(m) for m in response.context["messages"]]
    assert any(pending.kid in line and "not yet signing" in line for line in messages)

    admin_client.post(KEY_LIST, action)

    pending.refresh_from_db()
    signing_key.refresh_from_db()
    assert pending.state == SigningKey.State.ACTIVE
    assert signing_key.state == SigningKey.State.RETIRED
    assert signing_key.publish_until is not None


def test_rotate_reports_configuration_errors(
    admin_client: HttpClient, db: Any, settings: Any
) -> None:
    settings.OAUTH_CC = {**settings.OAUTH_CC, "KEY_ENCRYPTION_KEYS": []}

    response = admin_client.post(KEY_ROTATE, follow=True)

    assert response.status_code == 200
    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert messages == [("error", "OAUTH_CC['KEY_ENCRYPTION_KEYS'] must be a non-empty list")]
    assert not SigningKey.objects.exists()


def test_prune_action(admin_client: HttpClient, signing_key: SigningKey) -> None:
    old = install_key("ES256", state=SigningKey.State.PENDING)
    SigningKey.objects.filter(pk=old.pk).update(
        state=SigningKey.State.RETIRED, publish_until="2000-01-01T00:00:00Z",
    )

    response = admin_client.post(KEY_LIST, {
        "action": "prune", "_selected_action": [signing_key.pk],
    }, follow=True)

    old.refresh_from_db()
    assert old.state == SigningKey.State.REMOVED
    assert bytes(old.encrypted_private_key) == b""
    assert [str(m) for m in response.context["messages"]] == [f"Removed {old.kid}."]


def test_rotation_needs_change_permission(db: Any) -> None:
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_signingkey"))
    http = HttpClient()
    http.force_login(user)

    listing = http.get(KEY_LIST)
    assert listing.status_code == 200
    assert KEY_ROTATE not in listing.content.decode()
    assert http.post(KEY_ROTATE).status_code == 403
    assert not SigningKey.objects.exists()


# --- client names are unique, ignoring case -------------------------------------------------

def test_add_form_refuses_a_name_in_use(
    admin_client: HttpClient, make_client: MakeClient, scopes_registered: list[str]
) -> None:
    make_client(name="Billing Service")

    response = admin_client.post(CLIENT_ADD, add_form(name="billing service"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "already exists" in " ".join(errors["name"]), errors
    assert Client.objects.count() == 1
    assert secrets_on_page(response) == []


def test_change_form_refuses_renaming_onto_a_name_in_use(
    admin_client: HttpClient, make_client: MakeClient
) -> None:
    make_client(name="reports")
    client, _ = make_client(name="billing")

    response = admin_client.post(client_change(client), change_form(client, name="REPORTS"))

    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    client.refresh_from_db()
    assert client.name == "billing"
    # Saving a client under its own name (in another case) is no conflict.
    response = admin_client.post(client_change(client), change_form(client, name="Billing"))
    assert response.status_code == 302, form_errors(response)


def test_createclient_refuses_a_name_in_use(make_client: MakeClient) -> None:
    make_client(name="billing")

    with pytest.raises(CommandError, match="name: A client with this name already exists"):
        call_command("createclient", "Billing", "--scope", "read")
    assert Client.objects.count() == 1


def test_the_database_refuses_a_name_in_use(make_client: MakeClient) -> None:
    make_client(name="billing")

    with pytest.raises(IntegrityError), transaction.atomic():
        Client.objects.create(name="BILLING")


def test_demo_setup_runs_twice(db: Any) -> None:
    call_command("demo_setup", stdout=StringIO())
    call_command("demo_setup", stdout=StringIO())

    assert Client.objects.filter(name__in=["demo-client", "demo-opaque-client"]).count() == 2


@pytest.mark.django_db(transaction=True)
def test_migration_renames_existing_duplicate_names() -> None:
    before = [("oauth_cc", "0003_auth_method_choices_from_registry")]
    after = [("oauth_cc", "0004_client_name_unique")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("oauth_cc", "Client")
    first = old.objects.create(name="billing", client_id="c1")
    second = old.objects.create(name="Billing", client_id="c2")
    other = old.objects.create(name="reports", client_id="c3")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)

    try:
        names = dict(old.objects.values_list("client_id", "name"))
        assert names == {first.client_id: "billing", second.client_id: "Billing (c2)",
                         other.client_id: "reports"}
    finally:
        # Leave the schema as the other tests expect it: every migration applied.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes("oauth_cc"))
