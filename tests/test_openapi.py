"""The OpenAPI schema with drf-spectacular (``oauth_cc.contrib.spectacular``): the OAuth 2.0
scheme, each operation's security requirement, the 401/403 responses, the demo's schema and
Swagger UI pages."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import drf_spectacular
import pytest
from django.core.management import call_command
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.management.commands.spectacular import Command as Spectacular
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.settings import patched_settings
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from demo_project import api as demo
from oauth_cc.contrib.spectacular import SCHEME_NAME, AutoSchema, required_alternatives
from oauth_cc.models import Scope
from oauth_cc.rest_framework import BearerTokenAuthentication, required_scopes
from tests import api_views as v
from tests.conftest import ISSUER, bearer, post_token

READ, WRITE = "inventory:read", "inventory:write"
SCHEMA_CLASS = "oauth_cc.contrib.spectacular.AutoSchema"


# --- views and URLs of this module ------------------------------------------------------------

class Described(serializers.Serializer):
    client_id = serializers.CharField()


def _described(view: type[APIView]) -> type[APIView]:
    """``view`` with a serializer, so that drf-spectacular has nothing else to warn about."""
    return type(view.__name__, (view,), {"serializer_class": Described})


class OptionalToken(APIView):
    """AllowAny with the default authenticators: a token is optional, a bad one is refused."""

    permission_classes = [AllowAny]
    serializer_class = Described

    def get(self, request: Request) -> Response:
        return Response({})


class CustomBearer(BearerTokenAuthentication):
    pass


class Subclassed(APIView):
    authentication_classes = [CustomBearer]
    required_scopes = ["a"]
    serializer_class = Described

    def get(self, request: Request) -> Response:
        return Response({})


class OwnResponses(AutoSchema):
    """Responses declared by the view's schema (as ``@extend_schema`` would; it cannot be
    used here: these settings set no DEFAULT_SCHEMA_CLASS when this module is imported)."""

    def get_response_serializers(self) -> Any:
        return {200: Described, 401: OpenApiResponse(description="Our own.")}


class DeclaresOwn401(APIView):
    required_scopes = ["a"]
    schema = OwnResponses()

    def get(self, request: Request) -> Response:
        return Response({})


@api_view(["GET"])
@required_scopes("a", "b")
def described_function(request: Request) -> Response:
    return Response({})


described_function.cls.serializer_class = Described


demo_router = SimpleRouter()
demo_router.register("items", demo.ItemViewSet)

#: The demo's DRF API and the test views, each with a serializer: drf-spectacular has no
#: reason to warn about any of them (``--fail-on-warn``).
urlpatterns = [
    path("api/", include(demo_router.urls)),
    path("api/stats", _described(demo.StatsView).as_view()),
    path("api/health", _described(demo.HealthView).as_view()),
    path("t/all-of", _described(v.AllOf).as_view()),
    path("t/alternatives", _described(v.Alternatives).as_view()),
    path("t/bound", _described(v.Bound).as_view()),
    path("t/authenticated", _described(v.AuthenticatedOnly).as_view()),
    path("t/authenticated-and-scope", _described(v.AuthenticatedAndScope).as_view()),
    path("t/scope-or-scope", _described(v.ScopeOrScope).as_view()),
    path("t/function", described_function),
    path("t/optional", OptionalToken.as_view()),
    path("t/subclassed", Subclassed.as_view()),
    path("t/own-401", DeclaresOwn401.as_view()),
]


# --- helpers ----------------------------------------------------------------------------------

class Excluded(AutoSchema):
    def is_excluded(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def schema_class(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """DEFAULT_SCHEMA_CLASS as the demo sets it. The test settings set none, and ``@api_view``
    and ``@extend_schema`` read it when a view is decorated (at import, maybe before this):
    those views get here what the demo's settings give them."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_SCHEMA_CLASS": SCHEMA_CLASS}
    for function in (demo.whoami, described_function):
        monkeypatch.setattr(function.cls, "schema", AutoSchema())
        declared = getattr(function.cls.get, "kwargs", {}).get("schema")  # @extend_schema
        if declared is not None and not issubclass(declared, SpectacularAutoSchema):
            monkeypatch.setitem(function.cls.get.kwargs, "schema", AutoSchema)
    # The schema and Swagger UI views leave themselves out (SERVE_INCLUDE_SCHEMA False).
    for page in (SpectacularAPIView, SpectacularSwaggerView):
        monkeypatch.setitem(page.get.kwargs, "schema", Excluded)


