"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

A method is a ``ClientAuthMethod`` in ``oauth_cc.registry.client_auth_methods``: it detects
itself in a request, authenticates and returns the ``Client``, says whether it used the
Authorization header (a failure then answers 401 with a Basic challenge, X-07) and names
itself for the metadata and the model's choices. ``authenticate()`` finds the one method a
request uses, refuses a request that uses more than one (CAUTH-05, X-01) and checks that the
client is registered for that method (CAUTH-07).

The built-ins are ``client_secret_basic`` and ``client_secret_post``
(``oauth_cc.server.client_secret``). Failures are ``invalid_client``; unknown client,
inactive client, wrong secret and expired secret look the same from outside.
"""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from .. import credentials, network
from ..errors import InvalidClient, InvalidRequest
from ..models import Client
from ..registry import client_auth_methods
from ..signals import client_authentication_failed
from . import throttling
from .http import FormParameters

logger = logging.getLogger("oauth_cc.client_auth")

MAX_CLIENT_ID_LENGTH = 100
GENERIC_FAILURE = "Client authentication failed."


class ClientAuthMethod(ABC):
    """One way for a client to authenticate. Subclass, then register an instance::

        registry.client_auth_methods.register(MyMethod())

    ``name`` is the RFC 7591 ``token_endpoint_auth_method`` value; ``parameters`` the form
    parameters the method reads (they become known parameters of every endpoint that
    authenticates clients); ``uses_authorization_header`` makes failures 401 with a Basic
    challenge (X-07); ``assertion`` marks assertion-based methods (X-01); ``advertised``
    puts it in the metadata; ``registrable`` offers it as a client's registered method;
    ``uses_secret`` says a client registered for it gets a server-generated secret (the admin
    and ``createclient`` create one; key- and certificate-based methods need none).
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    parameters: ClassVar[frozenset[str]] = frozenset()
    uses_authorization_header: ClassVar[bool] = False
    assertion: ClassVar[bool] = False
    advertised: ClassVar[bool] = True
    registrable: ClassVar[bool] = True
    uses_secret: ClassVar[bool] = False
    #: Random characters of a secret generated for a client registered for this method.
    secret_length: ClassVar[int] = credentials.SECRET_RANDOM_LENGTH

    @abstractmethod
    def detect(self, request: HttpRequest, params: FormParameters) -> bool:
        """Whether the request carries this method's credentials."""

    @abstractmethod
    def authenticate(self, request: HttpRequest, params: FormParameters) -> Client:
        """The authenticated client; raise ``self.failure(...)`` (after ``report()``)."""

    def client_id(self, request: HttpRequest, params: FormParameters) -> str | None:
        """The client_id the request claims, before any check (for throttling)."""
        return params.get("client_id")

    def check_registration(self, client: Client) -> None:
        """Raise ``django.core.exceptions.ValidationError`` (by field) when ``client``,
        registered for this method, lacks what the method needs (keys, a certificate
        subject). The default needs nothing."""
        return None

    def seal(self, plaintext: str) -> bytes | None:
        """What a new secret of a client registered for this method keeps besides its digest:
        None (the default: the digest alone), or the secret encrypted at rest for a method
        that needs the secret itself (client_secret_jwt)."""
        return None

    def metadata(self) -> dict[str, Any]:
        """Members this method adds to the authorization server metadata (RFC 8414), e.g.
        ``token_endpoint_auth_signing_alg_values_supported``; lists are merged."""
        return {}

    def failure(self, description: str = GENERIC_FAILURE) -> InvalidClient:
        if self.uses_authorization_header:
            return InvalidClient.with_basic_challenge(description)
        return InvalidClient(description)


def parameters() -> frozenset[str]:
    """Every form parameter some registered method reads."""
    return client_auth_methods.derived(
        "parameters",
        lambda: frozenset().union(*(method.parameters for method in client_auth_methods)))


def advertised() -> list[str]:
    """``*_endpoint_auth_methods_supported`` (META-06, META-07)."""
    return [method.name for method in client_auth_methods if method.advertised]


