"""One Django project holding oauth_cc, django-oauth-toolkit (DOT) and bare views, so that
every scenario runs on the same Django, settings and database in one process run.

Equivalent settings for all: DEBUG off, persistent SQLite connection, JSON renderer only,
Django's default password hashers (DOT's default client-secret hashing uses them).
"""

import os
from pathlib import Path

DATABASE_PATH = os.environ.get("BENCH_DATABASE", str(Path(__file__).parent / "bench.sqlite3"))

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "bench_project.urls"
WSGI_APPLICATION = "bench_project.wsgi.application"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "oauth_cc",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATABASE_PATH,
                         "CONN_MAX_AGE": None}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
# The token endpoints see https through a trusted proxy header, as behind a TLS terminator.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

OAUTH_CC = {
    "ISSUER": "https://as.bench.test",
    "DEFAULT_AUDIENCE": "https://api.bench.test",
    "KEY_ENCRYPTION_KEYS": ["YmVuY2htYXJrLW9ubHkta2V5LWVuY3J5cHRpb24tayE="],
}
OAUTH2_PROVIDER = {
    "SCOPES": {"read": "read"},
    "ACCESS_TOKEN_EXPIRE_SECONDS": 600,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    # 4xx responses are logged by django.request for every framework alike; keep it quiet.
    "loggers": {"django.request": {"handlers": ["null"], "propagate": False},
                "oauth_cc": {"handlers": ["null"], "propagate": False}},
}
