"""Client authentication at the token endpoint (RFC 6749 §2.3).

One small function per method, registered in ``METHODS``; ``authenticate()`` finds which
method a request uses, refuses a request that uses more than one (CAUTH-05), checks the
credentials and returns the ``Client``.

Failures are ``invalid_client``. When the client used the Authorization header the answer is
401 with a Basic challenge; otherwise 400 (X-07). Unknown client, inactive client, wrong secret
and expired secret look the same from outside and cost the same work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from . import clock, credentials, queries
from .errors import InvalidClient, InvalidRequest
from .http import FormParameters
from .models import Client, ClientSecret, TokenEndpointAuthMethod
from .signals import client_authentication_failed

logger = logging.getLogger("oauth_cc.client_auth")

MAX_CLIENT_ID_LENGTH = 100
MAX_SECRET_LENGTH = 512
GENERIC_FAILURE = "Client authentication failed."


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """What the client sent: the method, its client_id and secret (never logged)."""

    method: str
    client_id: str
    secret: str = ""

    def __repr__(self) -> str:
        return f"PresentedCredentials(method={self.method!r}, client_id=<hidden>)"

    @property
    def via_header(self) -> bool:
        return self.method == TokenEndpointAuthMethod.CLIENT_SECRET_BASIC

    def failure(self, description: str = GENERIC_FAILURE) -> InvalidClient:
        if self.via_header:
            return InvalidClient.with_basic_challenge(description)
        return InvalidClient(description)


class MalformedBasic(ValueError):
    """The Authorization header's Basic credentials cannot be decoded."""


@sensitive_variables()
def parse_basic_credentials(token68: str) -> tuple[str, str]:
    """Decode RFC 7617 Basic credentials as RFC 6749 §2.3.1 / Appendix B says (CAUTH-02).

    Base64-decode, split at the first ``:``, then form-urldecode each half (``+`` is a space,
    ``%XX`` an octet, the octets UTF-8). Raises ``MalformedBasic``.
    """
    try:
        decoded = base64.b64decode(token68.strip(" "), validate=True)
    except ValueError:
        raise MalformedBasic("bad base64") from None
    raw_id, colon, raw_secret = decoded.partition(b":")
    if not colon:
        raise MalformedBasic("no colon")
    try:
        client_id = unquote_plus(raw_id.decode("utf-8"), errors="strict")
        secret = unquote_plus(raw_secret.decode("utf-8"), errors="strict")
    except UnicodeDecodeError:
        raise MalformedBasic("not UTF-8") from None
    if not client_id or not secret:
        raise MalformedBasic("empty")
    return client_id, secret


@sensitive_variables()
def _basic(request: HttpRequest, params: FormParameters) -> PresentedCredentials:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    _scheme, _, token68 = header.partition(" ")
    try:
        client_id, secret = parse_basic_credentials(token68)
    except MalformedBasic:
        _report(request, None, "malformed Basic credentials")
        raise InvalidClient.with_basic_challenge("Malformed Basic credentials.") from None
    body_client_id = params.get("client_id")
    if body_client_id is not None and body_client_id != client_id:
        # RFC 6749 §3.2.1 lets the body repeat the id; a different one is refused (CAUTH-05).
        raise InvalidRequest("The client_id in the body differs from the Basic credentials.")
    return PresentedCredentials(TokenEndpointAuthMethod.CLIENT_SECRET_BASIC, client_id, secret)


@sensitive_variables()
def _post(request: HttpRequest, params: FormParameters) -> PresentedCredentials:
    client_id = params.get("client_id")
    secret = params.get("client_secret") or ""
    if client_id is None:
        _report(request, None, "client_secret without client_id")
        raise InvalidClient("client_secret requires client_id.")
    return PresentedCredentials(TokenEndpointAuthMethod.CLIENT_SECRET_POST, client_id, secret)


def _assertion(request: HttpRequest, params: FormParameters) -> PresentedCredentials:
    _report(request, None, "client assertions are not supported")
    raise InvalidClient("This server does not accept client assertions.")


#: Method name -> function that extracts the presented credentials.
METHODS: dict[str, Callable[[HttpRequest, FormParameters], PresentedCredentials]] = {
    TokenEndpointAuthMethod.CLIENT_SECRET_BASIC: _basic,
    TokenEndpointAuthMethod.CLIENT_SECRET_POST: _post,
    "client_assertion": _assertion,
}


