"""Audience (``aud``) of issued tokens and the ``resource`` parameter (RFC 8707, RFC 9068 §3).

A client may get tokens for the audiences listed on it (``allowed_audiences``), or, when that
list is empty, for ``OAUTH_CC['DEFAULT_AUDIENCE']`` only. With no ``resource`` parameter the
token is for ``DEFAULT_AUDIENCE`` when the client may use it, else for the client's only
audience; a client with several audiences and none of them the default must name one.
"""

from __future__ import annotations

from .errors import InvalidTarget
from .models import Client, is_absolute_uri
from .settings import oauth_cc_settings


def allowed_for(client: Client) -> list[str]:
    return client.audience_list or [oauth_cc_settings.DEFAULT_AUDIENCE]


def resolve(client: Client, resources: list[str]) -> str | list[str]:
    """The ``aud`` claim for a token request (RES-01..04, JWT-05)."""
    allowed = allowed_for(client)
    if resources:
        if not all(is_absolute_uri(uri) for uri in resources):
            raise InvalidTarget("A resource must be an absolute URI without fragment.")
        if not all(uri in allowed for uri in resources):
            raise InvalidTarget("A requested resource is not allowed for this client.")
        unique = sorted(set(resources))
        return unique[0] if len(unique) == 1 else unique
    default = oauth_cc_settings.DEFAULT_AUDIENCE
    if default in allowed:
        return default
    if len(allowed) == 1:
        return allowed[0]
    raise InvalidTarget("This client must name a resource.")
