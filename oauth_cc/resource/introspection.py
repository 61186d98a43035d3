"""Remote introspection mode: a resource server in another project asks the authorization
server about each token (RFC 7662), so that it accepts opaque tokens and refuses revoked ones.

Configured with ``INTROSPECTION_ENDPOINT`` and the resource server's own client credentials
(``INTROSPECTION_CLIENT_ID``, ``INTROSPECTION_CLIENT_SECRET``: a client registered with
"can introspect"). A JWT is still verified locally (signature, issuer, audience, times); the
introspection answer then says whether it is still active. An opaque token's claims come from
the answer itself.

Answers are remembered by the token's SHA-256 for ``INTROSPECTION_CACHE_SECONDS`` and never
past the token's ``exp``: a revocation reaches this resource server within that time, and a
token presented again costs no request to the authorization server meanwhile. When the
authorization server cannot be reached, the token cannot be verified (fail closed; nothing
is remembered), and the failure is logged without the token.

``aintrospect`` is ``introspect`` for a coroutine: a remembered answer is read inline, and the
request to the authorization server runs in a thread, one per token and event loop at a time.
"""

from __future__ import annotations

import base64
import logging
import urllib.request
from typing import Any
from urllib.parse import quote_plus, urlencode

from asgiref.sync import sync_to_async
from django.views.decorators.debug import sensitive_variables

from .. import caches
from ..settings import oauth_cc_settings
from .key_sources import SingleFlight, fetch_json, jwks_uri_allowed
from .stores import StoreUnavailable

logger = logging.getLogger("oauth_cc.validation")

MAX_RESPONSE_BYTES = 100_000
#: An upper bound on INTROSPECTION_CACHE_SECONDS, whatever the setting says.
MAX_CACHE_SECONDS = 300.0
_INACTIVE: dict[str, Any] = {"active": False}

#: Introspection answers by the token's SHA-256, until min(now + cache time, exp).
answers: caches.ExpiringLRU[bytes, dict[str, Any]] = caches.register(
    "introspection", caches.ExpiringLRU())


def enabled() -> bool:
    return bool(oauth_cc_settings.INTROSPECTION_ENDPOINT)


def _cache_seconds() -> float:
    return max(0.0, min(float(oauth_cc_settings.INTROSPECTION_CACHE_SECONDS),
                        MAX_CACHE_SECONDS))


@sensitive_variables()
def introspect(raw: str, digest: bytes, now: float) -> dict[str, Any]:
    """The introspection answer for ``raw``: its claims with ``active: true``, or
    ``{"active": false}``. Raises ``StoreUnavailable`` when there is no answer."""
    known = answers.get(digest, now)
    if known is not None:
        return known
    return _remember(digest, _ask(raw), now)


_questions = SingleFlight()


@sensitive_variables()
async def aintrospect(raw: str, digest: bytes, now: float) -> dict[str, Any]:
    """``introspect`` without blocking the event loop."""
    known = answers.get(digest, now)
    if known is not None:
        return known
    ask = sync_to_async(_ask, thread_sensitive=False)  # an HTTP request, no database
    return _remember(digest, await _questions.run(digest, lambda: ask(raw)), now)


def _remember(digest: bytes, answer: dict[str, Any], now: float) -> dict[str, Any]:
    until = now + _cache_seconds()
    exp = answer.get("exp")
    if answer.get("active") is True and isinstance(exp, int | float):
        until = min(until, float(exp))
    else:
        answer = _INACTIVE
    if until > now:
        answers.put(digest, answer, until, int(oauth_cc_settings.VERIFIED_TOKEN_CACHE_SIZE))
    return answer


@sensitive_variables()
def _ask(raw: str) -> dict[str, Any]:
    uri = str(oauth_cc_settings.INTROSPECTION_ENDPOINT)
    if not jwks_uri_allowed(uri):
        logger.error("OAUTH_CC['INTROSPECTION_ENDPOINT'] must be an https URL")
        raise StoreUnavailable("INTROSPECTION_ENDPOINT is not allowed")
    client_id = str(oauth_cc_settings.INTROSPECTION_CLIENT_ID or "")
    secret = str(oauth_cc_settings.INTROSPECTION_CLIENT_SECRET or "")
    # RFC 6749 §2.3.1: form-urlencode id and secret, then join and base64.
    basic = base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        uri, data=urlencode({"token": raw}).encode("ascii"), method="POST",
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json",
                 "Content-Type": "application/x-www-form-urlencoded"})
    try:
        answer = fetch_json(request, timeout=float(oauth_cc_settings.INTROSPECTION_TIMEOUT),
                            max_bytes=MAX_RESPONSE_BYTES)
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise ValueError("not an introspection response")
    except Exception as exc:  # network, HTTP status, parsing: no answer
        logger.warning("cannot introspect a token at %s: %s", uri, type(exc).__name__)
        raise StoreUnavailable(type(exc).__name__) from None
    return answer
