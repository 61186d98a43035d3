"""``manage.py importdot`` against a real django-oauth-toolkit database, then the imported
clients at the token endpoint, through HTTP, with their unchanged DOT secrets.

The DOT database is made the way a DOT project makes it: a small settings module with
``oauth2_provider`` installed, ``migrate`` and DOT's own ``Application`` model, in a
subprocess (DOT is never imported by the test process, as it need not be installed where the
command runs). The test process then reaches that SQLite file as a second database alias,
``dot``, and the command reads it with ``--database dot``, as a project pointing at its old
DOT database would. The alias is a connection added to Django's connection handler for the
test only (``connections["dot"] = ...``, not a ``DATABASES`` entry): pytest-django sets up
test databases for the aliases in settings, and Django's test case lets a test use such a
dynamically created connection, so the file is read as it is, with no test copy of it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.utils import load_backend
from django.urls import include, path

from oauth_cc import clock, credentials
from oauth_cc.models import Client, ClientSecret, Scope
from oauth_cc.server import client_secret
from oauth_cc.server.endpoints import token
from tests.conftest import assert_error, post_token, verify

GRANT = {"grant_type": "client_credentials"}

#: The URLs docs/howto/migrate-from-dot.md shows: oauth_cc's, and its token endpoint at DOT's
#: path as well, so that calling services keep their token URL.
urlpatterns = [
    path("oauth/", include("oauth_cc.urls")),
    path("o/token/", token),
]
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"

DOT_SETTINGS = """
SECRET_KEY = "dot-test-project"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "oauth2_provider"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %(name)r}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Django's PBKDF2 (pbkdf2_sha256$...) with few iterations, so that the test is quick; the
# iteration count is part of each hash, and the test process checks it with Django's own
# PBKDF2PasswordHasher.
PASSWORD_HASHERS = ["dot_hashers.QuickPBKDF2"]
"""

DOT_HASHERS = """
from django.contrib.auth.hashers import PBKDF2PasswordHasher


class QuickPBKDF2(PBKDF2PasswordHasher):
    iterations = 1000
"""

DOT_APPLICATIONS = """
import json

import django

django.setup()

from django.core.management import call_command

call_command("migrate", verbosity=0)

from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model

Application = get_application_model()
CONFIDENTIAL, PUBLIC = Application.CLIENT_CONFIDENTIAL, Application.CLIENT_PUBLIC
CLIENT_CREDENTIALS = Application.GRANT_CLIENT_CREDENTIALS


def make(name, client_secret=None, **fields):
    fields.setdefault("client_type", CONFIDENTIAL)
    fields.setdefault("authorization_grant_type", CLIENT_CREDENTIALS)
    if client_secret is None:
        client_secret = generate_client_secret()
    application = Application(name=name, client_secret=client_secret, **fields)
    application.save()  # DOT hashes the secret here unless hash_client_secret is False
    return {"client_id": application.client_id, "client_secret": client_secret}


print(json.dumps({
    "hashed": make("Billing"),  # DOT's default: hash_client_secret=True
    "plain": make("Reports", hash_client_secret=False),
    "post": make("Inventory"),
    "public": make("Mobile app", client_type=PUBLIC),
    "authcode": make("Website", authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                     redirect_uris="https://web.example.test/callback"),
    "empty": make("No secret", client_secret="", hash_client_secret=False),
}))
"""


@pytest.fixture(scope="module")
def dot_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A SQLite database made by django-oauth-toolkit, and its applications' plaintext
    credentials by role."""
    folder = tmp_path_factory.mktemp("dot_project")
    path = folder / "dot.sqlite3"
    (folder / "dot_settings.py").write_text(DOT_SETTINGS % {"name": str(path)})
    (folder / "dot_hashers.py").write_text(DOT_HASHERS)
    (folder / "make_applications.py").write_text(textwrap.dedent(DOT_APPLICATIONS))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dot_settings", "PYTHONPATH": str(folder)}
    done = subprocess.run([sys.executable, str(folder / "make_applications.py")], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return path, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def dot(db: Any, dot_database: tuple[Path, dict[str, Any]], settings: Any
        ) -> Iterator[dict[str, Any]]:
    """The DOT database as the alias ``dot``; PBKDF2 among the PASSWORD_HASHERS, as in
    Django's default list. Depends on ``db`` so that the alias is gone before pytest-django
    tears down the test database."""
    path, applications = dot_database
    settings.PASSWORD_HASHERS = [*settings.PASSWORD_HASHERS, PBKDF2]
    configured = connections.configure_settings({
        "default": {}, "dot": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}})
    connection = load_backend(configured["dot"]["ENGINE"]).DatabaseWrapper(
        configured["dot"], "dot")
    connections["dot"] = connection
    try:
        yield applications
    finally:
        connection.close()
        del connections["dot"]


