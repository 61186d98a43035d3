"""RFC 8414 metadata URL; include at the site root: ``path("", include("oauth_cc.well_known"))``.

The document is served at ``/.well-known/oauth-authorization-server`` followed by the path of
``ISSUER`` (if any), as RFC 8414 §3 says; other paths under it answer 404.
"""

from django.urls import re_path

from .server import endpoints

urlpatterns = [
    re_path(r"^\.well-known/oauth-authorization-server(?P<issuer_path>/.*)?$",
            endpoints.metadata, name="oauth_cc_metadata"),
]
