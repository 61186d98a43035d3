"""The admin's secret page: post/redirect/get, single use, bound to its user, kept briefly and
encrypted in the default cache, never in the URL, the session or a message."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client as HttpClient

from oauth_cc import admin as oauth_admin
from oauth_cc.models import Client, Scope, SigningKey

from .test_admin import (
    CLIENT_ADD,
    CLIENT_LIST,
    SECRET_PATTERN,
    add_form,
    post_then_get,
    secrets_on_page,
    stored_anywhere,
    token_status,
)

pytestmark = pytest.mark.django_db


class CacheSpy:
    """The admin's cache, recording what it is asked to keep."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sets: list[tuple[str, Any, Any]] = []

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self.sets.append((key, value, timeout))
        self.real.set(key, value, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> CacheSpy:
    recorder = CacheSpy(oauth_admin.secret_page_cache())
    monkeypatch.setattr(oauth_admin, "secret_page_cache", lambda: recorder)
    return recorder


@pytest.fixture
def read_scope(db: Any) -> None:
    Scope.objects.create(name="read")


def staff_with_client_permissions(username: str) -> HttpClient:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="oauth_cc", codename__in=["add_client", "change_client",
                                                           "view_client"]))
    http = HttpClient()
    http.force_login(user)
    return http


def test_reloading_the_page_shows_nothing_and_creates_nothing(
    admin_client: HttpClient, signing_key: SigningKey, read_scope: None
) -> None:
    redirect, page = post_then_get(admin_client, CLIENT_ADD, add_form())
    (secret,) = set(secrets_on_page(page))
    assert page["Pragma"] == "no-cache"
    assert "no-store" in page["Cache-Control"]
    assert "was added" in page.content.decode()  # the admin's message, which has no secret

    for _ in range(2):
        again = admin_client.get(redirect["Location"])
        assert again.status_code == 410
        assert secrets_on_page(again) == []
        assert "no-store" in again["Cache-Control"]
        assert "shown already, or it has expired" in again.content.decode()

    client = Client.objects.get()
    assert client.secrets.count() == 1
    assert token_status(client.client_id, secret)[0] == 200
    assert stored_anywhere(admin_client, secret) == []


def test_the_url_carries_only_an_unguessable_handle(
    admin_client: HttpClient, read_scope: None
) -> None:
    redirect = admin_client.post(CLIENT_ADD, add_form())

    location = redirect["Location"]
    assert location.startswith(f"{CLIENT_LIST}secrets/")
    handle = location.removeprefix(f"{CLIENT_LIST}secrets/").strip("/")
    assert len(handle) >= 43  # secrets.token_urlsafe(32)
    page = admin_client.get(location)
    (secret,) = set(secrets_on_page(page))
    assert secret not in location and handle not in secret


def test_the_cache_keeps_the_secret_encrypted_and_briefly(
    admin_client: HttpClient, read_scope: None, spy: CacheSpy
) -> None:
    redirect = admin_client.post(CLIENT_ADD, add_form())
    handle = redirect["Location"].rstrip("/").rsplit("/", 1)[-1]

    ((key, value, timeout),) = spy.sets
    assert timeout == oauth_admin.SECRET_PAGE_SECONDS == 120
    assert handle not in key
    page = admin_client.get(redirect["Location"])
    (secret,) = set(secrets_on_page(page))
    assert secret.encode() not in value
    assert not SECRET_PATTERN.search(value.decode("ascii"))
    assert spy.real.get(key) is None  # taken out by the GET


def test_an_expired_entry_shows_nothing(
    admin_client: HttpClient, read_scope: None, spy: CacheSpy
) -> None:
    redirect = admin_client.post(CLIENT_ADD, add_form())
    ((key, _value, _timeout),) = spy.sets
    spy.real.delete(key)  # what the timeout does, or a GET served by another process

    page = admin_client.get(redirect["Location"])

    assert page.status_code == 410
    assert secrets_on_page(page) == []
    assert Client.objects.get().secrets.count() == 1


