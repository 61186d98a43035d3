"""The built-in client authentication methods: a client secret in the Authorization header
(``client_secret_basic``, RFC 6749 §2.3.1 and Appendix B) or in the form body
(``client_secret_post``). Also the refusal of client assertions, until a method for them is
registered.

A secret is checked with one query, compiled once from ``ClientSecret.objects.usable()``,
and a constant-time compare; an unknown client is compared against a dummy digest, so that
it costs the same work as a wrong secret (CAUTH-07).
"""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from .. import clock, credentials, queries
from ..errors import InvalidClient, InvalidRequest
from ..models import Client, ClientSecret, TokenEndpointAuthMethod
from ..registry import client_auth_methods
from .client_auth import ClientAuthMethod, report, searchable
from .http import FormParameters

if TYPE_CHECKING:
    from django.db.models import QuerySet

MAX_SECRET_LENGTH = 512


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


#: The client fields the endpoints read; others are deferred (loaded if ever used).
_FIELDS = ("id", "client_id", "name", "is_active", "token_endpoint_auth_method",
           "allowed_scopes", "default_scopes", "allowed_audiences", "access_token_lifetime",
           "token_format", "can_introspect")
_BOOLEANS = frozenset(i for i, name in enumerate(_FIELDS)
                      if name in ("is_active", "can_introspect"))


def usable_secrets_queryset(client_id: str, at: datetime
                            ) -> QuerySet[ClientSecret, tuple[Any, ...]]:
    """The active client ``client_id``'s fields, once per usable secret, with its digest."""
    return (ClientSecret.objects.usable(at)
            .filter(client__client_id=client_id, client__is_active=True)
            .order_by()
            .values_list(*(f"client__{name}" for name in _FIELDS), "digest"))


_USABLE_SECRETS = queries.CompiledQuery(
    ClientSecret, usable_secrets_queryset,
    client_id="\x01client-id", at=datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC),
)


def usable_secrets(client_id: str) -> list[Client]:
    """The active client with ``client_id``, once per usable secret (``secret_digest``)."""
    alias, rows = _USABLE_SECRETS.rows(client_id=client_id, at=clock.now())
    return [_client(alias, row) for row in rows]


def _client(alias: str, row: tuple[object, ...]) -> Client:
    values = [bool(v) if i in _BOOLEANS else v for i, v in enumerate(row[:-1])]
    client = Client.from_db(alias, _FIELDS, values)
    client.secret_digest = row[-1]  # type: ignore[attr-defined]
    return client


#: Stands in for the rows of an unknown client, so that it costs what a known one does.
_DUMMY_ROWS = [(None,) * len(_FIELDS) + (credentials.DUMMY_DIGEST,)]


@sensitive_variables()
def verify_secret(client_id: str, secret: str) -> Client | None:
    """The active client whose usable secret matches, or None.

    One query and one constant-time compare per row, the same for an unknown client (a dummy
    row) as for a known one with a wrong secret; the ``Client`` is built only for a match.
    """
    client_id = searchable(client_id)
    if len(secret) > MAX_SECRET_LENGTH:
        client_id = ""
    alias, rows = _USABLE_SECRETS.rows(client_id=client_id, at=clock.now())
    presented_digest = credentials.digest(secret)
    match = None
    for row in rows or _DUMMY_ROWS:
        if hmac.compare_digest(presented_digest, str(row[-1])) and row[0] is not None:
            match = row
    return _client(alias, match) if match is not None else None


class _SecretMethod(ClientAuthMethod):
    @sensitive_variables()
    def _check(self, request: HttpRequest, client_id: str, secret: str) -> Client:
        client = verify_secret(client_id, secret)
        if client is None:
            report(request, None, "unknown client or wrong secret", client_id)
            raise self.failure()
        return client


class ClientSecretBasic(_SecretMethod):
    """``Authorization: Basic`` with the form-urlencoded client_id and secret (CAUTH-02)."""

    name = TokenEndpointAuthMethod.CLIENT_SECRET_BASIC
    label = "client_secret_basic (HTTP Basic)"
    uses_authorization_header = True

    def detect(self, request: HttpRequest, params: FormParameters) -> bool:
        header = request.META.get("HTTP_AUTHORIZATION")
        return header is not None and header.partition(" ")[0].lower() == "basic"

    @sensitive_variables()
    def client_id(self, request: HttpRequest, params: FormParameters) -> str | None:
        try:
            return parse_basic_credentials(
                request.META["HTTP_AUTHORIZATION"].partition(" ")[2])[0]
        except MalformedBasic:
            return None

    @sensitive_variables()
    def authenticate(self, request: HttpRequest, params: FormParameters) -> Client:
        _scheme, _, token68 = request.META["HTTP_AUTHORIZATION"].partition(" ")
        try:
            client_id, secret = parse_basic_credentials(token68)
        except MalformedBasic:
            report(request, None, "malformed Basic credentials")
            raise InvalidClient.with_basic_challenge("Malformed Basic credentials.") from None
        body_client_id = params.get("client_id")
        if body_client_id is not None and body_client_id != client_id:
            # RFC 6749 §3.2.1 lets the body repeat the id; a different one is refused.
            raise InvalidRequest("The client_id in the body differs from the Basic "
                                 "credentials.")
        return self._check(request, client_id, secret)


class ClientSecretPost(_SecretMethod):
    """``client_id`` and ``client_secret`` in the form body (CAUTH-04)."""

    name = TokenEndpointAuthMethod.CLIENT_SECRET_POST
    label = "client_secret_post (form body)"
    parameters = frozenset({"client_id", "client_secret"})

    def detect(self, request: HttpRequest, params: FormParameters) -> bool:
        return "client_secret" in params

    @sensitive_variables()
    def authenticate(self, request: HttpRequest, params: FormParameters) -> Client:
        client_id = params.get("client_id")
        if client_id is None:
            report(request, None, "client_secret without client_id")
            raise InvalidClient("client_secret requires client_id.")
        return self._check(request, client_id, params.get("client_secret") or "")


class UnsupportedClientAssertion(ClientAuthMethod):
    """A ``client_assertion`` (RFC 7521 §4.2) while no assertion method is registered: always
    ``invalid_client``, and counted as a method for CAUTH-05 / X-01. Not advertised, and no
    client can be registered for it; a ``private_key_jwt`` method replaces it."""

    name = "client_assertion"
    parameters = frozenset({"client_assertion", "client_assertion_type"})
    assertion = True
    advertised = False
    registrable = False

    def detect(self, request: HttpRequest, params: FormParameters) -> bool:
        return "client_assertion" in params or "client_assertion_type" in params

    def authenticate(self, request: HttpRequest, params: FormParameters) -> Client:
        report(request, None, "client assertions are not supported")
        raise self.failure("This server does not accept client assertions.")


client_auth_methods.register(ClientSecretBasic())
client_auth_methods.register(ClientSecretPost())
client_auth_methods.register(UnsupportedClientAssertion())
