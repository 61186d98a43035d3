"""Authorization-server endpoints: token (RFC 6749 §4.4), JWKS (RFC 7517 §5), metadata
(RFC 8414), introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import SuspiciousOperation
from django.db import Error as DatabaseFailure
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from .. import reporting
from ..errors import (
    NO_STORE_HEADERS,
    InvalidGrant,
    InvalidRequest,
    MethodNotAllowed,
    OAuthError,
    ServerError,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from ..models import Client, Scope
from ..registry import client_auth_methods, grant_types, token_types
from ..settings import oauth_cc_settings
from ..signals import token_issued
from . import client_auth, inspection, keys
from .http import FormParameters, parse_form, require_https

logger = logging.getLogger("oauth_cc.views")

#: Parameters of introspection and revocation requests, besides client authentication's
#: (INTRO-01, REV-01).
TOKEN_QUERY_PARAMETERS = frozenset({"token", "token_type_hint"})
#: Never accepted in the request URI (CAUTH-04): client authentication's parameters, and
#: the token being asked about.
_URI_FORBIDDEN_EXTRA = frozenset({"client_id", "token"})


def _uri_forbidden() -> frozenset[str]:
    return client_auth.parameters() | _URI_FORBIDDEN_EXTRA


def _token_parameters() -> tuple[frozenset[str], frozenset[str]]:
    """The known and the repeatable parameters of a token request, from the registered
    grants and client authentication methods (TOK-05: only ``resource`` repeats, X-02)."""
    known, repeatable = grant_types.derived("parameters", lambda: (
        frozenset({"grant_type"}).union(*(grant.parameters for grant in grant_types)),
        frozenset().union(*(grant.repeatable for grant in grant_types))))
    return known | client_auth.parameters(), repeatable


def endpoint(*methods: str) -> Callable[[Callable[..., HttpResponse]],
                                       Callable[..., HttpResponse]]:
    """An authorization-server endpoint: CSRF-exempt, only ``methods`` (else 405 with
    ``Allow``), error reports that hide credentials, and every failure rendered as JSON:
    an ``OAuthError`` as itself, a database failure as 503 ``temporarily_unavailable``
    (the client may retry; nothing half-done was acknowledged), anything else as 500
    ``server_error``, logged with its traceback but never a Django error page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        @sensitive_variables()
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            reporting.protect(request)
            try:
                if request.method not in methods:
                    raise MethodNotAllowed(list(methods))
                return view(request, *args, **kwargs)
            except OAuthError as error:
                return error.to_response()
            except SuspiciousOperation:  # e.g. too many query parameters for Django
                return InvalidRequest("The request is malformed.").to_response()
            except DatabaseFailure as exc:
                logger.error("%s: database unavailable (%s)", view.__name__,
                             type(exc).__name__)
                return TemporarilyUnavailable(
                    "The service is temporarily unavailable.",
                    headers={"Retry-After": "5"}).to_response()
            except Http404:
                raise
            except Exception:
                logger.exception("%s: unexpected error", view.__name__)
                return ServerError("The server could not answer this request.").to_response()

        return csrf_exempt(wrapped)

    return decorator


@sensitive_variables("params")
def _form(request: HttpRequest, known: frozenset[str],
          repeatable: frozenset[str] = frozenset()) -> FormParameters:
    """The checks shared by the POST endpoints: HTTPS, URI, body (TOK-02..05)."""
    require_https(request)
    if any(name in request.GET for name in _uri_forbidden()):
        raise InvalidRequest("Credentials and tokens must not be sent in the request URI.")
    return parse_form(request, known=known, repeatable=repeatable)


