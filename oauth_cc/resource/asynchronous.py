"""Protecting async views: the verification path for code running on an event loop.

``await authenticate(request)`` is ``token_types.authenticate(request)`` for async callers: the
same token types, checks, caches and errors (``ResourceError`` subclasses), without blocking
the event loop on the database or the network. What costs only CPU runs inline: finding the
token, the verified-token cache, the signature check with keys in memory, the claims, a
DPoP proof with a per-process replay cache. Loading signing keys (database or JWKS), the
revocation set, an opaque token's row and remote introspection run off the loop, each load
once per event loop for any number of requests waiting on it (``key_sources.SingleFlight``).

``await protect(request, spec)`` adds the scope check of ``required_scopes`` (``spec`` in any
of its forms): what an integration that renders its own errors (django-ninja) needs.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ..errors import MethodNotAllowed, ResourceError
from .requirements import check_scopes, requirement
from .token_types import aauthenticate, for_request
from .verification import AccessToken

__all__ = ["authenticate", "protect"]


async def authenticate(request: HttpRequest) -> AccessToken:
    """The verified access token of ``request``, by its token type. Raises
    ``NoCredentials``, ``ResourceInvalidRequest`` or ``InvalidToken`` like the sync path
    (their ``scheme`` is the token type's, for the challenge)."""
    return await aauthenticate(request)


async def protect(request: HttpRequest, spec: Any, owner: str = "the view") -> AccessToken:
    """The verified token of ``request`` when it has the scopes ``spec`` requires for the
    request's method (RFC 6750 §3). Raises what ``authenticate`` raises, and
    ``InsufficientScope`` (403, ``scope=`` in the challenge), each with the token type's
    scheme; ``MethodNotAllowed`` when ``spec`` maps methods and has no entry for this one;
    ``ImproperlyConfigured`` (``owner`` names the view) for a ``spec`` that can never work.
    Sets nothing on the request."""
    token_type = for_request(request)
    token = await token_type.aauthenticate(request)
    alternatives = requirement(spec, method=request.method or "GET", owner=owner)
    if alternatives is None:
        raise MethodNotAllowed(sorted(k for k in spec if k.isupper() and k != "*"))
    try:
        check_scopes(token, alternatives)
    except ResourceError as error:
        error.scheme = token_type.name
        raise
    return token
