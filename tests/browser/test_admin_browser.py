"""The admin in a real browser: log in, click, fill forms, read what the page shows; then check
the result over HTTP at the live server's endpoints, as a client or resource server would.

Screenshots go to ``OAUTH_CC_ARTEFACTS`` (``build/browser-artefacts/``); see conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oauth_cc import credentials
from oauth_cc.models import Client, ClientSecret, OpaqueToken, RevokedToken, SigningKey
from oauth_cc.server import inspection
from oauth_cc.settings import oauth_cc_settings

from .conftest import ADMIN_TITLE_SUFFIX, Browser, basic, call

CLIENT_NAME = "Browser test client"
CLIENT_LIST = "/admin/oauth_cc/client/"
SECRET_FIELD = "input[aria-label=client_secret]"
SECRETS_INLINE = "#secrets-group"
KEY_LIST = "/admin/oauth_cc/signingkey/"
REVOKED_LIST = "/admin/oauth_cc/revokedtoken/"
OPAQUE_LIST = "/admin/oauth_cc/opaquetoken/"
SIGNING = SigningKey.State.ACTIVE.label
PENDING = SigningKey.State.PENDING.label
RETIRED = SigningKey.State.RETIRED.label
READ = "inventory:read"  # the scope the demo API's /api/whoami requires
GONE_TEXT = "This secret has been shown already, or it has expired"

MakeClient = Callable[..., tuple[Client, str]]


def token_status(base_url: str, client_id: str, secret: str) -> tuple[int, dict[str, Any]]:
    """A client_credentials token request with HTTP Basic, over HTTP."""
    return call(f"{base_url}/oauth/token", form={"grant_type": "client_credentials"},
                authorization=basic(client_id, secret))


def add_scope(browser: Browser, name: str) -> None:
    """Register a scope through the admin's add form."""
    browser.open("/admin/oauth_cc/scope/add/")
    browser.fill("#id_name", name)
    browser.click("input[name=_save]")
    assert any("was added successfully" in message for message in browser.messages())
    assert name in browser.column("name")


def add_client(browser: Browser, name: str, scope: str) -> tuple[str, str]:
    """Add a client with ``scope`` through the add form; ``(client_id, secret)`` as shown on
    the single-use page the admin redirects to."""
    browser.open(f"{CLIENT_LIST}add/")
    assert browser.title == f"Add client {ADMIN_TITLE_SUFFIX}"
    assert not browser.exists(SECRET_FIELD)
    browser.fill("#id_name", name)
    browser.fill("#id_description", "made by a browser test")
    browser.tick(f"input[name=allowed_scopes][value='{scope}']")
    browser.tick(f"input[name=default_scopes][value='{scope}']")
    browser.shot("01-add-form")
    browser.click("input[name=_save]")

    assert browser.path.startswith(f"{CLIENT_LIST}secrets/"), browser.path
    assert browser.title == f"Client created: copy its secret now {ADMIN_TITLE_SUFFIX}"
    assert f"The client “{name}” was added." in browser.messages()
    (field,) = browser.find_all(SECRET_FIELD)
    secret = str(field.get_attribute("value"))
    client_id = browser.text("#content-main td code")
    assert secret not in browser.path
    return client_id, secret


def secret_page_is_gone(browser: Browser, *secrets: str) -> None:
    """The secrets page after its one showing: 'gone', and no secret anywhere on it."""
    assert browser.title == f"Secret already shown or expired {ADMIN_TITLE_SUFFIX}"
    assert GONE_TEXT in browser.text(".errornote")
    assert not browser.exists(SECRET_FIELD)
    for secret in secrets:
        assert secret not in browser.source
    assert oauth_cc_settings.CLIENT_SECRET_PREFIX not in browser.text("#content")


def test_adding_a_client_shows_its_secret_once(browser: Browser, superuser: str,
                                               signing_key: SigningKey) -> None:
    browser.log_in(superuser)
    add_scope(browser, "read")

    client_id, secret = add_client(browser, CLIENT_NAME, "read")
    browser.shot("02-secret-shown")
    assert secret.startswith(oauth_cc_settings.CLIENT_SECRET_PREFIX)
    assert len(secret) > len(oauth_cc_settings.CLIENT_SECRET_PREFIX) + 30
    assert browser.source.count(secret) == 1
    assert client_id == Client.objects.get(name=CLIENT_NAME).client_id

    browser.refresh()  # the same GET again: nothing to show, nothing made twice
    browser.shot("03-after-reload")
    secret_page_is_gone(browser, secret)

    assert Client.objects.filter(name=CLIENT_NAME).count() == 1
    assert ClientSecret.objects.filter(client__client_id=client_id).count() == 1
    browser.open(CLIENT_LIST)
    browser.shot("04-changelist")
    assert browser.column("name") == [CLIENT_NAME]
    assert browser.column("client_id") == [client_id]
    assert "1 client" in browser.text(".paginator")

    status, body = token_status(browser.base_url, client_id, secret)
    assert status == 200, body
    assert body["token_type"] == "Bearer"


