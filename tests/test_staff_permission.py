"""``HasScopeOrStaff``: a token with the view's scopes, or a logged-in Django staff user (DRF's
browsable API with the admin's session); token requests keep their RFC 6750 answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client as HttpClient
from django.urls import include, path
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from oauth_cc.resource.rest_framework import HasScopeOrStaff as FromResource
from oauth_cc.rest_framework import BearerTokenAuthentication, HasScope, HasScopeOrStaff
from tests.conftest import NO_TOKEN_CHALLENGE, bearer, get_token

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

READ = "items:read"


class StaffBrowsable(APIView):
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [HasScopeOrStaff]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    required_scopes = {"GET": READ, "POST": "items:write"}

    def get(self, request: Request) -> Response:
        return Response({"user": str(request.user)})

    def post(self, request: Request) -> Response:
        return Response({"created": True}, status=201)


class Bound(StaffBrowsable):
    permission_classes = [HasScopeOrStaff.require(READ)]
    required_scopes = None


class Undeclared(StaffBrowsable):
    required_scopes = None


class GetOnlyMapping(StaffBrowsable):
    required_scopes = {"GET": READ}


class ReadOnly(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in SAFE_METHODS


class StaffReadOnly(StaffBrowsable):
    """docs/admin.md: staff may read, tokens as their scopes say."""

    permission_classes = [HasScope | (HasScopeOrStaff & ReadOnly)]


urlpatterns = [
    path("oauth/", include("oauth_cc.urls")),
    path("t/staff", StaffBrowsable.as_view()),
    path("t/staff-bound", Bound.as_view()),
    path("t/staff-undeclared", Undeclared.as_view()),
    path("t/staff-get-only", GetOnlyMapping.as_view()),
    path("t/staff-read-only", StaffReadOnly.as_view()),
]


def logged_in(*, is_staff: bool, is_superuser: bool = False) -> HttpClient:
    user = User.objects.create_user("person", password="pw", is_staff=is_staff,
                                    is_superuser=is_superuser)
    http = HttpClient()
    http.force_login(user)
    return http


@pytest.fixture
def token_for(client: HttpClient, make_client: Any, signing_key: Any) -> Any:
    c, secret = make_client(scope=f"{READ} items:write other", default_scope="other")

    def issue(scope: str) -> str:
        return get_token(client, c, secret, scope=scope)

    return issue


def assert_insufficient(response: Any, scope: str) -> None:
    assert response.status_code == 403
    assert response["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", error_description="The access token '
        f'does not grant the required scope.", scope="{scope}"'
    )
    assert response.json()["error"] == "insufficient_scope"


def test_re_exported() -> None:
    assert HasScopeOrStaff is FromResource


def test_staff_session_browses_the_api_as_html() -> None:
    http = logged_in(is_staff=True)

    response = http.get("/t/staff", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Staff Browsable" in response.content.decode()


def test_staff_session_gets_json_and_may_write() -> None:
    http = logged_in(is_staff=True)

    response = http.get("/t/staff", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {"user": "person"}
    assert http.post("/t/staff", HTTP_ACCEPT="application/json").status_code == 201


def test_non_staff_session_is_refused_without_a_bearer_challenge() -> None:
    http = logged_in(is_staff=False, is_superuser=True)  # is_staff is what counts

    response = http.get("/t/staff", HTTP_ACCEPT="application/json")

    assert response.status_code == 403
    assert "insufficient_scope" not in response.headers.get("WWW-Authenticate", "")
    assert "error" not in response.json()


def test_inactive_staff_is_not_a_staff_session() -> None:
    http = logged_in(is_staff=True)
    User.objects.filter(username="person").update(is_active=False)

    response = http.get("/t/staff", HTTP_ACCEPT="application/json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == NO_TOKEN_CHALLENGE


def test_no_credentials_gets_the_bearer_challenge(client: HttpClient) -> None:
    response = client.get("/t/staff", HTTP_ACCEPT="application/json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == NO_TOKEN_CHALLENGE


def test_token_with_the_scope_is_allowed(client: HttpClient, token_for: Any) -> None:
    response = client.get("/t/staff", HTTP_ACCEPT="application/json", **bearer(token_for(READ)))

    assert response.status_code == 200
    assert response.json()["user"].startswith("client ")


def test_token_without_the_scope_gets_insufficient_scope(client: HttpClient, token_for: Any
                                                         ) -> None:
    token = token_for("other")

    assert_insufficient(client.get("/t/staff", **bearer(token)), READ)
    assert_insufficient(client.post("/t/staff", **bearer(token_for(READ))), "items:write")


def test_a_staff_user_sending_a_token_is_judged_by_the_token(token_for: Any) -> None:
    http = logged_in(is_staff=True)

    response = http.get("/t/staff", HTTP_ACCEPT="application/json", **bearer(token_for("other")))

    assert_insufficient(response, READ)


def test_bound_scopes_work_for_both(client: HttpClient, token_for: Any) -> None:
    assert logged_in(is_staff=True).get("/t/staff-bound").status_code == 200
    assert client.get("/t/staff-bound", **bearer(token_for(READ))).status_code == 200
    assert_insufficient(client.get("/t/staff-bound", **bearer(token_for("other"))), READ)


def test_staff_access_does_not_hide_a_missing_declaration() -> None:
    http = logged_in(is_staff=True)

    with pytest.raises(ImproperlyConfigured):
        http.get("/t/staff-undeclared", HTTP_ACCEPT="application/json")
    with pytest.raises(ImproperlyConfigured):
        http.post("/t/staff-get-only", HTTP_ACCEPT="application/json")
    assert http.get("/t/staff-get-only", HTTP_ACCEPT="application/json").status_code == 200


def test_staff_read_only_composition(client: HttpClient, token_for: Any) -> None:
    staff = logged_in(is_staff=True)
    assert staff.get("/t/staff-read-only", HTTP_ACCEPT="application/json").status_code == 200
    refused = staff.post("/t/staff-read-only", HTTP_ACCEPT="application/json")
    assert refused.status_code == 403
    assert "error" not in refused.json()
    assert client.post("/t/staff-read-only", **bearer(token_for("items:write"))
                       ).status_code == 201
    assert_insufficient(client.post("/t/staff-read-only", **bearer(token_for(READ))),
                        "items:write")
