"""OAuth errors: one base class, one subclass per RFC error code.

Domain code raises these; the edge renders them with ``to_response()`` (plain Django) or
through the DRF classes, and every rendering comes from the same three members: ``status``,
``headers`` and ``as_dict()``.

- Authorization-server errors (token, introspection, revocation endpoints) are the RFC 6749
  §5.2 JSON body; ``invalid_client`` after a Basic attempt adds a Basic challenge (X-07).
- Resource-server errors (``ResourceError``) add an RFC 6750 §3 ``WWW-Authenticate``
  challenge in the scheme of the token type that refused the request (``Bearer`` today).

Every error body is ``{"error": code, "error_description": text}``, plus ``scope`` for
``insufficient_scope``; a request that carried no access token has no error code (RFC 6750
§3.1), so its body has ``error_description`` only. Descriptions are fixed strings chosen
here and in the callers, never client input (GEN-05).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from django.http import JsonResponse

from .settings import oauth_cc_settings

# RFC 6749 §5.2: error and error_description are limited to %x20-21 / %x23-5B / %x5D-7E.
_ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")

NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def quote(value: str) -> str:
    """An auth-param value as an RFC 9110 §11.2 quoted-string body."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


class OAuthError(Exception):
    """An RFC error code, a fixed description, an HTTP status and extra headers."""

    error: ClassVar[str | None] = "server_error"
    status_code: ClassVar[int] = 400

    def __init__(
        self,
        description: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if description is not None and not _ERROR_TEXT.fullmatch(description):
            raise ValueError("error_description has characters RFC 6749 §5.2 forbids")
        super().__init__(description or self.error or "no credentials")
        self.description = description
        self.status = status or self.status_code
        self._headers = headers or {}

    @property
    def headers(self) -> dict[str, str]:
        """Every header of the error response (no-store on all of them, GEN-03)."""
        return {**NO_STORE_HEADERS, **self._headers}

    def as_dict(self) -> dict[str, str]:
        body: dict[str, str] = {}
        if self.error:
            body["error"] = self.error
        if self.description:
            body["error_description"] = self.description
        return body

    def to_response(self) -> JsonResponse:
        """The JSON error response (GEN-02, GEN-03, GEN-05)."""
        response = JsonResponse(self.as_dict(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


# --- authorization-server errors (RFC 6749 §5.2, RFC 7009, RFC 7662, RFC 8707) -------------

class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2 invalid_client; 400 unless the Authorization header was used (X-07)."""

    error = "invalid_client"

    @classmethod
    def with_basic_challenge(cls, description: str | None = None) -> InvalidClient:
        """401 with ``WWW-Authenticate: Basic realm=...`` (CAUTH-03, GEN-09)."""
        return cls(description, status=401, headers={"WWW-Authenticate": basic_challenge()})


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2 invalid_target."""

    error = "invalid_target"


class MethodNotAllowed(OAuthError):
    """405 with ``Allow`` (GEN-09, TOK-01); the body uses the invalid_request code."""

    error = "invalid_request"
    status_code = 405

    def __init__(self, allowed: list[str]) -> None:
        super().__init__("HTTP method not allowed.", headers={"Allow": ", ".join(allowed)})


class PayloadTooLarge(OAuthError):
    error = "invalid_request"
    status_code = 413


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5 invalid_dpop_proof at the token endpoint (DPOP-12, X-10)."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """RFC 9449 §8 use_dpop_nonce with a fresh ``DPoP-Nonce`` header (DPOP-13)."""

    error = "use_dpop_nonce"

    def __init__(self, nonce: str, description: str | None = None) -> None:
        super().__init__(description or "A DPoP nonce is required.",
                         headers={"DPoP-Nonce": nonce})


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503


class ServerError(OAuthError):
    """An unexpected failure, answered as JSON instead of an error page."""

    error = "server_error"
    status_code = 500


class TooManyRequests(OAuthError):
    """429: too many failed client authentications from this address (CAUTH-06). There is no
    RFC 6749 code for it; ``temporarily_unavailable`` tells the client to come back later,
    and ``Retry-After`` says when."""

    error = "temporarily_unavailable"
    status_code = 429


def basic_challenge() -> str:
    return f'Basic realm="{quote(oauth_cc_settings.REALM)}", charset="UTF-8"'


# --- resource-server errors (RFC 6750 §3, RFC 9449 §7) ------------------------------------

#: Auth-params a token type adds to its challenges, by scheme: ``"DPoP"`` ->
#: ``'algs="ES256 RS256"'`` (RFC 9449 §7.1). The token type's module fills it when it
#: registers; the function returns None while the type is not offered. A scheme listed here
#: is also challenged when a request carries no credentials at all (DPOP-20).
CHALLENGE_PARAMETERS: dict[str, Callable[[], str | None]] = {}


def _challenge(scheme: str, *parameters: str) -> str:
    """``<scheme> realm="...", <the scheme's own parameters>, <parameters>``."""
    parts = [f'realm="{quote(oauth_cc_settings.BEARER_REALM)}"']
    own = CHALLENGE_PARAMETERS.get(scheme)
    extra = own() if own is not None else None
    if extra:
        parts.append(extra)
    parts.extend(parameters)
    return f"{scheme} " + ", ".join(parts)


class ResourceError(OAuthError):
    """A protected-resource failure, answered with a ``WWW-Authenticate`` challenge.

    ``scheme`` is the authentication scheme of the token type that refused the request; the
    protecting code sets it (``Bearer`` unless another type was used). ``error`` is None when
    the request carried no credentials at all: the challenge then has no error details
    (BEARER-08).
    """

    error: ClassVar[str | None] = None
    status_code: ClassVar[int] = 401

    def __init__(self, description: str | None = None, *, scope: str | None = None,
                 scheme: str = "Bearer") -> None:
        super().__init__(description)
        self.scope = scope
        self.scheme = scheme

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value: ``<scheme> realm="..."``, the scheme's own
        parameters (``algs`` for DPoP), then the error (BEARER-06, DPOP-18)."""
        parts = []
        if self.error:
            parts.append(f'error="{self.error}"')
            if self.description:
                parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return _challenge(self.scheme, *parts)

    @property
    def headers(self) -> dict[str, str]:
        return {**NO_STORE_HEADERS, "WWW-Authenticate": self.challenge()}

    def as_dict(self) -> dict[str, str]:
        body = super().as_dict()
        if self.scope:
            body["scope"] = self.scope
        return body


class NoCredentials(ResourceError):
    """No access token in the request (RFC 6750 §3.1: no error code)."""

    def __init__(self, *, scheme: str = "Bearer") -> None:
        super().__init__("An access token is required.", scheme=scheme)

    def challenge(self) -> str:
        """The challenge of ``scheme``, then one for every other scheme offered with its own
        parameters, none with error details (BEARER-08, DPOP-20):
        ``Bearer realm="api", DPoP realm="api", algs="ES256 ..."``."""
        challenges = [_challenge(self.scheme)]
        for scheme, parameters in CHALLENGE_PARAMETERS.items():
            if scheme != self.scheme and parameters() is not None:
                challenges.append(_challenge(scheme))
        return ", ".join(challenges)


class ResourceInvalidRequest(ResourceError):
    """Malformed request, or a token sent by more than one method (BEARER-04, BEARER-09)."""

    error = "invalid_request"
    status_code = 400


class InvalidToken(ResourceError):
    """Expired, revoked, malformed or otherwise invalid token (BEARER-09, RSV-01..06)."""

    error = "invalid_token"
    status_code = 401


class InsufficientScope(ResourceError):
    """The token lacks the scope the resource requires (BEARER-09, RSV-07)."""

    error = "insufficient_scope"
    status_code = 403


class ResourceInvalidDPoPProof(ResourceError):
    """A missing or invalid DPoP proof with a DPoP-bound token (RFC 9449 §7.1, DPOP-16,
    DPOP-18): 401 ``invalid_dpop_proof`` in the DPoP challenge."""

    error = "invalid_dpop_proof"
    status_code = 401


class ResourceUnavailable(ResourceError):
    """The resource server cannot decide now (its DPoP replay cache is unreachable, so it
    fails closed): 503 ``temporarily_unavailable`` with ``Retry-After`` and no challenge,
    since nothing is wrong with the credentials."""

    error = "temporarily_unavailable"
    status_code = 503

    def challenge(self) -> str:
        return ""

    @property
    def headers(self) -> dict[str, str]:
        return {**NO_STORE_HEADERS, "Retry-After": "5"}