@sensitive_variables()
def authenticate(request: HttpRequest, params: FormParameters) -> Client:
    """Authenticate the client of a request and return it (CAUTH-01..07).

    Failed attempts are counted per client address and per (client_id, address); over a
    limit the request is refused with 429 before its credentials are checked
    (``throttling``, CAUTH-06)."""
    started = time.perf_counter()
    used = [method for method in client_auth_methods if method.detect(request, params)]
    address = network.client_address(request)
    claimed = used[0].client_id(request, params) if len(used) == 1 else None
    counted = throttling.attempt(address, claimed)
    failed = False
    try:
        return _authenticate(request, params, used)
    except InvalidClient:
        failed = True
        _even_out(started)
        raise
    finally:
        # Anything but invalid_client (a malformed request, the database down) is not a
        # failed authentication: a count taken in advance is given back.
        if counted is not None:
            counted.end(failed=failed)


#: A failed client authentication answers no sooner than this after it began. Reading a
#: known client's row costs a few microseconds more than finding none, enough to tell the
#: two apart over thousands of tries; waiting until a common moment hides that. It costs a
#: failing request (never a successful one) a millisecond, bounded by throttling.
FAILURE_FLOOR_SECONDS = 0.001


def _even_out(started: float) -> None:
    remaining = FAILURE_FLOOR_SECONDS - (time.perf_counter() - started)
    if remaining > 0:
        time.sleep(remaining)


@sensitive_variables()
def _authenticate(request: HttpRequest, params: FormParameters,
                  used: list[ClientAuthMethod]) -> Client:
    header = "HTTP_AUTHORIZATION" in request.META
    if header and not any(m.uses_authorization_header for m in used):
        report(request, None, "unsupported Authorization scheme")
        raise InvalidClient.with_basic_challenge("Unsupported authentication scheme.")
    if not used:
        report(request, None, "no client authentication")
        raise InvalidClient.with_basic_challenge("Client authentication is required.")
    if len(used) > 1:
        report(request, None, "more than one authentication method")
        description = "Use exactly one client authentication method."
        if any(m.assertion for m in used):
            if header:  # the Authorization header was used
                raise InvalidClient.with_basic_challenge(description)
            raise InvalidClient(description)
        raise InvalidRequest(description)
    method = used[0]
    client = method.authenticate(request, params)
    if client.token_endpoint_auth_method != method.name:
        # Said only after the credentials were verified, so it reveals nothing to a guesser.
        report(request, client.client_id, "authentication method not registered")
        raise method.failure("This authentication method is not registered for the client.")
    return client


def searchable(client_id: str) -> str:
    """The id to look up, or "" for one no client can have (too long, control characters;
    PostgreSQL would refuse a NUL)."""
    if len(client_id) > MAX_CLIENT_ID_LENGTH or not client_id.isprintable():
        return ""
    return client_id


@sensitive_variables()
def report(request: HttpRequest, client_id: str | None, reason: str,
           presented_client_id: str | None = None) -> None:
    """Log and signal an authentication failure without any credential material."""
    if presented_client_id is not None:
        found = searchable(presented_client_id)
        if found and Client.objects.filter(client_id=found).exists():
            client_id = presented_client_id
    if client_id is not None:
        logger.info("client authentication failed: %s (client_id=%s)", reason, client_id)
    elif presented_client_id is not None:
        # An unknown "client_id" may be a pasted secret: log a short fingerprint only.
        fingerprint = hashlib.sha256(presented_client_id.encode()).hexdigest()[:12]
        logger.info("client authentication failed: %s (unknown client, sha256:%s)",
                    reason, fingerprint)
    else:
        logger.info("client authentication failed: %s", reason)
    # send_robust: a failing receiver must not turn an authentication failure into a 500.
    for receiver, result in client_authentication_failed.send_robust(
        sender=authenticate, request=request, client_id=client_id, reason=reason
    ):
        if isinstance(result, Exception):
            logger.error("client_authentication_failed receiver %r raised %s",
                         receiver, type(result).__name__)