@pytest.fixture
def scopes(db: Any) -> None:
    Scope.objects.create(name=READ, description="Read the inventory")
    Scope.objects.create(name=WRITE, description="Change the inventory")
    Scope.objects.create(name="unused", description="Required by no operation")


def generate(patterns: list[Any] | None = None) -> dict[str, Any]:
    """The schema of ``patterns`` (default: this module's), as drf-spectacular builds it."""
    return SchemaGenerator(patterns=urlpatterns if patterns is None else patterns).get_schema(
        request=None, public=True)


def warnings_and_errors() -> list[str]:
    return [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]


def security(schema: dict[str, Any], url: str, method: str) -> list[dict[str, list[str]]]:
    return schema["paths"][url][method].get("security", [])


def flow(schema: dict[str, Any]) -> dict[str, Any]:
    scheme = schema["components"]["securitySchemes"][SCHEME_NAME]
    assert scheme["type"] == "oauth2"
    assert list(scheme["flows"]) == ["clientCredentials"]
    return scheme["flows"]["clientCredentials"]


def one(*scopes: str) -> list[dict[str, list[str]]]:
    return [{SCHEME_NAME: list(scopes)}]


# --- the security scheme ----------------------------------------------------------------------

def test_scheme_has_the_token_endpoint_and_the_scope_rows(scopes):
    schema = generate()
    found = flow(schema)
    assert found["tokenUrl"] == f"{ISSUER}/oauth/token"
    # Scope rows with their descriptions (also one no operation needs), plus the scopes the
    # operations require that no row describes.
    assert found["scopes"] == {
        "a": "", "admin": "", "b": "", "c": "",
        READ: "Read the inventory", WRITE: "Change the inventory",
        "unused": "Required by no operation",
    }


def test_scope_rows_are_read_once_per_schema(scopes, django_assert_num_queries):
    with django_assert_num_queries(1):
        generate()


def test_no_scope_rows_when_publish_scopes_is_off(scopes, settings):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "PUBLISH_SCOPES": False}
    assert flow(generate())["scopes"] == {
        name: "" for name in ["a", "admin", "b", "c", READ, WRITE]}


def test_spectacular_settings_override_token_url_and_scopes(scopes):
    with patched_settings({"OAUTH2_TOKEN_URL": "https://login.example.test/token",
                           "OAUTH2_SCOPES": {READ: "Look"}}):
        found = flow(generate([path("api/stats", _described(demo.StatsView).as_view())]))
    assert found == {"tokenUrl": "https://login.example.test/token", "scopes": {READ: "Look"}}


def test_remote_mode_token_url_beside_the_jwks_and_no_scope_rows(scopes, settings):
    settings.OAUTH_CC = {**settings.OAUTH_CC, "JWKS_URI": "https://auth.example.test/sso/jwks",
                         "TRUSTED_ISSUER": "https://auth.example.test"}
    found = flow(generate([path("api/stats", _described(demo.StatsView).as_view())]))
    assert found == {"tokenUrl": "https://auth.example.test/sso/token", "scopes": {READ: ""}}
    assert warnings_and_errors() == []


def test_remote_mode_with_a_foreign_jwks_guesses_and_warns(db, settings):
    settings.OAUTH_CC = {**settings.OAUTH_CC,
                         "JWKS_URI": "https://idp.example.test/protocol/certs",
                         "TRUSTED_ISSUER": "https://idp.example.test/realms/x"}
    found = flow(generate([path("api/stats", _described(demo.StatsView).as_view())]))
    assert found["tokenUrl"] == "https://idp.example.test/oauth/token"
    (message,) = warnings_and_errors()
    assert "OAUTH2_TOKEN_URL" in message