def test_a_second_secret_then_revoking_the_first(browser: Browser, superuser: str,
                                                 signing_key: SigningKey) -> None:
    browser.log_in(superuser)
    add_scope(browser, "read")
    client_id, first = add_client(browser, CLIENT_NAME, "read")
    client = Client.objects.get(client_id=client_id)

    browser.open(CLIENT_LIST)
    browser.run_action("generate_secret", select=[str(client.pk)])
    browser.shot("02-second-secret-shown")
    assert browser.title == f"New secrets: copy them now {ADMIN_TITLE_SUFFIX}"
    (field,) = browser.find_all(SECRET_FIELD)
    second = str(field.get_attribute("value"))
    assert second.startswith(oauth_cc_settings.CLIENT_SECRET_PREFIX)
    assert second != first
    assert first not in browser.source
    assert browser.text("#content-main td code") == client_id
    # Away and back: the page is not kept in the browser's caches (no-store), so Back asks
    # again, and the one showing is over.
    browser.click_link(f"Go to {CLIENT_NAME}")
    assert browser.title.startswith(f"{CLIENT_NAME} ({client_id})")
    browser.back()
    browser.shot("03-back-to-secret-page")
    secret_page_is_gone(browser, first, second)

    # Both work until one is revoked (rotation without downtime).
    assert token_status(browser.base_url, client_id, first)[0] == 200
    assert token_status(browser.base_url, client_id, second)[0] == 200

    browser.open(CLIENT_LIST)
    browser.click_link(CLIENT_NAME)
    hints = browser.column("hint", SECRETS_INLINE)
    assert sorted(hints) == sorted([credentials.hint(first), credentials.hint(second)])
    assert first not in browser.source and second not in browser.source
    row = hints.index(credentials.hint(first))
    browser.tick(f"input[name=secrets-{row}-revoke]")
    browser.shot("04-revoke-first")
    browser.click("input[name=_save]")
    assert any("was changed successfully" in message for message in browser.messages())

    browser.click_link(CLIENT_NAME)
    browser.shot("05-first-revoked")
    revoked = browser.find(f"input[name=secrets-{row}-revoke]")
    assert revoked.is_selected() and not revoked.is_enabled()
    other = browser.find(f"input[name=secrets-{1 - row}-revoke]")
    assert not other.is_selected() and other.is_enabled()
    assert browser.column("revoked_at", SECRETS_INLINE)[row] != "-"
    assert browser.column("revoked_at", SECRETS_INLINE)[1 - row] == "-"

    status, body = token_status(browser.base_url, client_id, first)
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = token_status(browser.base_url, client_id, second)
    assert status == 200, body
    assert body["access_token"]


def key_states(browser: Browser) -> dict[str, str]:
    """kid -> state label, as the signing-key changelist shows them."""
    return dict(browser.rows("kid", "state"))


def published_kids(base_url: str) -> set[str]:
    status, body = call(f"{base_url}/oauth/jwks")
    assert status == 200, body
    return {key["kid"] for key in body["keys"]}