@endpoint("POST")
@sensitive_post_parameters("client_secret", "client_assertion")
@sensitive_variables()
def token(request: HttpRequest) -> HttpResponse:
    """The token endpoint (RFC 6749 §3.2): a dispatcher to the registered grant (TOK-01)."""
    known, repeatable = _token_parameters()
    params = _form(request, known, repeatable=repeatable)
    # The grant type is checked before the client is authenticated: it reveals nothing
    # about any client, and spares a database query for requests we cannot serve.
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("The grant_type parameter is required.")
    grant = grant_types.get(grant_type)
    if grant is None:
        raise UnsupportedGrantType("This grant type is not supported.")
    client = client_auth.authenticate(request, params)
    issued = grant.issue(request, params, client)
    for receiver, result in token_issued.send_robust(
        sender=token, request=request, client=client, claims=issued.claims
    ):
        if isinstance(result, Exception):
            logger.error("token_issued receiver %r raised %s", receiver, type(result).__name__)
    logger.debug("issued token jti=%s to client_id=%s", issued.claims["jti"], client.client_id)
    body = {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    return JsonResponse(body, headers=NO_STORE_HEADERS)


@sensitive_variables("params")
def _token_query(request: HttpRequest) -> tuple[Client, str]:
    """Authenticate the calling client and read ``token`` (INTRO-01, REV-01, REV-02).

    ``token_type_hint`` is accepted and ignored: every kind of token is searched, so a wrong
    or unknown hint changes nothing (INTRO-01, REV-05).
    """
    params = _form(request, TOKEN_QUERY_PARAMETERS | client_auth.parameters())
    client = client_auth.authenticate(request, params)
    raw = params.get("token")
    if raw is None:
        raise InvalidRequest("The token parameter is required.")
    return client, raw


@endpoint("POST")
@sensitive_post_parameters("token", "client_secret", "client_assertion")
@sensitive_variables()
def introspect(request: HttpRequest) -> HttpResponse:
    """Token introspection (RFC 7662) for clients allowed to introspect (INTRO-01..07)."""
    client, raw = _token_query(request)
    if not client.can_introspect:  # INTRO-02: an explicit permission, not any client
        raise UnauthorizedClient("This client may not introspect tokens.", status=403)
    body = inspection.introspection_response(inspection.identify(raw))
    return JsonResponse(body, headers=NO_STORE_HEADERS)


@endpoint("POST")
@sensitive_post_parameters("token", "client_secret", "client_assertion")
@sensitive_variables()
def revoke(request: HttpRequest) -> HttpResponse:
    """Token revocation (RFC 7009): a client revokes its own tokens (REV-01..06, X-04)."""
    client, raw = _token_query(request)
    record = inspection.identify(raw)
    if record is not None:
        if record.client_id != client.client_id:
            raise InvalidGrant("The token was not issued to this client.")
        if record.revocable():
            record.revoke()
            logger.info("client_id=%s revoked token jti=%s", client.client_id, record.jti)
    # REV-04: 200 also for unknown, invalid, expired and already revoked tokens.
    return HttpResponse(status=200, headers=NO_STORE_HEADERS)


@endpoint("GET", "HEAD")
def jwks(request: HttpRequest) -> HttpResponse:
    """The JWK Set of every published signing key (JWKS-01..07)."""
    response = JsonResponse(keys.jwks())
    response["Cache-Control"] = f"public, max-age={int(oauth_cc_settings.JWKS_MAX_AGE)}"
    return response


def _merge(document: dict[str, Any], members: dict[str, Any]) -> None:
    """Add an extension's metadata members; lists under one name are joined, in order,
    without repeats (two assertion methods both list signing algorithms)."""
    for name, value in members.items():
        present = document.get(name)
        if isinstance(present, list) and isinstance(value, list):
            document[name] = present + [item for item in value if item not in present]
        else:
            document[name] = value


def _endpoint(origin: str, name: str) -> str:
    return origin + reverse(f"oauth_cc:{name}")


@endpoint("GET", "HEAD")
def metadata(request: HttpRequest, issuer_path: str | None = None) -> HttpResponse:
    """Authorization server metadata (RFC 8414 §3) at
    ``/.well-known/oauth-authorization-server{issuer path}`` (META-01..10)."""
    issuer = str(oauth_cc_settings.ISSUER)
    parts = urlsplit(issuer)
    if (issuer_path or "") != parts.path.rstrip("/"):
        raise Http404("No authorization server metadata here.")
    origin = f"{parts.scheme}://{parts.netloc}"
    methods = client_auth.advertised()
    document: dict[str, Any] = {
        "issuer": issuer,
        "token_endpoint": _endpoint(origin, "token"),
        "jwks_uri": _endpoint(origin, "jwks"),
        "introspection_endpoint": _endpoint(origin, "introspect"),
        "revocation_endpoint": _endpoint(origin, "revoke"),
        "grant_types_supported": grant_types.names(),
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
    }
    for extension in [*client_auth_methods, *token_types]:
        _merge(document, extension.metadata())
    if oauth_cc_settings.PUBLISH_SCOPES:
        names = list(Scope.objects.values_list("name", flat=True))
        if names:  # META-02: no empty arrays
            document["scopes_supported"] = names
    # no response_types_supported, since no response type is supported.
    response = JsonResponse(document)
    response["Cache-Control"] = f"public, max-age={int(oauth_cc_settings.METADATA_MAX_AGE)}"
    return response
