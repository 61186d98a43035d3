"""Finding the access token in a request (RFC 6750 §2).

The Authorization header (``Bearer`` scheme, case-insensitive, b64token syntax) is the method
we accept. A form-encoded body parameter is accepted only when ``ACCEPT_FORM_BODY_TOKEN`` is on.
A token in the query string is never accepted: alone it counts as no credentials (BEARER-03
DEC); next to another token it makes the request ambiguous, which is ``invalid_request``
(BEARER-04), as is any header that is not exactly ``Bearer <b64token>``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.http.request import RawPostDataException
from django.views.decorators.debug import sensitive_variables

from ..errors import InvalidToken, ResourceInvalidRequest
from ..settings import oauth_cc_settings

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_SCHEME = re.compile(r"(\S*)(\s*)(.*)", re.DOTALL)
_FORM = "application/x-www-form-urlencoded"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Bodies larger than this are not searched for an ``access_token`` parameter.
_MAX_FORM_BODY = 65536
PARAMETER = "access_token"


@sensitive_variables()
def _from_header(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    match = _SCHEME.match(header)
    assert match is not None  # every group may be empty: the pattern matches any string
    scheme, separator, rest = match.groups()
    if scheme.lower() != "bearer":
        return None  # another scheme (Basic, ...): not our credentials (BEARER-08)
    if separator.strip(" "):  # RFC 6750 §2.1: 1*SP, not a tab or another space character
        raise ResourceInvalidRequest("The Authorization header is malformed.")
    token = rest
    if not token:
        raise ResourceInvalidRequest("The Bearer credentials are missing.")
    if len(token) > int(oauth_cc_settings.MAX_ACCESS_TOKEN_LENGTH):
        raise InvalidToken("The access token is too long.")
    if not B64TOKEN.fullmatch(token):
        # Also two Authorization headers joined by the server ("Bearer a, Bearer b").
        raise ResourceInvalidRequest("The Authorization header is malformed.")
    return token


@sensitive_variables()
def _from_body(request: HttpRequest) -> list[str]:
    if request.method not in _BODY_METHODS or request.content_type != _FORM:
        return []
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return []
    if not 0 < length <= _MAX_FORM_BODY:
        return []
    try:
        # request.body caches the raw bytes, so the view can still parse the body later.
        body = request.body.decode("ascii")
    except (UnicodeDecodeError, RawPostDataException, RequestDataTooBig):
        return []  # non-ASCII (RFC 6750 §2.2 wants ASCII) or an unreadable body: no token
    return [value for name, value in parse_qsl(body, keep_blank_values=True)
            if name == PARAMETER]


@sensitive_variables()
def extract(request: HttpRequest) -> str | None:
    """The access token of ``request``, or None when it carries none (RFC 6750 §2).

    Raises ``ResourceInvalidRequest`` for a malformed header or a token sent more than once or
    by more than one method, ``InvalidToken`` for an oversized one.
    """
    header_token = _from_header(request)
    query_tokens = request.GET.getlist(PARAMETER)
    body_tokens = _from_body(request)
    sent = (header_token is not None) + bool(query_tokens) + bool(body_tokens)
    if sent > 1 or len(query_tokens) > 1 or len(body_tokens) > 1:
        raise ResourceInvalidRequest("The access token was sent more than once.")
    if header_token is not None:
        return header_token
    if body_tokens:
        # Keep the token out of Django's error reports if the view reads request.POST.
        request.sensitive_post_parameters = [PARAMETER]  # type: ignore[attr-defined]
    if body_tokens and oauth_cc_settings.ACCEPT_FORM_BODY_TOKEN:
        token = body_tokens[0]
        if not token or not B64TOKEN.fullmatch(token):
            raise ResourceInvalidRequest("The access_token parameter is malformed.")
        if len(token) > int(oauth_cc_settings.MAX_ACCESS_TOKEN_LENGTH):
            raise InvalidToken("The access token is too long.")
        return token
    return None
