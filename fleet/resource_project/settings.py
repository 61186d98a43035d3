"""Settings of the fleet's resource server (remote mode). ``python -m fleet up`` sets every
``FLEET_RS_*`` variable, and ``SSL_CERT_FILE`` to the fleet's CA so that Python's default TLS
context (which the JWKS fetch uses) trusts nginx's certificate.
"""

import os

DEBUG = False
SECRET_KEY = os.environ["FLEET_RS_SECRET_KEY"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "fleet.resource_project.urls"
WSGI_APPLICATION = "fleet.resource_project.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TIME_ZONE = "UTC"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth_cc.rest_framework.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["oauth_cc.rest_framework.HasScope"],
    "UNAUTHENTICATED_USER": None,
}

OAUTH_CC = {
    "JWKS_URI": os.environ["FLEET_RS_JWKS_URI"],
    "TRUSTED_ISSUER": os.environ["FLEET_RS_TRUSTED_ISSUER"],
    "RESOURCE_AUDIENCE": os.environ["FLEET_RS_RESOURCE_AUDIENCE"],
    # Short, so that a key rotation at the authorization server is seen within seconds.
    "REMOTE_JWKS_CACHE_SECONDS": int(os.environ.get("FLEET_RS_JWKS_CACHE_SECONDS", "2")),
    "REMOTE_JWKS_MIN_REFRESH_SECONDS": 1,
    # Remote introspection: opaque tokens accepted, revoked tokens refused within 2 s.
    "INTROSPECTION_ENDPOINT": os.environ["FLEET_RS_INTROSPECTION_ENDPOINT"],
    "INTROSPECTION_CLIENT_ID": os.environ["FLEET_RS_INTROSPECTION_CLIENT_ID"],
    "INTROSPECTION_CLIENT_SECRET": os.environ["FLEET_RS_INTROSPECTION_CLIENT_SECRET"],
    "INTROSPECTION_CACHE_SECONDS": int(os.environ.get("FLEET_RS_INTROSPECTION_CACHE_SECONDS",
                                                      "2")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"fleet": {"format": "%(asctime)s %(levelname)s %(name)s [RS] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "fleet"}},
    "loggers": {"oauth_cc": {"handlers": ["console"], "level": "INFO"}},
}
