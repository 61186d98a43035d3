"""Authorization-server endpoints: token (RFC 6749 §4.4) and JWKS (RFC 7517 §5)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import audiences, client_auth, keys, scopes, tokens
from .errors import (
    NO_STORE_HEADERS,
    InvalidRequest,
    MethodNotAllowed,
    OAuthError,
    UnsupportedGrantType,
)
from .http import parse_form, require_https
from .settings import oauth_cc_settings
from .signals import token_issued

logger = logging.getLogger("oauth_cc.views")

GRANT_TYPE = "client_credentials"

#: Parameters of a token request (TOK-05: only ``resource`` may repeat, X-02).
TOKEN_PARAMETERS = frozenset({
    "grant_type", "scope", "resource", "client_id", "client_secret",
    "client_assertion", "client_assertion_type",
})
#: Never accepted in the request URI (CAUTH-04).
CREDENTIAL_PARAMETERS = ("client_id", "client_secret", "client_assertion",
                         "client_assertion_type")


@csrf_exempt
@sensitive_post_parameters("client_secret", "client_assertion")
@sensitive_variables("params")
def token(request: HttpRequest) -> HttpResponse:
    """The token endpoint for the client-credentials grant (RFC 6749 §4.4.2, §4.4.3)."""
    try:
        if request.method != "POST":
            raise MethodNotAllowed(["POST"])
        require_https(request)
        if any(name in request.GET for name in CREDENTIAL_PARAMETERS):
            raise InvalidRequest("Credentials must not be sent in the request URI.")
        params = parse_form(request, known=TOKEN_PARAMETERS, repeatable=frozenset({"resource"}))
        # The grant type is checked before the client is authenticated: it reveals nothing
        # about any client, and spares a database query for requests we cannot serve.
        grant_type = params.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("The grant_type parameter is required.")
        if grant_type != GRANT_TYPE:
            raise UnsupportedGrantType("Only the client_credentials grant is supported.")
        client = client_auth.authenticate(request, params)
        granted = scopes.resolve(
            params.get("scope"),
            allowed=client.allowed_scope_set,
            default=client.default_scope_set,
        )
        audience = audiences.resolve(client, params.get_all("resource"))
        issued = tokens.issue(client, granted, audience)
    except OAuthError as error:
        return error.to_response()
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


@csrf_exempt
def jwks(request: HttpRequest) -> HttpResponse:
    """The JWK Set of every published signing key (JWKS-01..07)."""
    if request.method not in ("GET", "HEAD"):
        return MethodNotAllowed(["GET", "HEAD"]).to_response()
    response = JsonResponse(keys.jwks())
    response["Cache-Control"] = f"public, max-age={int(oauth_cc_settings.JWKS_MAX_AGE)}"
    return response
