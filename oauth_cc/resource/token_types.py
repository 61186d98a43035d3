"""Access-token types (RFC 6749 §7.1): how a token is presented, checked and challenged.

A type is a ``TokenType`` in ``oauth_cc.registry.token_types``, named by its ``token_type``
value, which is also its HTTP authentication scheme (``Bearer``; a proof-of-possession type
such as ``DPoP`` later). Both halves go through it:

- the authorization server asks each type to ``bind()`` a token request (a type that
  recognises its proof returns the ``cnf`` claim to put in the token) and answers with that
  type's name as ``token_type``; a Bearer token binds to nothing;
- a resource server picks the type by the request's Authorization scheme, lets it
  ``extract()`` the token, verifies it (``verification.verify``, cached), then lets the type
  ``confirm()`` the token against the request: that last check runs on every request, so no
  cache can skip a proof of possession. Its errors are challenges in the type's scheme.

A token bound to a TLS client certificate (RFC 8705 §3, ``cnf`` ``x5t#S256``) is checked by
``confirm_certificate()`` for every type, after the type's own ``confirm()``: a Bearer token
so bound is still a Bearer token, and a DPoP token may be bound to a certificate too.

On an event loop, ``aauthenticate()`` does the same with ``verification.averify`` and
``aconfirm()``: a type whose ``confirm()`` may block (a database, a shared cache) says so
with ``confirm_blocks`` and is confirmed in a thread; a type that replaces ``authenticate()``
itself is run in a thread whole.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from cryptography.hazmat.primitives import serialization
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from .. import jose, network
from ..errors import InvalidToken, NoCredentials, ResourceError, ResourceInvalidRequest
from ..registry import DEFAULT_TOKEN_TYPE, token_types
from ..settings import oauth_cc_settings
from . import bearer
from .verification import AccessToken, averify, verify

_SCHEME = re.compile(r"(\S*)(\s*)(.*)", re.DOTALL)


@dataclass(frozen=True)
class RequestContext:
    """What a token type may check a token against: the request's method, absolute URI
    and headers (read lazily: a Bearer token needs none of them)."""

    request: HttpRequest

    @property
    def method(self) -> str:
        return self.request.method or "GET"

    @cached_property
    def uri(self) -> str:
        return self.request.build_absolute_uri()

    @property
    def headers(self) -> Any:
        return self.request.headers


class TokenType:
    """One kind of access token. Subclass, then register an instance::

        registry.token_types.register(MyTokenType())

    ``name`` is the ``token_type`` value and the Authorization scheme (case-insensitive).
    """

    name: ClassVar[str]
    #: Whether ``confirm()`` may wait on a database, a cache or the network: on an event
    #: loop it then runs in a thread. Assumed of any type that does not say otherwise.
    confirm_blocks: ClassVar[bool] = True

    def matches(self, request: HttpRequest) -> bool:
        """Whether the request's Authorization header uses this type's scheme."""
        header = request.META.get("HTTP_AUTHORIZATION")
        return header is not None and header.partition(" ")[0].lower() == self.name.lower()

    @sensitive_variables()
    def extract(self, request: HttpRequest) -> str | None:
        """The token in ``Authorization: <name> <token>``; None when there is none."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        match = _SCHEME.match(header)
        assert match is not None  # the pattern matches any string
        scheme, separator, token = match.groups()
        if scheme.lower() != self.name.lower():
            return None
        if separator.strip(" ") or not bearer.B64TOKEN.fullmatch(token):
            raise ResourceInvalidRequest("The Authorization header is malformed.")
        if len(token) > int(oauth_cc_settings.MAX_ACCESS_TOKEN_LENGTH):
            raise InvalidToken("The access token is too long.")
        return token

    @sensitive_variables()
    def authenticate(self, request: HttpRequest) -> AccessToken:
        """Extract, verify and confirm the request's token (RFC 6750 §2, RFC 9068 §4), and
        its certificate binding if any (``confirm_certificate``, RFC 8705 §3). Raises a
        ``ResourceError`` challenging in this type's scheme."""
        try:
            raw = self.extract(request)
            if raw is None:
                raise NoCredentials()
            token = verify(raw)
            self.confirm(token, RequestContext(request))
            confirm_certificate(token, request)
        except ResourceError as error:
            error.scheme = self.name
            raise
        return token

    @sensitive_variables()
    async def aauthenticate(self, request: HttpRequest) -> AccessToken:
        """``authenticate()`` for a coroutine: the same checks and errors, with nothing that
        blocks on the event loop (``averify``, ``aconfirm``). A subclass that replaces
        ``authenticate()`` has it run in a thread instead."""
        if type(self).authenticate is not TokenType.authenticate:
            token: AccessToken = await sync_to_async(
                self.authenticate, thread_sensitive=True)(request)
            return token
        try:
            raw = self.extract(request)
            if raw is None:
                raise NoCredentials()
            token = await averify(raw)
            await self.aconfirm(token, RequestContext(request))
            confirm_certificate(token, request)
        except ResourceError as error:
            error.scheme = self.name
            raise
        return token

    def confirm(self, token: AccessToken, context: RequestContext) -> None:
        """The type's own check of a verified token against this request, run on every
        request (a proof of possession). Raise ``InvalidToken`` to refuse."""

    async def aconfirm(self, token: AccessToken, context: RequestContext) -> None:
        """``confirm()`` for a coroutine: inline unless it may block (``confirm_blocks``),
        else in Django's thread for the request."""
        if type(self).confirm is TokenType.confirm:
            return
        if self.confirm_blocks:
            await sync_to_async(self.confirm, thread_sensitive=True)(token, context)
        else:
            self.confirm(token, context)

    def bind(self, request: HttpRequest, client: Any) -> dict[str, Any] | None:
        """At the token endpoint: the ``cnf`` claim binding the new token to the proof this
        request carries, or None when the request asks for no token of this type. ``client``
        is the authenticated ``oauth_cc.models.Client`` (a client may require a binding:
        raise an ``OAuthError`` when its proof is missing or invalid)."""
        return None

    def metadata(self) -> dict[str, Any]:
        """Members this type adds to the authorization server metadata (RFC 8414), e.g.
        ``dpop_signing_alg_values_supported``."""
        return {}

    def describes(self, claims: Any) -> bool:
        """Whether a token with these claims is of this type (introspection's
        ``token_type``)."""
        return False


