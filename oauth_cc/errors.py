"""OAuth errors: one exception class per RFC error code.

Domain code raises these; the view edge renders them. Token-endpoint errors render as the
RFC 6749 §5.2 JSON body; resource-server errors render as an RFC 6750 §3 ``WWW-Authenticate``
challenge. Descriptions are fixed strings chosen here, never client input (GEN-05).
"""

from __future__ import annotations

import re
from typing import ClassVar

from django.http import JsonResponse

from .settings import oauth_cc_settings

# RFC 6749 §5.2: error and error_description are limited to %x20-21 / %x23-5B / %x5D-7E.
_ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")

NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """Base class: an RFC error code, a fixed description, a status and extra headers."""

    error: ClassVar[str] = "server_error"
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
        super().__init__(description or self.error)
        self.description = description
        self.status = status or self.status_code
        self.headers = headers or {}

    def as_dict(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body

    def to_response(self) -> JsonResponse:
        """Render as an RFC 6749 §5.2 JSON error response (GEN-02, GEN-03, GEN-05)."""
        response = JsonResponse(self.as_dict(), status=self.status)
        for name, value in {**NO_STORE_HEADERS, **self.headers}.items():
            response[name] = value
        return response


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


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503


def basic_challenge() -> str:
    realm = oauth_cc_settings.REALM.replace("\\", "\\\\").replace('"', '\\"')
    return f'Basic realm="{realm}", charset="UTF-8"'


# --- resource-server errors (RFC 6750 §3) ---------------------------------------------------

def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class BearerError(Exception):
    """A protected-resource failure, rendered as an RFC 6750 §3 challenge.

    ``error`` is None when the request carried no credentials at all: the challenge then has
    no error details (BEARER-08).
    """

    error: ClassVar[str | None] = None
    status_code: ClassVar[int] = 401

    def __init__(self, description: str | None = None, *, scope: str | None = None) -> None:
        if description is not None and not _ERROR_TEXT.fullmatch(description):
            raise ValueError("error_description has characters RFC 6750 §3 forbids")
        super().__init__(description or self.error or "no credentials")
        self.description = description
        self.scope = scope

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value: ``Bearer realm="..."`` plus the error (BEARER-06)."""
        parts = [f'realm="{_quote(oauth_cc_settings.BEARER_REALM)}"']
        if self.error:
            parts.append(f'error="{self.error}"')
            if self.description:
                parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)

    def as_dict(self) -> dict[str, str]:
        if not self.error:
            return {"detail": "Authentication credentials were not provided."}
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        if self.scope:
            body["scope"] = self.scope
        return body

    def to_response(self) -> JsonResponse:
        response = JsonResponse(self.as_dict(), status=self.status_code)
        response["WWW-Authenticate"] = self.challenge()
        response["Cache-Control"] = "no-store"
        return response


class NoCredentials(BearerError):
    """No access token in the request (RFC 6750 §3.1: no error code)."""


class BearerInvalidRequest(BearerError):
    """Malformed request, or a token sent by more than one method (BEARER-04, BEARER-09)."""

    error = "invalid_request"
    status_code = 400


class InvalidToken(BearerError):
    """Expired, revoked, malformed or otherwise invalid token (BEARER-09, RSV-01..06)."""

    error = "invalid_token"
    status_code = 401


class InsufficientScope(BearerError):
    """The token lacks the scope the resource requires (BEARER-09, RSV-07)."""

    error = "insufficient_scope"
    status_code = 403
