"""Settings for tests that run the test project as real servers (gunicorn workers, separate
processes) on a SQLite file: the test settings, with the database in OAUTH_CC_SQLITE_FILE
and a TLS-terminating "proxy" trusted on loopback. Nothing else is changed: the revocation
cache stays Django's default, per-process LocMemCache."""

import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["OAUTH_CC_SQLITE_FILE"],
        # Writers wait for each other instead of failing at once.
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}
OAUTH_CC = {**OAUTH_CC, "TRUSTED_PROXIES": ["127.0.0.1"]}  # noqa: F405
