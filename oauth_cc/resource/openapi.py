"""What an OpenAPI description of a protected API says, whatever generates it: the security
scheme's name, the ``clientCredentials`` flow's token URL and scopes, the scope alternatives
of an operation and the error response's schema. The drf-spectacular and django-ninja
integrations (``oauth_cc.contrib``) both build on these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError
from django.urls import NoReverseMatch, reverse

from ..settings import oauth_cc_settings

#: The name of the OAuth 2.0 security scheme in the components.
SCHEME_NAME = "oauth_cc"
#: The name of the error response's schema in the components.
ERROR_SCHEMA_NAME = "OAuthError"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An OAuth 2.0 error (RFC 6750 §3).",
    "properties": {
        "error": {
            "type": "string",
            "description": "`invalid_token`, `insufficient_scope` or `invalid_request`; "
                           "absent when the request carried no access token.",
        },
        "error_description": {"type": "string", "description": "For humans."},
        "scope": {
            "type": "string",
            "description": "With `insufficient_scope`: the scopes (space-separated) the "
                           "operation needs.",
        },
    },
}

#: The description of the ``WWW-Authenticate`` header of a 401 or 403.
CHALLENGE_DESCRIPTION = "The challenge (RFC 6750 §3), e.g. `Bearer realm=\"api\"`"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def token_url(warn: Callable[[str], None], hint: str) -> str:
    """The ``tokenUrl`` of the ``clientCredentials`` flow, when the integration was not told:

    1. local mode (no ``JWKS_URI``): this project's token endpoint, as the authorization
       server metadata names it: the origin of ``ISSUER`` and ``reverse("oauth_cc:token")``;
    2. remote mode, with a ``JWKS_URI`` ending in ``/jwks`` (an oauth_cc authorization
       server): the ``token`` endpoint beside it;
    3. else ``/oauth/token`` at the origin of ``TRUSTED_ISSUER``, after ``warn()`` with a
       message that ends with ``hint`` (how to say better).
    """
    jwks_uri = oauth_cc_settings.JWKS_URI
    if not jwks_uri:
        issuer = oauth_cc_settings.ISSUER
        if issuer:
            try:
                return _origin(str(issuer)) + reverse("oauth_cc:token")
            except NoReverseMatch:
                pass
    else:
        head, _, last = str(jwks_uri).split("?")[0].rpartition("/")
        if last == "jwks":
            return f"{head}/token"
    issuer = oauth_cc_settings.TRUSTED_ISSUER or oauth_cc_settings.ISSUER
    guess = (_origin(str(issuer)) if issuer else "") + "/oauth/token"
    warn(f"oauth_cc cannot tell the token endpoint's URL; the schema says {guess!r}. {hint}")
    return guess


def registered_scopes() -> dict[str, str]:
    """Scope name to description: in local mode with oauth_cc installed and
    ``PUBLISH_SCOPES`` on, the ``Scope`` rows (read when a schema is generated, never at
    import); else none."""
    if (oauth_cc_settings.JWKS_URI or not oauth_cc_settings.PUBLISH_SCOPES
            or not apps.is_installed("oauth_cc")):
        return {}
    scope_model = apps.get_model("oauth_cc", "Scope")
    try:
        return dict(scope_model.objects.order_by("name").values_list("name", "description"))
    except (DatabaseError, SynchronousOnlyOperation):
        # No tables yet (a schema generated before migrate), or a schema generated on an
        # event loop: the operations' own scopes are still listed.
        return {}


def minimal(alternatives: Iterable[frozenset[str]]) -> list[frozenset[str]]:
    """Scope alternatives without duplicates and without a set that contains another (it
    adds nothing), in a stable order."""
    unique = set(alternatives)
    kept = [a for a in unique if not any(other < a for other in unique)]
    return sorted(kept, key=lambda a: (len(a), sorted(a)))
