"""Grants (RFC 6749 §4): handlers in ``oauth_cc.registry.grant_types``, by ``grant_type``.

The token endpoint parses the request, looks up the handler for ``grant_type``, authenticates
the client and hands both to the handler, which returns the issued token. A new grant is a
``Grant`` subclass and one ``registry.grant_types.register(...)``; ``grant_types_supported``
in the metadata lists what is registered. The client-credentials grant is the built-in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from django.http import HttpRequest

from .. import scopes
from ..models import Client
from ..registry import grant_types
from . import audiences, issuing
from .http import FormParameters
from .issuing import IssuedToken


class Grant(ABC):
    """One grant type. ``parameters`` are the form parameters it reads (besides
    ``grant_type`` and client authentication); ``repeatable`` those that may repeat."""

    name: ClassVar[str]
    parameters: ClassVar[frozenset[str]] = frozenset()
    repeatable: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def issue(self, request: HttpRequest, params: FormParameters, client: Client
              ) -> IssuedToken:
        """Check the grant and issue a token for the authenticated ``client``; raise an
        ``OAuthError`` to refuse."""


class ClientCredentials(Grant):
    """RFC 6749 §4.4: the client asks for a token on its own behalf (TOK-01..11)."""

    name = "client_credentials"
    parameters = frozenset({"scope", "resource"})
    repeatable = frozenset({"resource"})  # RFC 8707 §2

    def issue(self, request: HttpRequest, params: FormParameters, client: Client
              ) -> IssuedToken:
        requested = params.get("scope")
        granted = scopes.resolve(
            requested,
            allowed=client.allowed_scope_set,
            default=client.default_scope_set,
        )
        audience = audiences.resolve(client, params.get_all("resource"))
        granted = audiences.scopes_for(granted, audience, requested=requested is not None)
        return issuing.issue(request, client, granted, audience)


grant_types.register(ClientCredentials())
