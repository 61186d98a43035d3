"""Settings for the test suite (not the demo project)."""

import os

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "oauth_cc",
    "demo_project",  # its protected inventory API is tested too
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# SQLite in memory by default; OAUTH_CC_TEST_DB=postgres uses PostgreSQL with the libpq
# variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) that ci/postgres.sh sets.
TEST_DB = os.environ.get("OAUTH_CC_TEST_DB", "sqlite")
if TEST_DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "oauth_cc"),
            "USER": os.environ.get("PGUSER", ""),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", ""),
            "PORT": os.environ.get("PGPORT", ""),
        }
    }
elif TEST_DB == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
else:
    raise ValueError(f"OAUTH_CC_TEST_DB must be 'sqlite' or 'postgres', not {TEST_DB!r}")
# Django's per-process cache by default; OAUTH_CC_TEST_CACHE=redis puts the default cache
# (so the revocation version and the throttling counters) in the Redis at REDIS_URL, as the
# documented production settings do (ci/redis.sh starts one).
if os.environ.get("OAUTH_CC_TEST_CACHE") == "redis":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["REDIS_URL"]}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

# A fixed Fernet key for tests only; real deployments read theirs from the environment.
TEST_KEY_ENCRYPTION_KEY = "dGVzdHMtb25seS1rZXktZW5jcnlwdGlvbi1rZXkhISE="

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth_cc.rest_framework.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["oauth_cc.rest_framework.HasScope"],
    "DEFAULT_SCHEMA_CLASS": "oauth_cc.contrib.spectacular.AutoSchema",
}

OAUTH_CC = {
    "ISSUER": "https://as.example.test",
    "DEFAULT_AUDIENCE": "https://api.example.test",
    "KEY_ENCRYPTION_KEYS": [TEST_KEY_ENCRYPTION_KEY],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"oauth_cc": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}
