"""Request helpers shared by the authorization-server endpoints.

The body of a token, introspection or revocation request is parsed here, strictly: the
content type must be ``application/x-www-form-urlencoded`` in UTF-8 (GEN-04), the body is
size-capped, and a repeated protocol parameter is refused (TOK-05). Django's ``request.POST``
is not used: it decodes leniently and would accept other content types.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from .. import network
from ..errors import InvalidRequest, PayloadTooLarge
from ..settings import oauth_cc_settings

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 100


class FormParameters:
    """Parameters of a form body. A parameter with an empty value counts as absent (TOK-03)."""

    def __init__(self, pairs: list[tuple[str, str]], *, repeatable: frozenset[str],
                 known: frozenset[str]) -> None:
        values: dict[str, list[str]] = {}
        for name, value in pairs:
            values.setdefault(name, []).append(value)
        for name, found in values.items():
            if len(found) > 1 and name in known and name not in repeatable:
                raise InvalidRequest("A request parameter is repeated.")
        self._values = {
            name: [v for v in found if v] for name, found in values.items()
        }

    def get(self, name: str) -> str | None:
        """The parameter's value, or None when absent or empty."""
        found = self._values.get(name)
        return found[0] if found else None

    def get_all(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def __contains__(self, name: str) -> bool:
        return bool(self._values.get(name))


def require_https(request: HttpRequest) -> None:
    """GEN-01: no token over plain HTTP, except while DEBUG is on (local development).

    Behind a TLS-terminating proxy, list it in ``TRUSTED_PROXIES`` (``network.is_secure``).
    """
    if not network.is_secure(request) and not settings.DEBUG:
        raise InvalidRequest("HTTPS is required.")


def parse_form(
    request: HttpRequest, *, known: frozenset[str], repeatable: frozenset[str] = frozenset()
) -> FormParameters:
    """Parse an ``application/x-www-form-urlencoded`` UTF-8 body (GEN-04, TOK-02..05)."""
    if request.content_type != FORM_CONTENT_TYPE:
        raise InvalidRequest("The body must be application/x-www-form-urlencoded.")
    # Django sets content_params (a dict) whenever it sets content_type.
    charset = cast("dict[str, str]", request.content_params).get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise InvalidRequest("The body must be encoded in UTF-8.")
    limit = int(oauth_cc_settings.MAX_REQUEST_BODY)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidRequest("The Content-Length header is malformed.") from None
    if length > limit:
        raise PayloadTooLarge("The request body is too large.")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise PayloadTooLarge("The request body is too large.") from None
    if len(raw) > limit:
        raise PayloadTooLarge("The request body is too large.")
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The body is not valid UTF-8 form data.") from None
    return FormParameters(pairs, repeatable=repeatable, known=known)