def stored_dot_secrets(path: Path) -> list[str]:
    """The client_secret column of every DOT application, as DOT stored it."""
    with sqlite3.connect(path) as database:
        return [row[0] for row in database.execute(
            "SELECT client_secret FROM oauth2_provider_application")]


def importdot(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("importdot", "--database", "dot", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def imported_secret(client_id: str) -> ClientSecret:
    return ClientSecret.objects.get(client__client_id=client_id)


# --- the command -------------------------------------------------------------------------------

def test_imports_confidential_client_credentials_applications_only_CAUTH_01(dot):
    # CAUTH-01: public clients (and other grants' applications) are not imported.
    output = importdot("--scopes", "read write")
    imported = {dot[role]["client_id"] for role in ("hashed", "plain", "post")}
    assert set(Client.objects.values_list("client_id", flat=True)) == imported
    for role in ("public", "authcode", "empty"):
        assert not Client.objects.filter(client_id=dot[role]["client_id"]).exists()
    assert f"Skipped {dot['public']['client_id']}: a public client" in output
    assert f"Skipped {dot['authcode']['client_id']}: grant type 'authorization-code'" in output
    assert f"Skipped {dot['empty']['client_id']}: no client secret" in output
    assert "Registered new scopes: read write" in output
    assert "Imported 3 client(s), skipped 3." in output
    billing = Client.objects.get(client_id=dot["hashed"]["client_id"])
    assert (billing.name, billing.token_endpoint_auth_method, billing.allowed_scopes,
            billing.default_scopes) == ("Billing", "client_secret_basic", "read write",
                                        "read write")
    assert set(Scope.objects.values_list("name", flat=True)) == {"read", "write"}


def test_a_hashed_secret_is_kept_as_legacy_hash_a_plain_one_as_its_digest_GEN_07(dot):
    # GEN-07: no secret is stored in clear; DOT's hash is kept only until first use.
    importdot()
    hashed = imported_secret(dot["hashed"]["client_id"])
    assert hashed.legacy_hash.startswith("pbkdf2_sha256$")
    assert hashed.digest.startswith(ClientSecret.UNMATCHABLE_DIGEST_PREFIX)
    assert len(hashed.digest) == 64
    assert hashed.hint == "imported…"
    plain = imported_secret(dot["plain"]["client_id"])
    assert plain.legacy_hash == ""
    assert plain.digest == credentials.digest(dot["plain"]["client_secret"])
    assert plain.hint == dot["plain"]["client_secret"][:4] + "…"
    assert plain.label == hashed.label == "imported from django-oauth-toolkit"


def test_rerunning_is_idempotent(dot):
    importdot("--scopes", "read")
    before = list(ClientSecret.objects.values_list("pk", "digest", "legacy_hash"))
    output = importdot("--scopes", "read")
    assert "Imported 0 client(s), skipped 6." in output
    assert output.count("a client with this client_id exists already") == 3
    assert list(ClientSecret.objects.values_list("pk", "digest", "legacy_hash")) == before
    assert Client.objects.count() == 3


def test_dry_run_writes_nothing(dot):
    output = importdot("--dry-run", "--scopes", "read write")
    assert "Would import 3 client(s), skipped 3. Nothing was written (--dry-run)." in output
    assert "Would register new scopes: read write" in output
    assert (Client.objects.count(), ClientSecret.objects.count(), Scope.objects.count()) == (
        0, 0, 0)


def test_without_scopes_the_clients_get_no_token_and_the_command_says_so_SCOPE_03(
        client, signing_key, dot):
    # SCOPE-03: no scope requested and no default scope is invalid_scope.
    output = importdot("--client-id", dot["plain"]["client_id"])
    assert "have no allowed scope" in output
    response = post_token(client, GRANT, auth=(dot["plain"]["client_id"],
                                               dot["plain"]["client_secret"]))
    assert_error(response, "invalid_scope")


def test_client_id_option_imports_only_those(dot):
    output = importdot("--client-id", dot["post"]["client_id"], "--client-id", "not-in-dot")
    assert list(Client.objects.values_list("client_id", flat=True)) == [dot["post"]["client_id"]]
    assert "Skipped not-in-dot: not in oauth2_provider_application" in output


def test_a_taken_name_gets_the_client_id_as_suffix(dot, make_client):
    make_client(name="BILLING")  # names are unique without regard to case
    importdot()
    billing = Client.objects.get(client_id=dot["hashed"]["client_id"])
    assert billing.name == f"Billing ({billing.client_id})"


def test_json_output(dot):
    result = json.loads(importdot("--json", "--client-id", dot["hashed"]["client_id"],
                                  "--client-id", dot["public"]["client_id"]))
    assert result["dry_run"] is False
    assert [(c["client_id"], c["stored_as"]) for c in result["imported"]] == [
        (dot["hashed"]["client_id"], "password_hash")]
    assert [s["client_id"] for s in result["skipped"]] == [dot["public"]["client_id"]]


def test_a_hash_of_an_unknown_algorithm_stops_the_import(dot, settings):
    # Storing the digest of a hash would turn the hash itself into a working secret.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with pytest.raises(CommandError, match="PASSWORD_HASHERS") as raised:
        importdot()
    assert dot["hashed"]["client_id"] in str(raised.value)
    assert dot["plain"]["client_id"] not in str(raised.value)
    assert Client.objects.count() == 0


def test_a_missing_table_or_database_is_a_clear_error(dot):
    with pytest.raises(CommandError, match="Cannot read table 'no_such_table'"):
        importdot("--table", "no_such_table")
    with pytest.raises(CommandError, match="lacks the column"):
        importdot("--table", "oauth2_provider_accesstoken")
    with pytest.raises(CommandError, match="No database 'elsewhere'"):
        call_command("importdot", "--database", "elsewhere", stdout=io.StringIO())
    # A schema-qualified name is quoted part by part (SQLite's schema is "main").
    assert "Would import 3 client(s)" in importdot("--table", "main.oauth2_provider_application",
                                                   "--dry-run")


def test_scopes_must_be_valid_and_defaults_allowed(dot):
    with pytest.raises(CommandError, match="RFC 6749"):
        importdot("--scopes", 'bad"scope')
    with pytest.raises(CommandError, match="Default scopes"):
        importdot("--scopes", "read", "--default-scopes", "write")
    importdot("--scopes", "read write", "--default-scopes", "read")
    assert set(Client.objects.values_list("default_scopes", flat=True)) == {"read"}


# --- the imported clients at the token endpoint ------------------------------------------------

def wrong(secret: str) -> str:
    """The secret with its last character changed: always a different secret. (Replacing it with
    a fixed letter was the right secret whenever the random secret already ended in that letter,
    one run in 62.)"""
    return secret[:-1] + ("y" if secret.endswith("x") else "x")


def test_hashed_dot_secret_gets_a_token_and_becomes_a_digest_CAUTH_02_GEN_07(
        client, signing_key, dot, django_assert_num_queries):
    # CAUTH-02 (Basic), GEN-07 (after the first use only the SHA-256 digest is stored).
    importdot("--scopes", "read write", "--default-scopes", "read")
    client_id, secret = dot["hashed"]["client_id"], dot["hashed"]["client_secret"]
    # CAUTH-03: a wrong secret is 401 invalid_client, and changes nothing.
    assert_error(post_token(client, GRANT, auth=(client_id, wrong(secret))),
                 "invalid_client", status=401)
    assert imported_secret(client_id).legacy_hash.startswith("pbkdf2_sha256$")

    response = post_token(client, GRANT, auth=(client_id, secret))
    assert response.status_code == 200, response.content
    claims = verify(client, response.json()["access_token"])
    assert (claims["client_id"], claims["scope"]) == (client_id, "read")
    row = imported_secret(client_id)
    assert (row.legacy_hash, row.digest) == ("", credentials.digest(secret))
    assert row.hint == secret[:4] + "…"

    assert_error(post_token(client, GRANT, auth=(client_id, wrong(secret))),
                 "invalid_client", status=401)
    # From now on, the ordinary path: one query.
    with django_assert_num_queries(1):
        again = post_token(client, {**GRANT, "scope": "write"}, auth=(client_id, secret))
    assert again.status_code == 200, again.content


def test_plain_dot_secret_works_on_the_one_query_path(client, api_client, dot,
                                                      django_assert_num_queries):
    importdot("--scopes", "read")
    assert post_token(client, GRANT, auth=(api_client[0].client_id, api_client[1])
                      ).status_code == 200  # warm the key cache
    with django_assert_num_queries(1):
        response = post_token(client, GRANT, auth=(dot["plain"]["client_id"],
                                                   dot["plain"]["client_secret"]))
    assert response.status_code == 200, response.content


def test_client_secret_post_import_CAUTH_04_CAUTH_07(client, signing_key, dot):
    # CAUTH-04: the secret in the body; CAUTH-07: only the registered method is accepted.
    importdot("--client-id", dot["post"]["client_id"], "--auth-method", "client_secret_post",
              "--scopes", "read")
    client_id, secret = dot["post"]["client_id"], dot["post"]["client_secret"]
    # Without the Authorization header, invalid_client is a 400 (RFC 6749 §5.2).
    assert_error(post_token(client, {**GRANT, "client_id": client_id,
                                     "client_secret": secret + "x"}),
                 "invalid_client", status=400)
    assert_error(post_token(client, GRANT, auth=(client_id, secret)),
                 "invalid_client", status=401)
    response = post_token(client, {**GRANT, "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.content
    assert imported_secret(client_id).legacy_hash == ""
    response = post_token(client, {**GRANT, "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.content


def test_skipped_applications_get_no_token_CAUTH_01(client, signing_key, dot):
    # CAUTH-01
    importdot()
    for role in ("public", "authcode"):
        assert_error(post_token(client, GRANT, auth=(dot[role]["client_id"],
                                                     dot[role]["client_secret"])),
                     "invalid_client", status=401)


def test_a_concurrent_first_use_rewrites_once_and_both_succeed(dot, signing_key):
    importdot("--client-id", dot["hashed"]["client_id"])
    client_id, secret = dot["hashed"]["client_id"], dot["hashed"]["client_secret"]
    _alias, stale = client_secret._USABLE_SECRETS.rows(
        client_id=client_id, at=clock.now())
    assert client_secret.verify_secret(client_id, secret) is not None  # the winner
    row = imported_secret(client_id)
    # The loser read the row before the winner rewrote it: it verifies against the hash it
    # read, succeeds, and its UPDATE (naming the old hash) changes nothing.
    assert client_secret._verify_legacy(stale, secret) is not None
    assert list(ClientSecret.objects.values_list("pk", "digest", "legacy_hash")) == [
        (row.pk, credentials.digest(secret), "")]


def test_no_secret_or_hash_in_output_or_logs_GEN_05(client, signing_key, dot, caplog,
                                                    dot_database):
    # GEN-05
    caplog.set_level(logging.DEBUG)
    output = importdot("--dry-run", "-v", "3") + importdot("--json", "--dry-run") + importdot()
    for role in ("hashed", "plain", "post"):
        client_id, secret = dot[role]["client_id"], dot[role]["client_secret"]
        post_token(client, GRANT, auth=(client_id, secret + "x"))
        post_token(client, GRANT, auth=(client_id, secret))
    text = output + "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records
    stored = [value for value in stored_dot_secrets(dot_database[0]) if value]
    hash_parts = [part for value in stored for part in value.split("$")[2:]]
    secrets = [dot[role]["client_secret"] for role in dot if dot[role]["client_secret"]]
    for sensitive in [*secrets, *stored, *hash_parts]:
        assert sensitive not in text


def test_callers_keep_dots_token_url(client, signing_key, dot, settings):
    # The guide serves the token endpoint at DOT's default path too.
    settings.ROOT_URLCONF = __name__
    importdot("--scopes", "read")
    response = post_token(client, GRANT, url="/o/token/",
                          auth=(dot["hashed"]["client_id"], dot["hashed"]["client_secret"]))
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access_token", "token_type", "expires_in", "scope"}
