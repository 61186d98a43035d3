"""URLs of the authorization server; mount with ``path("oauth/", include("oauth_cc.urls"))``
and the metadata at the site root with ``path("", include("oauth_cc.well_known"))``.

Paths have no trailing slash, so a POST is never redirected.
"""

from django.urls import path

from .server import endpoints

app_name = "oauth_cc"

urlpatterns = [
    path("token", endpoints.token, name="token"),
    path("jwks", endpoints.jwks, name="jwks"),
    path("introspect", endpoints.introspect, name="introspect"),
    path("revoke", endpoints.revoke, name="revoke"),
]
