"""Settings of the demo project. Values come from the environment or ``demo_project/.env``.

``make demo`` writes ``demo_project/.env`` with fresh random keys the first time it runs.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
PORT = env.int("DEMO_PORT", default=8000)
#: Where ``manage.py demo_setup`` writes what ``python -m demo_project.clients`` reads: the
#: demo clients' ids and this run's secrets, and the private JWK of demo-key-client (mode
#: 0600; ``demo_project/.state/`` is git-ignored).
DEMO_STATE_DIR = Path(env.str("DEMO_STATE_DIR", default=str(BASE_DIR / ".state")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "oauth_cc",
    "demo_project",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Every API view needs a valid access token with the scopes it declares.
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth_cc.rest_framework.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["oauth_cc.rest_framework.HasScope"],
    # The OpenAPI schema (/api/schema, Swagger UI at /api/docs) shows the OAuth 2.0 scheme,
    # the scopes each operation needs and the 401/403 answers (docs/openapi.md).
    "DEFAULT_SCHEMA_CLASS": "oauth_cc.contrib.spectacular.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "oauth_cc demo inventory API",
    "DESCRIPTION": "Get a token from the token endpoint with the client credentials that "
                   "`manage.py demo_setup` prints (Authorize), then call the API.",
    "SERVE_INCLUDE_SCHEMA": False,
}

OAUTH_CC = {
    "ISSUER": env.str("OAUTH_CC_ISSUER", default=f"http://127.0.0.1:{PORT}"),
    "DEFAULT_AUDIENCE": env.str("OAUTH_CC_DEFAULT_AUDIENCE",
                                default=f"http://127.0.0.1:{PORT}/api"),
    "KEY_ENCRYPTION_KEYS": env.list("OAUTH_CC_KEY_ENCRYPTION_KEYS"),
    "ACCESS_TOKEN_LIFETIME": env.int("OAUTH_CC_ACCESS_TOKEN_LIFETIME", default=600),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"oauth_cc": {"handlers": ["console"], "level": "INFO"}},
}
