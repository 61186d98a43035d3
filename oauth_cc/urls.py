"""URLs of the authorization server; mount with ``path("oauth/", include("oauth_cc.urls"))``
and the metadata at the site root with ``path("", include("oauth_cc.well_known"))``.

Paths have no trailing slash, so a POST is never redirected.
"""

from django.urls import path

from . import views

app_name = "oauth_cc"

urlpatterns = [
    path("token", views.token, name="token"),
    path("jwks", views.jwks, name="jwks"),
    path("introspect", views.introspect, name="introspect"),
    path("revoke", views.revoke, name="revoke"),
]