@sensitive_variables()
def _methods_used(request: HttpRequest, params: FormParameters) -> list[str]:
    used = []
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is not None:
        scheme = header.partition(" ")[0]
        if scheme.lower() != "basic":
            _report(request, None, "unsupported Authorization scheme")
            raise InvalidClient.with_basic_challenge("Unsupported authentication scheme.")
        used.append(TokenEndpointAuthMethod.CLIENT_SECRET_BASIC)
    if "client_secret" in params:
        used.append(TokenEndpointAuthMethod.CLIENT_SECRET_POST)
    if "client_assertion" in params or "client_assertion_type" in params:
        used.append("client_assertion")
    return used


@sensitive_variables()
def authenticate(request: HttpRequest, params: FormParameters) -> Client:
    """Authenticate the client of a token request and return it (CAUTH-01..05, 07)."""
    used = _methods_used(request, params)
    if not used:
        _report(request, None, "no client authentication")
        raise InvalidClient.with_basic_challenge("Client authentication is required.")
    if len(used) > 1:
        _report(request, None, "more than one authentication method")
        if "client_assertion" in used:
            if TokenEndpointAuthMethod.CLIENT_SECRET_BASIC in used:  # header used
                raise InvalidClient.with_basic_challenge(
                    "Use exactly one client authentication method.")
            raise InvalidClient("Use exactly one client authentication method.")
        raise InvalidRequest("Use exactly one client authentication method.")
    presented = METHODS[used[0]](request, params)
    client = _verify_secret(presented)
    if client is None:
        _report(request, None, "unknown client or wrong secret", presented.client_id)
        raise presented.failure()
    if client.token_endpoint_auth_method != presented.method:
        # Said only after the secret was verified, so it reveals nothing to a guesser.
        _report(request, client.client_id, "authentication method not registered")
        raise presented.failure("This authentication method is not registered for the client.")
    return client


@sensitive_variables()
def _verify_secret(presented: PresentedCredentials) -> Client | None:
    """The active client whose usable secret matches, or None. One query, constant time."""
    client_id, secret = _searchable(presented.client_id), presented.secret
    if len(secret) > MAX_SECRET_LENGTH:
        client_id = ""
    rows = _usable_secrets(client_id) if client_id else []
    presented_digest = credentials.digest(secret)
    match = None
    for row in rows or [None]:
        stored = row.secret_digest if row is not None else credentials.DUMMY_DIGEST
        if hmac.compare_digest(presented_digest, stored) and row is not None:
            match = row
    return match


#: The client fields the token endpoint reads; others are deferred (loaded if ever used).
_FIELDS = ("id", "client_id", "name", "is_active", "token_endpoint_auth_method",
           "allowed_scopes", "default_scopes", "allowed_audiences", "access_token_lifetime",
           "token_format", "can_introspect")
_BOOLEANS = frozenset(i for i, name in enumerate(_FIELDS)
                      if name in ("is_active", "can_introspect"))


def _usable_secrets_sql(q: Callable[[str], str]) -> str:
    secret, client = ClientSecret._meta, Client._meta
    columns = ", ".join(f"c.{q(client.get_field(name).column)}" for name in _FIELDS)
    return (
        f"SELECT {columns}, s.{q('digest')} "  # noqa: S608 (identifiers from the models)
        f"FROM {q(secret.db_table)} s INNER JOIN {q(client.db_table)} c "
        f"ON s.{q(secret.get_field('client').column)} = c.{q(client.pk.column)} "
        f"WHERE c.{q('client_id')} = %s AND c.{q('is_active')} = %s "
        f"AND s.{q('revoked_at')} IS NULL "
        f"AND (s.{q('expires_at')} IS NULL OR s.{q('expires_at')} > %s)"
    )


def _usable_secrets(client_id: str) -> list[Client]:
    """The active client with ``client_id``, once per usable secret (``secret_digest``):
    the token endpoint's one query, compiled once (``queries``)."""
    alias, found = queries.fetch(
        "usable_secrets", Client, _usable_secrets_sql,
        lambda connection: [client_id, True,
                            connection.ops.adapt_datetimefield_value(clock.now())])
    clients = []
    for row in found:
        values = [bool(v) if i in _BOOLEANS else v for i, v in enumerate(row[:-1])]
        client = Client.from_db(alias, _FIELDS, values)
        client.secret_digest = row[-1]
        clients.append(client)
    return clients


def _searchable(client_id: str) -> str:
    """The id to look up, or "" for one no client can have (too long, control characters;
    PostgreSQL would refuse a NUL)."""
    if len(client_id) > MAX_CLIENT_ID_LENGTH or not client_id.isprintable():
        return ""
    return client_id


@sensitive_variables()
def _report(request: HttpRequest, client_id: str | None, reason: str,
            presented_client_id: str | None = None) -> None:
    """Log and signal an authentication failure without any credential material."""
    if presented_client_id is not None:
        searchable = _searchable(presented_client_id)
        if searchable and Client.objects.filter(client_id=searchable).exists():
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
