from django.contrib import admin
from django.urls import include, path

from demo_project import async_api
from demo_project.urls import api_urlpatterns
from tests import api_views as v

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("oauth_cc.well_known")),
    path("oauth/", include("oauth_cc.urls")),
    path("", include(api_urlpatterns)),  # the demo's protected API under /api/
    path("", include("tests.ninja_api")),  # django-ninja APIs (tests/test_ninja.py)
    path("t/all-of", v.AllOf.as_view()),
    path("t/per-method", v.PerMethod.as_view()),
    path("t/alternatives", v.Alternatives.as_view()),
    path("t/undeclared", v.Undeclared.as_view()),
    path("t/bound", v.Bound.as_view()),
    path("t/authenticated", v.AuthenticatedOnly.as_view()),
    path("t/scope-or-always", v.ScopeOrAlways.as_view()),
    path("t/scope-or-never", v.ScopeOrNever.as_view()),
    path("t/never-or-scope", v.NeverOrScope.as_view()),
    path("t/scope-and-never", v.ScopeAndNever.as_view()),
    path("t/not-scope", v.NotScope.as_view()),
    path("t/not-scope-and-never", v.NotScopeAndNever.as_view()),
    path("t/plain-per-method", v.plain_per_method),
    path("t/authenticated-and-scope", v.AuthenticatedAndScope.as_view()),
    path("t/held-scope", v.HeldScope.as_view()),
    path("t/no-authenticators", v.NoAuthenticators.as_view()),
    path("t/scope-or-scope", v.ScopeOrScope.as_view()),
    path("t/not-of-scope-and-never", v.NotOfScopeAndNever.as_view()),
    path("t/function", v.function_view),
    path("t/function-authenticated", v.function_authenticated),
    path("t/plain-alternatives", v.plain_alternatives),
    path("t/plain-class", v.PlainClassView.as_view()),
    path("t/async/plain-per-method", v.async_plain_per_method),
    path("t/async/plain-alternatives", v.async_plain_alternatives),
    path("t/async/plain-class", v.AsyncPlainClassView.as_view()),
    path("t/async/whoami", v.async_whoami),
    path("api/async/health", async_api.health),  # the demo's (open) async baseline
]
