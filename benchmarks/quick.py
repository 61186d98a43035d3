"""A rough in-process measurement: token requests and protected API calls next to a bare DRF
view, in one run.

    .venv/bin/python benchmarks/quick.py

Calls the WSGI application directly (no network), a fresh environ per call, round-robin
across scenarios, median of 7 repeats. DEBUG off, SQLite file database, persistent
connections, JSON renderer only. The benchmark issue replaces this with a full suite.
"""

from __future__ import annotations

import base64
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import django
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="oauth_cc_bench_"))

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",  # noqa: S106
    ALLOWED_HOSTS=["*"],
    USE_TZ=True,
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework",
                    "oauth_cc"],
    MIDDLEWARE=["django.middleware.security.SecurityMiddleware",
                "django.middleware.common.CommonMiddleware"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": str(WORKDIR / "bench.sqlite3"), "CONN_MAX_AGE": None}},
    REST_FRAMEWORK={"DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
                    "DEFAULT_AUTHENTICATION_CLASSES": [],
                    "DEFAULT_PERMISSION_CLASSES": [],
                    "UNAUTHENTICATED_USER": None},
    OAUTH_CC={"ISSUER": "https://as.example", "DEFAULT_AUDIENCE": "https://api.example",
              "KEY_ENCRYPTION_KEYS": ["YmVuY2htYXJrLW9ubHkta2V5LWVuY3J5cHRpb24tayE="]},
)
django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from oauth_cc import validation  # noqa: E402
from oauth_cc.rest_framework import BearerTokenAuthentication, HasScope  # noqa: E402
from oauth_cc.settings import oauth_cc_settings  # noqa: E402


class Bare(APIView):
    def get(self, request):
        return Response({"ok": True})


class Protected(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScope]
    required_scopes = ["read"]

    def get(self, request):
        return Response({"ok": True})


def plain(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("oauth/", include("oauth_cc.urls")),
    path("bare", Bare.as_view()),
    path("protected", Protected.as_view()),
    path("plain", plain),
]


def environ(method: str, path_info: str, body: bytes = b"", **headers: str) -> dict:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path_info, "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "443", "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "CONTENT_LENGTH": str(len(body)),
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
    }
    if body:
        env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    env.update(headers)
    return env


def main() -> None:
    call_command("migrate", verbosity=0)
    from oauth_cc import keys
    from oauth_cc.models import Client

    app = WSGIHandler()
    results: dict[str, list[float]] = {}
    scenarios = {}
    for algorithm in ("RS256", "ES256"):
        keys.promote(keys.create_key(algorithm))
        client = Client.objects.create(name=f"bench {algorithm}", allowed_scopes="read",
                                       default_scopes="read")
        secret = client.add_secret()
        auth = "Basic " + base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
        body = b"grant_type=client_credentials&scope=read"
        material = keys.active()

        def token_call(auth=auth, body=body, material=material):
            keys._active_cache["entry"] = (material, float("inf"))
            return environ("POST", "/oauth/token", body, HTTP_AUTHORIZATION=auth)

        scenarios[f"token request ({algorithm}, secret hashed)"] = token_call
    def issue(call) -> str:
        return json.loads(b"".join(app(call(), lambda *a: None)))["access_token"]

    token = issue(token_call)
    revoked = issue(token_call)
    opaque_client = Client.objects.create(name="bench opaque", allowed_scopes="read",
                                          default_scopes="read", token_format="opaque")  # noqa: S106
    opaque_secret = opaque_client.add_secret()
    opaque_auth = "Basic " + base64.b64encode(
        f"{opaque_client.client_id}:{opaque_secret}".encode()).decode()
    opaque = issue(lambda: environ("POST", "/oauth/token", b"grant_type=client_credentials",
                                   HTTP_AUTHORIZATION=opaque_auth))
    from oauth_cc import inspection, views

    views.revoke_record(inspection.identify(revoked))

    def protected(raw: str, first_sight: bool = False, check_revocation: bool = True):
        def make():
            # Harness switches, not shortcuts: the settings object caches values as
            # attributes, and clearing the verified-token cache makes every call a first sight.
            oauth_cc_settings.CHECK_REVOCATION = check_revocation
            if first_sight:
                validation._verified.clear()
            return environ("GET", "/protected", HTTP_AUTHORIZATION=f"Bearer {raw}")
        return make

    scenarios["protected GET, JWT seen before, no denylist"] = protected(
        token, check_revocation=False)
    scenarios["protected GET, JWT seen before (denylist on)"] = protected(token)
    scenarios["protected GET, JWT first sight (denylist on)"] = protected(token, first_sight=True)
    scenarios["protected GET, revoked JWT"] = protected(revoked)
    scenarios["protected GET, opaque seen before"] = protected(opaque)
    scenarios["protected GET, opaque first sight (1 query)"] = protected(opaque, first_sight=True)
    scenarios["protected GET, invalid JWT (bad signature)"] = protected(token[:-6] + "AAAAAA")
    expect_401 = {"protected GET, invalid JWT (bad signature)", "protected GET, revoked JWT"}
    scenarios["bare DRF APIView (ceiling)"] = lambda: environ("GET", "/bare")
    scenarios["plain Django view (floor)"] = lambda: environ("GET", "/plain")

    def call(make_env):
        status = []
        chunks = app(make_env(), lambda s, h, exc_info=None: status.append(s))
        b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        return status[0]

    for name, make_env in scenarios.items():  # warm-up and sanity check
        expected = "401" if name in expect_401 else "200"
        for _ in range(50):
            status = call(make_env)
            assert status.startswith(expected), (name, status)
    calls = 200
    for _ in range(7):
        for name, make_env in scenarios.items():
            start = time.perf_counter()
            for _ in range(calls):
                call(make_env)
            results.setdefault(name, []).append((time.perf_counter() - start) / calls * 1e6)
    bare = statistics.median(results["bare DRF APIView (ceiling)"])
    oauth_cc_settings.CHECK_REVOCATION = True
    print(f"{'scenario':45} {'µs/call':>9} {'spread':>8} {'÷ bare':>7}")
    for name, samples in results.items():
        median = statistics.median(samples)
        spread = (max(samples) - min(samples)) / median * 100
        print(f"{name:45} {median:9.0f} {spread:7.0f}% {median / bare:7.2f}")


if __name__ == "__main__":
    main()