def test_rotating_signing_keys(browser: Browser, superuser: str) -> None:
    browser.log_in(superuser)
    browser.open(KEY_LIST)
    assert key_states(browser) == {}

    # First step, from the rotation page: no key yet, so one is made and signs at once.
    browser.click_link("Rotate keys")
    assert browser.title == f"Rotate signing keys {ADMIN_TITLE_SUFFIX}"
    assert "There is no signing key yet" in browser.text("#content-main")
    browser.shot("01-rotate-page-no-key")
    browser.click("#content-main input[type=submit]")
    assert browser.path == KEY_LIST
    browser.shot("02-first-key")
    (first,) = SigningKey.objects.values_list("kid", flat=True)
    assert key_states(browser) == {first: SIGNING}
    assert browser.messages(), "the step says what it did"

    # Second step, with the changelist action: a new key is published but does not sign.
    browser.run_action("rotate")
    assert browser.path == KEY_LIST
    browser.shot("03-pending")
    states = key_states(browser)
    (second,) = set(states) - {first}
    assert states == {first: SIGNING, second: PENDING}
    assert published_kids(browser.base_url) == {first, second}

    # Third step, from the page again: the new key signs, the old one is retired.
    browser.click_link("Rotate keys")
    assert f"Key {second} is published and waiting" in browser.text("#content-main")
    browser.click("#content-main input[type=submit]")
    browser.shot("04-rotated")
    assert key_states(browser) == {first: RETIRED, second: SIGNING}
    assert dict(SigningKey.objects.values_list("kid", "state")) == {
        first: SigningKey.State.RETIRED, second: SigningKey.State.ACTIVE}
    assert published_kids(browser.base_url) == {first, second}


def test_revoking_a_token_in_the_admin(browser: Browser, superuser: str, signing_key: SigningKey,
                                       make_client: MakeClient) -> None:
    client, secret = make_client(scope=READ, default_scope=READ, name="reader")
    inspector, inspector_secret = make_client(can_introspect=True, name="resource server")
    base = browser.base_url
    status, body = token_status(base, client.client_id, secret)
    assert status == 200, body
    token = body["access_token"]

    def whoami() -> int:
        return call(f"{base}/api/whoami", authorization=f"Bearer {token}")[0]

    def introspect() -> dict[str, Any]:
        status, body = call(f"{base}/oauth/introspect", form={"token": token},
                            authorization=basic(inspector.client_id, inspector_secret))
        assert status == 200, body
        return body

    assert whoami() == 200
    assert introspect()["active"] is True

    browser.log_in(superuser)
    browser.open(REVOKED_LIST)
    assert browser.column("jti") == []
    browser.click_link("Revoke a token")
    assert browser.title == f"Revoke a token {ADMIN_TITLE_SUFFIX}"
    browser.find("#id_token").send_keys(token)
    browser.shot("01-token-pasted")
    browser.click("input[type=submit][value=Revoke]")

    (row,) = RevokedToken.objects.all()
    assert browser.path == REVOKED_LIST
    browser.shot("02-revoked")
    assert browser.messages() == [f"Revoked token {row.jti} of client {client.client_id}."]
    assert browser.rows("jti", "client_id") == [(row.jti, client.client_id)]
    assert token not in browser.source

    assert whoami() == 401
    assert introspect() == {"active": False}

    # Reloading the list does not post the token again.
    browser.refresh()
    assert browser.messages() == []
    assert RevokedToken.objects.count() == 1


def test_revoking_opaque_tokens_with_the_action(browser: Browser, superuser: str,
                                                signing_key: SigningKey,
                                                make_client: MakeClient) -> None:
    client, secret = make_client(scope=READ, default_scope=READ, token_format="opaque",
                                 name="opaque reader")
    base = browser.base_url
    tokens = []
    for _ in range(2):
        status, body = token_status(base, client.client_id, secret)
        assert status == 200, body
        tokens.append(body["access_token"])
    first, second = tokens
    record = inspection.identify(first)
    assert record is not None
    row = OpaqueToken.objects.get(jti=record.jti)

    def whoami(token: str) -> int:
        return call(f"{base}/api/whoami", authorization=f"Bearer {token}")[0]

    assert [whoami(token) for token in tokens] == [200, 200]

    browser.log_in(superuser)
    browser.open(OPAQUE_LIST)
    assert sorted(browser.column("jti")) == sorted(
        OpaqueToken.objects.values_list("jti", flat=True))
    assert browser.column("revoked_at") == ["-", "-"]
    assert first not in browser.source and second not in browser.source
    browser.run_action("revoke", select=[str(row.pk)])
    browser.shot("01-revoked")
    assert browser.messages() == ["Revoked 1 token."]
    assert dict(browser.rows("jti", "revoked_at"))[row.jti] != "-"

    assert [whoami(token) for token in tokens] == [401, 200]


@pytest.mark.parametrize("path", [CLIENT_LIST, KEY_LIST], ids=["clients", "signing-keys"])
def test_admin_pages_need_a_login(browser: Browser, path: str) -> None:
    browser.open(path)
    assert browser.path.startswith("/admin/login/"), browser.path
    assert browser.title == f"Log in {ADMIN_TITLE_SUFFIX}"
