"""oauth_cc's admin and messages in German: the catalogue ships compiled and Django uses it
when the project's language is German (proof that the strings are marked and the machinery
works; the English strings are the source)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import translation

import oauth_cc

pytestmark = pytest.mark.django_db


def test_catalogue_ships_compiled():
    folder = Path(oauth_cc.__file__).parent / "locale" / "de" / "LC_MESSAGES"
    assert (folder / "django.po").is_file() and (folder / "django.mo").is_file()


def test_admin_index_is_german_for_oauth_cc_too(admin_client, settings):
    settings.LANGUAGE_CODE = "de"
    with translation.override("de"):
        page = admin_client.get("/admin/").content.decode()
    assert "OAuth-Client-Credentials" in page  # the app
    assert "Signaturschlüssel" in page and "Clients" in page  # its models
    assert "Website-Verwaltung" in page or "Django-Verwaltung" in page  # Django's own


def test_admin_pages_and_messages_are_german(admin_client, settings):
    settings.LANGUAGE_CODE = "de"
    with translation.override("de"):
        rotate = admin_client.get("/admin/oauth_cc/signingkey/rotate/").content.decode()
        model_error = str(translation.gettext("Default scopes must also be allowed scopes."))
    assert "Schlüssel rotieren" in rotate or "Rotation einen Schritt" in rotate
    assert model_error == "Standard-Scopes müssen auch erlaubte Scopes sein."


def test_english_stays_the_source(admin_client):
    with translation.override("en"):
        page = admin_client.get("/admin/").content.decode()
    assert "OAuth client credentials" in page and "Signing keys" in page


def test_catalogue_is_complete():
    """Every marked string has a German translation: no empty msgstr (but the header's), no
    fuzzy entry left by makemessages."""
    po = (Path(oauth_cc.__file__).parent / "locale" / "de" / "LC_MESSAGES" / "django.po"
          ).read_text(encoding="utf-8")
    entries = po.split("\n\n")[1:]  # the first is the header
    assert entries
    for entry in entries:
        assert "#, fuzzy" not in entry, entry
        lines = entry.strip().splitlines()
        msgstr = [i for i, line in enumerate(lines) if line.startswith("msgstr")]
        for index in msgstr:
            value = lines[index].split(" ", 1)[1]
            continued = index + 1 < len(lines) and lines[index + 1].startswith('"')
            assert value != '""' or continued, entry


def test_client_form_labels_are_german(admin_client, settings):
    settings.LANGUAGE_CODE = "de"
    with translation.override("de"):
        page = admin_client.get("/admin/oauth_cc/client/add/").content.decode()
    for label in ("Authentifizierungsmethode", "Schlüssel und Zertifikate", "DPoP erforderlich",
                  "Zertifikatsinhaber (DN)", "An den Absender gebundene Tokens"):
        assert label in page, label
