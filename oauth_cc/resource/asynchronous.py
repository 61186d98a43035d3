"""Protecting async views: the verification path for code running on an event loop.

``await authenticate(request)`` is ``token_types.authenticate(request)`` for async callers: the
same token types, checks, caches and errors (``ResourceError`` subclasses), without blocking
the event loop on the database or the network.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from . import token_types
from .verification import AccessToken


async def authenticate(request: HttpRequest) -> AccessToken:
    """The verified access token of ``request``, by its token type. Raises
    ``NoCredentials``, ``ResourceInvalidRequest`` or ``InvalidToken`` like the sync path."""
    token: AccessToken = await sync_to_async(token_types.authenticate)(request)
    return token