# --- each operation's security requirement ----------------------------------------------------

def test_demo_viewset_actions_need_their_scopes(scopes):
    schema = generate()
    assert security(schema, "/api/items/", "get") == one(READ)  # list
    assert security(schema, "/api/items/{id}/", "get") == one(READ)  # retrieve
    assert security(schema, "/api/items/", "post") == one(WRITE)  # create
    assert security(schema, "/api/items/{id}/", "delete") == one(WRITE)  # destroy
    # The viewset allows no PUT or PATCH (http_method_names), so the schema has none.
    assert set(schema["paths"]["/api/items/{id}/"]) == {"get", "delete"}


def test_demo_class_view_and_function_view(scopes):
    """Through the demo's own URLs (StatsView, whoami): the schema is what they declare."""
    import demo_project.urls

    schema = generate(demo_project.urls.urlpatterns)
    assert security(schema, "/api/stats", "get") == one(READ)
    assert security(schema, "/api/whoami", "get") == one(READ)
    assert security(schema, "/api/items/", "post") == one(WRITE)
    # Only drf-spectacular's own complaints about views without a serializer; none about
    # authentication or scopes.
    for message in warnings_and_errors():
        assert "unable to guess serializer" in message, message


def test_open_view_has_no_requirement_and_no_error_responses(db):
    schema = generate()
    operation = schema["paths"]["/api/health"]["get"]
    assert not any(SCHEME_NAME in r for r in operation.get("security", []))
    assert "401" not in operation["responses"] and "403" not in operation["responses"]


def test_all_of_any_of_and_bound_scopes(db):
    schema = generate()
    assert security(schema, "/t/all-of", "get") == one("a", "b")
    assert security(schema, "/t/alternatives", "get") == [
        {SCHEME_NAME: ["admin"]}, {SCHEME_NAME: ["a", "b"]}]
    assert security(schema, "/t/bound", "get") == one("c")  # HasScope.require("c")
    assert security(schema, "/t/function", "get") == one("a", "b")  # @required_scopes
    assert security(schema, "/t/subclassed", "get") == one("a")  # a subclass of the class


def test_compositions(db):
    schema = generate()
    # IsAuthenticated: a token, any scope.
    assert security(schema, "/t/authenticated", "get") == one()
    # IsAuthenticated & HasScope.require("admin")
    assert security(schema, "/t/authenticated-and-scope", "get") == one("admin")
    # HasScope.require("admin") | HasScope.require("b"): either.
    assert security(schema, "/t/scope-or-scope", "get") == [
        {SCHEME_NAME: ["admin"]}, {SCHEME_NAME: ["b"]}]


def test_optional_token_with_allow_any(db):
    schema = generate()
    assert security(schema, "/t/optional", "get") == [{SCHEME_NAME: []}, {}]
    responses = schema["paths"]["/t/optional"]["get"]["responses"]
    assert "401" in responses and "403" not in responses  # a bad token is still refused


def test_per_method_mapping_and_its_gap_is_a_warning(db):
    schema = generate([path("t/per-method", v.PerMethod.as_view())])
    assert security(schema, "/t/per-method", "get") == one("a")
    assert security(schema, "/t/per-method", "post") == one("b", "c")
    # DELETE has no entry: every authenticated DELETE fails (ImproperlyConfigured); the
    # schema says a token is needed, and drf-spectacular warns.
    assert security(schema, "/t/per-method", "delete") == one()
    assert any("no entry for 'DELETE'" in m for m in GENERATOR_STATS._warn_cache)


def test_undeclared_scopes_is_a_warning(db):
    generate([path("t/undeclared", v.Undeclared.as_view())])
    assert any("declares no required_scopes" in m for m in GENERATOR_STATS._warn_cache)


def test_required_alternatives_reads_the_action(db):
    view = demo.ItemViewSet(action="destroy")
    assert required_alternatives(view, "DELETE") == [frozenset({WRITE})]


