"""Settings for tests that run the test project as real servers (gunicorn workers, separate
processes) on a SQLite file: the test settings, with the database in OAUTH_CC_SQLITE_FILE
and a TLS-terminating "proxy" trusted on loopback. Nothing else is changed: the revocation
cache stays Django's default, per-process LocMemCache."""

import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # Django's defaults otherwise: the rotation must not depend on transaction_mode.
        "NAME": os.environ["OAUTH_CC_SQLITE_FILE"],
    }
}
OAUTH_CC = {**OAUTH_CC, "TRUSTED_PROXIES": ["127.0.0.1"]}  # noqa: F405