def test_another_user_gets_nothing_and_the_maker_still_does(
    admin_client: HttpClient, read_scope: None
) -> None:
    redirect = admin_client.post(CLIENT_ADD, add_form())
    other = staff_with_client_permissions("colleague")

    stolen = other.get(redirect["Location"])

    assert stolen.status_code == 410
    assert secrets_on_page(stolen) == []
    page = admin_client.get(redirect["Location"])
    assert page.status_code == 200
    assert len(set(secrets_on_page(page))) == 1


def test_the_page_needs_a_staff_login(admin_client: HttpClient, read_scope: None) -> None:
    redirect = admin_client.post(CLIENT_ADD, add_form())

    anonymous = HttpClient().get(redirect["Location"])

    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]
    assert secrets_on_page(anonymous) == []
    assert admin_client.get(redirect["Location"]).status_code == 200  # not used up


def test_a_made_up_handle_shows_nothing(admin_client: HttpClient) -> None:
    response = admin_client.get(f"{CLIENT_LIST}secrets/{'A' * 43}/")

    assert response.status_code == 410
    assert secrets_on_page(response) == []


def test_the_page_is_get_only(admin_client: HttpClient, read_scope: None) -> None:
    redirect = admin_client.post(CLIENT_ADD, add_form())

    assert admin_client.post(redirect["Location"]).status_code == 405
    assert admin_client.get(redirect["Location"]).status_code == 200


def test_a_user_who_lost_the_change_permission_gets_nothing(read_scope: None) -> None:
    http = staff_with_client_permissions("clerk")
    redirect = http.post(CLIENT_ADD, add_form())
    user = User.objects.get(username="clerk")
    user.user_permissions.remove(Permission.objects.get(codename="change_client"))

    page = http.get(redirect["Location"])

    assert secrets_on_page(page) == []


def test_generated_secrets_take_the_same_way(
    admin_client: HttpClient, signing_key: SigningKey, make_client: Any
) -> None:
    first, _ = make_client(name="first")
    second, _ = make_client(name="second")
    action = {"action": "generate_secret", "_selected_action": [first.pk, second.pk]}

    redirect, page = post_then_get(admin_client, CLIENT_LIST, action)

    new = secrets_on_page(page)
    assert len(set(new)) == 2
    assert "New secrets: copy them now" in page.content.decode()
    assert token_status(first.client_id, new[0])[0] == 200
    assert token_status(second.client_id, new[1])[0] == 200
    assert admin_client.get(redirect["Location"]).status_code == 410
    assert first.secrets.count() == second.secrets.count() == 2


def test_without_a_working_cache_the_secret_is_shown_at_once(
    admin_client: HttpClient, read_scope: None, settings: Any
) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

    response = admin_client.post(CLIENT_ADD, add_form())

    assert response.status_code == 200
    assert len(set(secrets_on_page(response))) == 1
    assert "no-store" in response["Cache-Control"]


def test_a_failing_cache_shows_the_secret_at_once(
    admin_client: HttpClient, read_scope: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def set(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("cache server down")

    monkeypatch.setattr(oauth_admin, "secret_page_cache", Broken)

    response = admin_client.post(CLIENT_ADD, add_form())

    assert response.status_code == 200
    assert len(set(secrets_on_page(response))) == 1


def test_secrets_wait_in_the_revocation_cache(
    admin_client: HttpClient, read_scope: None, settings: Any
) -> None:
    """The cache oauth_cc already needs shared between processes (W002), not ``default``."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
        "oauth": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                  "LOCATION": "secret-page-test"},
    }
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REVOCATION_CACHE": "oauth"}

    _redirect, page = post_then_get(admin_client, CLIENT_ADD, add_form())

    assert page.status_code == 200
    assert len(set(secrets_on_page(page))) == 1