# --- 401 and 403 ------------------------------------------------------------------------------

def test_protected_operations_document_401_and_403(scopes):
    schema = generate()
    error = {"$ref": "#/components/schemas/OAuthError"}
    for url, method in [("/api/items/", "get"), ("/api/items/", "post"),
                        ("/api/items/{id}/", "get"), ("/api/items/{id}/", "delete"),
                        ("/api/stats", "get"), ("/t/alternatives", "get"),
                        ("/t/function", "get")]:
        responses = schema["paths"][url][method]["responses"]
        for status in ("401", "403"):
            assert responses[status]["content"]["application/json"]["schema"] == error
            assert "WWW-Authenticate" in responses[status]["headers"]
    forbidden = schema["paths"]["/t/alternatives"]["get"]["responses"]["403"]
    assert "`admin` or `a b`" in forbidden["description"]
    assert set(schema["components"]["schemas"]["OAuthError"]["properties"]) == {
        "error", "error_description", "scope"}
    # A token without particular scopes: 401 only.
    assert set(schema["paths"]["/t/authenticated"]["get"]["responses"]) == {"200", "401"}


def test_a_declared_response_is_kept(db):
    responses = generate()["paths"]["/t/own-401"]["get"]["responses"]
    assert responses["401"] == {"description": "Our own."}
    assert "403" in responses


def test_valid_schema_without_warnings(scopes):
    """``manage.py spectacular --validate --fail-on-warn``: the schema is valid OpenAPI and
    drf-spectacular resolves every authenticator (no "could not resolve authenticator")."""
    out = io.StringIO()
    call_command(Spectacular(), "--validate", "--fail-on-warn", "--format", "openapi-json",
                 "--urlconf", __name__, stdout=out)
    assert f'"{SCHEME_NAME}"' in out.getvalue()


# --- the demo's pages, and the schema against the real endpoints ------------------------------

@pytest.fixture
def demo_urls(settings: Any) -> None:
    """The demo's URLs, and drf-spectacular's templates (the demo lists it in INSTALLED_APPS;
    adding it here would also register its deployment check for the rest of the run)."""
    settings.ROOT_URLCONF = "demo_project.urls"
    (engine,) = settings.TEMPLATES
    templates = Path(drf_spectacular.__file__).parent / "templates"
    settings.TEMPLATES = [{**engine, "DIRS": [*engine.get("DIRS", []), templates]}]


def test_demo_serves_the_schema_and_swagger_ui(client, scopes, demo_urls):
    response = client.get("/api/schema", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert flow(schema)["tokenUrl"] == f"{ISSUER}/oauth/token"
    assert security(schema, "/api/items/", "get") == one(READ)
    assert security(schema, "/api/whoami", "get") == one(READ)
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content and b"/api/schema" in page.content


def test_a_token_for_the_documented_scopes_is_accepted(client, scopes, make_client,
                                                       signing_key, demo_urls):
    """What the schema says works: a token from its tokenUrl with one operation's scopes
    calls that operation; a token without them gets the documented 403."""
    schema = client.get("/api/schema", {"format": "json"}).json()
    token_path = urlsplit(flow(schema)["tokenUrl"]).path
    api_client, secret = make_client(scope=f"{READ} {WRITE}", default_scope=WRITE)

    def token(scope: str) -> str:
        response = post_token(client, {"grant_type": "client_credentials", "scope": scope},
                              auth=(api_client.client_id, secret), url=token_path)
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    (needed,) = security(schema, "/api/stats", "get")
    assert client.get("/api/stats", **bearer(token(" ".join(needed[SCHEME_NAME])))
                      ).status_code == 200
    refused = client.get("/api/stats", **bearer(token(WRITE)))
    assert str(refused.status_code) in schema["paths"]["/api/stats"]["get"]["responses"]
    assert refused.status_code == 403
    assert set(refused.json()) <= set(
        schema["components"]["schemas"]["OAuthError"]["properties"])
