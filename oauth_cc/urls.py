"""URLs of the authorization server; mount with ``path("oauth/", include("oauth_cc.urls"))``.

Paths have no trailing slash, so a POST is never redirected.
"""

from django.urls import path

from . import views

app_name = "oauth_cc"

urlpatterns = [
    path("token", views.token, name="token"),
    path("jwks", views.jwks, name="jwks"),
]
