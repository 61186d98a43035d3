"""The built-in client authentication methods: a client secret in the Authorization header
(``client_secret_basic``, RFC 6749 §2.3.1 and Appendix B) or in the form body
(``client_secret_post``). Client assertions are ``oauth_cc.server.client_assertion``.

A secret is checked with one query, compiled once from ``ClientSecret.objects.usable()``,
and a constant-time compare; an unknown client is compared against a dummy digest, so that
it costs the same work as a wrong secret (CAUTH-07).

A secret imported from django-oauth-toolkit as a Django password hash
(``ClientSecret.legacy_hash``, written by ``manage.py importdot``) is checked with
``check_password`` only when no digest matched, and only for a client that has such a row;
the first match replaces the hash by the SHA-256 digest, so each imported secret pays for the
slow hash once (GEN-07).
"""

from __future__ import annotations

import base64
import hmac
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password
from django.db import IntegrityError, router, transaction
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

logger = logging.getLogger("oauth_cc.client_auth")


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


#: The client fields the endpoints read; others are deferred (loaded if ever used). In the
#: model's field order, which ``Model.from_db()`` expects of a partial row.
_READ = frozenset({"id", "client_id", "name", "is_active", "token_endpoint_auth_method",
                   "allowed_scopes", "default_scopes", "allowed_audiences",
                   "access_token_lifetime", "token_format", "can_introspect",
                   "dpop_bound_access_tokens", "tls_client_certificate_bound_access_tokens"})
_FIELDS = tuple(field.attname for field in Client._meta.concrete_fields
                if field.attname in _READ)
_BOOLEANS = frozenset(i for i, name in enumerate(_FIELDS)
                      if name in ("is_active", "can_introspect", "dpop_bound_access_tokens",
                                  "tls_client_certificate_bound_access_tokens"))


#: Where the secret's own columns sit in a row, after the client's fields.
_SECRET_PK, _DIGEST, _LEGACY_HASH = range(len(_FIELDS), len(_FIELDS) + 3)


def usable_secrets_queryset(client_id: str, at: datetime
                            ) -> QuerySet[ClientSecret, tuple[Any, ...]]:
    """The active client ``client_id``'s fields, once per usable secret, with the secret's
    primary key, digest and legacy hash (empty but for imported secrets)."""
    return (ClientSecret.objects.usable(at)
            .filter(client__client_id=client_id, client__is_active=True)
            .order_by()
            .values_list(*(f"client__{name}" for name in _FIELDS),
                         "pk", "digest", "legacy_hash"))


_USABLE_SECRETS = queries.CompiledQuery(
    ClientSecret, usable_secrets_queryset,
    client_id="\x01client-id", at=datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC),
)


def usable_secrets(client_id: str) -> list[Client]:
    """The active client with ``client_id``, once per usable secret (``secret_digest``)."""
    alias, rows = _USABLE_SECRETS.rows(client_id=client_id, at=clock.now())
    return [_client(alias, row) for row in rows]


def _client(alias: str, row: tuple[object, ...]) -> Client:
    values = [bool(v) if i in _BOOLEANS else v for i, v in enumerate(row[:len(_FIELDS)])]
    client = Client.from_db(alias, _FIELDS, values)
    client.secret_digest = row[_DIGEST]  # type: ignore[attr-defined]
    return client


#: Stands in for the rows of an unknown client, so that it costs what a known one does.
_DUMMY_ROWS = [(None,) * len(_FIELDS) + (None, credentials.DUMMY_DIGEST, "")]


@sensitive_variables()
def verify_secret(client_id: str, secret: str) -> Client | None:
    """The active client whose usable secret matches, or None.

    One query and one constant-time compare per row, the same for an unknown client (a dummy
    row) as for a known one with a wrong secret; the ``Client`` is built only for a match.
    A client with an imported secret that no digest matched also has that secret's legacy
    hash checked (``_verify_legacy``).
    """
    client_id = searchable(client_id)
    if len(secret) > MAX_SECRET_LENGTH:
        client_id = ""
    alias, rows = _USABLE_SECRETS.rows(client_id=client_id, at=clock.now())
    presented_digest = credentials.digest(secret)
    match = None
    for row in rows or _DUMMY_ROWS:
        if hmac.compare_digest(presented_digest, str(row[_DIGEST])) and row[0] is not None:
            match = row
    if match is None:
        legacy = [row for row in rows if row[_LEGACY_HASH]]
        if legacy:
            match = _verify_legacy(legacy, secret)
    return _client(alias, match) if match is not None else None


@sensitive_variables()
def _verify_legacy(rows: list[tuple[Any, ...]], secret: str) -> tuple[Any, ...] | None:
    """The row whose imported password hash ``secret`` matches, its hash replaced by the
    secret's SHA-256 digest; or None.

    ``check_password`` compares in constant time and runs the hash's own work factor: this
    costs only clients that still have an imported secret, until its first use. The UPDATE
    names the hash it replaces, so of two concurrent first uses one rewrites the row and the
    other, having verified the same secret, still succeeds.
    """
    for row in rows:
        legacy_hash = str(row[_LEGACY_HASH])
        if check_password(secret, legacy_hash):
            try:
                with transaction.atomic(using=router.db_for_write(ClientSecret)):
                    ClientSecret.objects.filter(
                        pk=row[_SECRET_PK], legacy_hash=legacy_hash,
                    ).update(digest=credentials.digest(secret), legacy_hash="",
                             hint=ClientSecret.imported_hint(secret))
            except IntegrityError:
                # Another row already has this digest (one secret imported for two
                # clients): keep checking this one by its hash.
                logger.warning("imported secret %s kept as a password hash: its digest is "
                               "taken", row[_SECRET_PK])
            return row
    return None


class _SecretMethod(ClientAuthMethod):
    uses_secret = True

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


client_auth_methods.register(ClientSecretBasic())
client_auth_methods.register(ClientSecretPost())
