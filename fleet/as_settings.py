"""Settings of the fleet's authorization-server instances A and B (``python -m fleet up``).

The demo project's settings, plus what several processes behind a TLS proxy need. Every value
comes from an environment variable that ``fleet up`` sets; ``demo_project/settings.py`` reads
the rest (``DATABASE_URL``, ``SECRET_KEY``, ``OAUTH_CC_ISSUER``, ...).

- Django's cache is the fleet's Redis, and it is oauth_cc's ``REVOCATION_CACHE``: a
  revocation at A is seen by B's next request.
- ``KEY_CACHE_SECONDS`` is short (``FLEET_KEY_CACHE_SECONDS``, 2) so that a key rotation
  reaches every process within seconds.
- Database connections persist (``FLEET_CONN_MAX_AGE``, 60 s; 0: one per request): opening
  one (scram-sha-256, a new backend) costs about 4.5 ms of CPU here, which cut the token
  endpoint's throughput to about a quarter. ``CONN_HEALTH_CHECKS`` checks a reused connection
  first, so a restarted PostgreSQL costs no request.
- HTTPS: nginx terminates TLS and talks to gunicorn over a unix socket. gunicorn trusts
  ``X-Forwarded-Proto`` only on that socket (``--forwarded-allow-ips ''``: no TCP peer is
  trusted) and sets ``wsgi.url_scheme``, which Django reads. ``SECURE_PROXY_SSL_HEADER`` stays
  unset on purpose: with it, Django would believe the header from anyone who reaches gunicorn's
  TCP port directly.
"""

import json
import os

from demo_project.settings import *  # noqa: F403
from demo_project.settings import OAUTH_CC as DEMO_OAUTH_CC

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECURE_PROXY_SSL_HEADER = None
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

DATABASES["default"].update(  # noqa: F405
    CONN_MAX_AGE=int(os.environ.get("FLEET_CONN_MAX_AGE", "60")), CONN_HEALTH_CHECKS=True)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["FLEET_REDIS_URL"],
        "KEY_PREFIX": "fleet",
    },
}

OAUTH_CC = {
    **DEMO_OAUTH_CC,
    # Revocations and throttling counters are shared by every process of A and B.
    "REVOCATION_CACHE": "default",
    "THROTTLE_CACHE": "default",
    "KEY_CACHE_SECONDS": int(os.environ.get("FLEET_KEY_CACHE_SECONDS", "2")),
    # nginx reaches gunicorn over a unix socket (REMOTE_ADDR is empty): only requests that
    # came that way have their X-Forwarded-For and X-Forwarded-Proto believed.
    "TRUSTED_PROXIES": json.loads(os.environ.get("FLEET_TRUSTED_PROXIES", '["unix"]')),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"fleet": {"format": "%(asctime)s %(levelname)s %(name)s [" +
                             os.environ.get("FLEET_INSTANCE", "?") + "] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "fleet"}},
    "loggers": {"oauth_cc": {"handlers": ["console"], "level": "INFO"}},
}