class Bearer(TokenType):
    """RFC 6750 bearer tokens: whoever holds one may use it. Found in the Authorization
    header, or (``ACCEPT_FORM_BODY_TOKEN``) the form body; never in the query string."""

    name = DEFAULT_TOKEN_TYPE
    confirm_blocks = False  # a look at the token's claims

    @sensitive_variables()
    def extract(self, request: HttpRequest) -> str | None:
        return bearer.extract(request)

    def confirm(self, token: AccessToken, context: RequestContext) -> None:
        if not _bearer_confirmation(token.claims):
            # RSV-08: a sender-constrained token needs the proof of its own type; presented
            # as a plain Bearer token it is refused. A certificate binding is the exception
            # (RFC 8705 §3): ``confirm_certificate`` checks it for every type.
            raise InvalidToken("Sender-constrained tokens are not accepted here.")

    def describes(self, claims: Any) -> bool:
        return _bearer_confirmation(claims)


def _bearer_confirmation(claims: Any) -> bool:
    """Whether a Bearer token may carry these claims' ``cnf``: none at all, or only the
    certificate thumbprint of RFC 8705 (MTLS-04)."""
    if "cnf" not in claims:
        return True
    confirmation = claims["cnf"]
    return isinstance(confirmation, Mapping) and set(confirmation) == {
        jose.CERTIFICATE_THUMBPRINT}


def confirm_certificate(token: AccessToken, request: HttpRequest) -> None:
    """For a token bound to a TLS client certificate (``cnf`` ``x5t#S256``, RFC 8705 §3):
    the request's certificate (from the trusted proxy, ``network.client_certificate``) must
    be that one, else 401 ``invalid_token`` (MTLS-05). No chain is validated here (§6.2).
    Any token type's ``authenticate()`` calls it after the type's own ``confirm()``."""
    confirmation = token.claims.get("cnf")
    if not isinstance(confirmation, Mapping) or jose.CERTIFICATE_THUMBPRINT not in confirmation:
        return
    bound = confirmation[jose.CERTIFICATE_THUMBPRINT]
    certificate = network.client_certificate(request)
    if not isinstance(bound, str) or certificate is None:
        raise InvalidToken("The access token is bound to a client certificate.")
    presented = jose.certificate_thumbprint(
        certificate.public_bytes(serialization.Encoding.DER))
    if not hmac.compare_digest(presented.encode("ascii"),
                               bound.encode("utf-8", "surrogatepass")):
        raise InvalidToken("The access token is bound to another client certificate.")


def for_request(request: HttpRequest) -> TokenType:
    """The registered type whose scheme the request uses, else the Bearer type (which finds
    a token outside the header, or none)."""
    if "HTTP_AUTHORIZATION" in request.META:
        for token_type in token_types:
            if token_type.matches(request):
                return token_type
    found = token_types.get(DEFAULT_TOKEN_TYPE)
    return found if found is not None else _BEARER


def authenticate(request: HttpRequest) -> AccessToken:
    """The verified access token of ``request``, by its token type. Raises
    ``NoCredentials``, ``ResourceInvalidRequest`` or ``InvalidToken``."""
    return for_request(request).authenticate(request)


async def aauthenticate(request: HttpRequest) -> AccessToken:
    """``authenticate`` for a coroutine (``oauth_cc.resource.asynchronous``)."""
    return await for_request(request).aauthenticate(request)


_BEARER = token_types.register(Bearer(), replace=True)
