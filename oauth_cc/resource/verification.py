"""Verifying access tokens at a resource server (RFC 9068 §4; RSV items).

``verify(raw)`` returns an ``AccessToken`` or raises ``InvalidToken``; nothing else escapes
it. It checks what every token type shares: the JWT's form, header, signature, issuer,
audience and times (or, in local mode, an opaque token's row), and, in local mode, the
revocation list. A token type (``token_types``) adds its own per-request check on top, which
this module's caches never skip.

Keys come from ``key_sources`` (local database or remote JWKS, cached). Once the keys are
cached a validation makes no database query and parses no key; a token seen before is found
in a bounded cache keyed by its SHA-256 and is not verified again until its ``exp``.

Local mode reaches this project's tables only through a ``LocalStore`` that
``oauth_cc.resource.local`` installs when the app is installed, so a project that only
protects APIs (remote mode) can use this module without oauth_cc's tables.

``averify(raw)`` is ``verify`` for code on an event loop: the same checks, caches and
answers. What costs only CPU stays inline (the token caches, parsing, the signature check
with keys in memory, the claims); what may wait on the database or the network (loading
keys, the revocation set, an opaque token's row, an introspection request) runs off the
loop, one load per event loop for any number of waiting requests.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jwt
from asgiref.sync import sync_to_async
from django.views.decorators.debug import sensitive_variables

from .. import caches, clock
from ..errors import InvalidToken
from ..jose import ACCESS_TOKEN_TYPES, accepted_algorithms
from ..settings import oauth_cc_settings
from . import introspection
from .key_sources import Keys, KeysNeeded, key_source
from .stores import LocalStore, RevocationSnapshot, StoreUnavailable, local_store

if TYPE_CHECKING:
    from jwt.types import Options

logger = logging.getLogger("oauth_cc.validation")

#: RSV-06 REC: every JWT-03 claim is required.
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A verified access token: what ``request.auth`` holds on a protected request."""

    client_id: str
    scopes: frozenset[str]
    audience: tuple[str, ...]
    expires_at: datetime
    jti: str
    issuer: str
    subject: str
    kid: str
    claims: Mapping[str, Any] = field(repr=False)

    @property
    def exp(self) -> float:
        return float(self.claims["exp"])

    def has_scopes(self, *required: str) -> bool:
        return set(required) <= self.scopes


def expected_issuer() -> str | None:
    issuer: str | None = oauth_cc_settings.TRUSTED_ISSUER or oauth_cc_settings.ISSUER
    return issuer


def expected_audience() -> str | None:
    audience: str | None = (oauth_cc_settings.RESOURCE_AUDIENCE
                            or oauth_cc_settings.DEFAULT_AUDIENCE)
    return audience


# --- the verified-token and rejected-token caches -------------------------------------------

#: Verified tokens, until their ``exp``: a token seen again is not verified again.
verified_tokens: caches.ExpiringLRU[bytes, AccessToken] = caches.register(
    "verified_tokens", caches.ExpiringLRU())

#: How long a token that failed for good is answered from memory.
REJECTED_SECONDS = 60.0
REJECTED_SIZE = 1024

#: Descriptions of tokens refused for good, for ``REJECTED_SECONDS``: a client retrying a
#: bad token does not cost a signature check each time.
rejected_tokens: caches.ExpiringLRU[bytes, str] = caches.register(
    "rejected_tokens", caches.ExpiringLRU())


def _final(description: str) -> InvalidToken:
    """An ``InvalidToken`` that the same token string will always get (bad signature, wrong
    issuer, expired...), unlike one that depends on keys not yet fetched or on time."""
    error = InvalidToken(description)
    error.permanent = True  # type: ignore[attr-defined]
    return error


def forget_verified_tokens() -> None:
    """Forget every verified and rejected token in this process: the next presentation of
    any token is verified in full."""
    caches.clear("verified_tokens", "rejected_tokens")


# --- verification ---------------------------------------------------------------------------

@sensitive_variables()
def verify(raw: str) -> AccessToken:
    """Verify ``raw`` as an access token for this resource server (RSV-01..07, REV-06).

    Accepts JWTs, and in local mode also opaque tokens; in local mode revoked tokens are
    refused. Raises ``InvalidToken`` with a short fixed description on any failure; an
    unexpected error is logged (without the token) and also answered with ``InvalidToken``.
    A token type's own per-request check (``TokenType.confirm``) comes after this.
    """
    now = clock.timestamp()
    size = int(oauth_cc_settings.VERIFIED_TOKEN_CACHE_SIZE)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()
    try:
        store = None if oauth_cc_settings.JWKS_URI else local_store()
        revoked = (store.revocations(now)
                   if store is not None and oauth_cc_settings.CHECK_REVOCATION else None)
        remote = introspection.enabled()
        token = verified_tokens.get(digest, now) if size > 0 else None
        # A cached token is refused once its key is no longer published.
        if token is not None and token.kid and key_source().get(token.kid) is None:
            token = None
        if token is None:
            known_bad = rejected_tokens.get(digest, now)
            if known_bad is not None:
                raise InvalidToken(known_bad)
            if is_opaque(raw):
                if remote:
                    token = _verify_introspected(raw, digest, now)
                elif oauth_cc_settings.JWKS_URI:
                    raise InvalidToken("Opaque tokens cannot be verified by this resource "
                                       "server.")
                else:
                    token = _verify_opaque(store, digest.hex(), now)
            else:
                token = _verify_uncached(raw, now)
            if size > 0:
                verified_tokens.put(digest, token, token.exp, size)
        if revoked is not None and revoked.revoked(token.jti):
            raise InvalidToken("The access token has been revoked.")
        if remote and not introspection.introspect(raw, digest, now)["active"]:
            raise InvalidToken("The access token is not active.")
    except InvalidToken as error:
        if getattr(error, "permanent", False):
            rejected_tokens.put(digest, error.description or "", now + REJECTED_SECONDS,
                          REJECTED_SIZE)
        raise
    except StoreUnavailable:
        raise InvalidToken("The token cannot be verified right now.") from None
    except Exception as exc:  # fail closed, and keep the token out of any error report
        logger.error("unexpected error while validating an access token: %s",
                     type(exc).__name__)
        raise InvalidToken("The access token is invalid.") from None
    return token


@sensitive_variables()
async def averify(raw: str) -> AccessToken:
    """``verify`` for a coroutine (an async view, an ASGI application): the same checks,
    caches, errors and failures, with no database or network call on the event loop."""
    now = clock.timestamp()
    size = int(oauth_cc_settings.VERIFIED_TOKEN_CACHE_SIZE)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()
    try:
        store = None if oauth_cc_settings.JWKS_URI else local_store()
        revoked = (await _arevocations(store, now)
                   if store is not None and oauth_cc_settings.CHECK_REVOCATION else None)
        remote = introspection.enabled()
        token = verified_tokens.get(digest, now) if size > 0 else None
        # A cached token is refused once its key is no longer published.
        if token is not None and token.kid and await key_source().aget(token.kid) is None:
            token = None
        if token is None:
            known_bad = rejected_tokens.get(digest, now)
            if known_bad is not None:
                raise InvalidToken(known_bad)
            if is_opaque(raw):
                if remote:
                    token = await _averify_introspected(raw, digest, now)
                elif oauth_cc_settings.JWKS_URI:
                    raise InvalidToken("Opaque tokens cannot be verified by this resource "
                                       "server.")
                else:
                    token = await _averify_opaque(store, digest.hex(), now)
            else:
                token = await _averify_uncached(raw, now)
            if size > 0:
                verified_tokens.put(digest, token, token.exp, size)
        if revoked is not None and await _arevoked(revoked, token.jti):
            raise InvalidToken("The access token has been revoked.")
        if remote and not (await introspection.aintrospect(raw, digest, now))["active"]:
            raise InvalidToken("The access token is not active.")
    except InvalidToken as error:
        if getattr(error, "permanent", False):
            rejected_tokens.put(digest, error.description or "", now + REJECTED_SECONDS,
                                REJECTED_SIZE)
        raise
    except StoreUnavailable:
        raise InvalidToken("The token cannot be verified right now.") from None
    except Exception as exc:  # fail closed, and keep the token out of any error report
        logger.error("unexpected error while validating an access token: %s",
                     type(exc).__name__)
        raise InvalidToken("The access token is invalid.") from None
    return token


async def _arevocations(store: LocalStore, now: float) -> RevocationSnapshot:
    """The store's revocation set: by its own async method (``DatabaseStore``), else by
    ``revocations`` in a thread (a store that only has the sync protocol)."""
    native = getattr(store, "arevocations", None)
    if native is not None:
        snapshot: RevocationSnapshot = await native(now)
        return snapshot
    return await sync_to_async(store.revocations, thread_sensitive=True)(now)


async def _arevoked(snapshot: RevocationSnapshot, jti: str) -> bool:
    native = getattr(snapshot, "arevoked", None)
    if native is not None:
        return bool(await native(jti))
    return await sync_to_async(snapshot.revoked, thread_sensitive=True)(jti)


@sensitive_variables()
async def _averify_introspected(raw: str, digest: bytes, now: float) -> AccessToken:
    answer = await introspection.aintrospect(raw, digest, now)
    if not answer["active"]:
        raise InvalidToken("The access token is not active.")
    return _from_claims(dict(answer), now)


async def _averify_opaque(store: LocalStore | None, hex_digest: str, now: float
                          ) -> AccessToken:
    """``_verify_opaque``, with the row read in a thread."""
    if store is None:
        raise InvalidToken("The token cannot be verified right now.")
    native = getattr(store, "aopaque_claims", None)
    claims: dict[str, Any] | None = (
        await native(hex_digest) if native is not None
        else await sync_to_async(store.opaque_claims, thread_sensitive=True)(hex_digest))
    return _opaque_token(claims, now)


@sensitive_variables()
async def _averify_uncached(raw: str, now: float) -> AccessToken:
    """``_verify_uncached`` on the loop: ``decode`` runs inline against the keys in memory;
    where the sync path would load keys (none yet, stale, an unknown ``kid``), the load runs
    off the loop and ``decode`` runs again, answering from memory this time."""
    issuer, audience = expected_issuer(), expected_audience()
    if not issuer or not audience:  # fail closed: PyJWT would skip a check given None
        logger.error("set OAUTH_CC['TRUSTED_ISSUER'] and OAUTH_CC['RESOURCE_AUDIENCE'] (or "
                     "ISSUER and DEFAULT_AUDIENCE): no token can be accepted without them")
        raise InvalidToken("The token cannot be verified right now.")
    source = key_source()
    try:
        claims, kid = decode(raw, source=source.without_loading(), issuer=issuer,
                             audience=audience)
    except KeysNeeded as needed:
        await source.aget(needed.kid)
        claims, kid = decode(raw, source=source.without_loading(strict=False),
                             issuer=issuer, audience=audience)
    check_times(claims, now)
    return _access_token(claims, kid)


def is_opaque(raw: str) -> bool:
    return "." not in raw and raw.startswith(oauth_cc_settings.OPAQUE_TOKEN_PREFIX)


@sensitive_variables()
def _verify_introspected(raw: str, digest: bytes, now: float) -> AccessToken:
    """An opaque token, by the authorization server's introspection answer."""
    answer = introspection.introspect(raw, digest, now)
    if not answer["active"]:
        raise InvalidToken("The access token is not active.")
    return _from_claims(dict(answer), now)


def _from_claims(claims: dict[str, Any], now: float) -> AccessToken:
    """An opaque token's claims (from its row or an introspection answer), checked as a
    JWT's would be: issuer, audience, expiry."""
    if claims.get("iss") != expected_issuer():
        raise _final("The access token comes from an untrusted issuer.")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or now >= exp:
        raise _final("The access token has expired.")
    audience = expected_audience()
    aud = claims.get("aud")
    if not audience or audience not in ((aud,) if isinstance(aud, str) else aud or ()):
        raise _final("The access token is not meant for this resource.")
    return _access_token(claims, kid="")


def _verify_opaque(store: LocalStore | None, hex_digest: str, now: float) -> AccessToken:
    """One indexed lookup of the token's SHA-256 (local mode only)."""
    if store is None:
        raise InvalidToken("The token cannot be verified right now.")
    return _opaque_token(store.opaque_claims(hex_digest), now)


def _opaque_token(claims: dict[str, Any] | None, now: float) -> AccessToken:
    """The token an opaque token's row describes, if it is still good here."""
    if claims is None:
        raise _final("The access token is invalid.")
    if now >= claims["exp"]:
        raise _final("The access token has expired.")
    audience = expected_audience()
    aud = claims["aud"]
    if not audience or audience not in ((aud,) if isinstance(aud, str) else aud):
        raise _final("The access token is not meant for this resource.")
    return _access_token(claims, kid="")


@sensitive_variables()
def _verify_uncached(raw: str, now: float) -> AccessToken:
    issuer, audience = expected_issuer(), expected_audience()
    if not issuer or not audience:  # fail closed: PyJWT would skip a check given None
        logger.error("set OAUTH_CC['TRUSTED_ISSUER'] and OAUTH_CC['RESOURCE_AUDIENCE'] (or "
                     "ISSUER and DEFAULT_AUDIENCE): no token can be accepted without them")
        raise InvalidToken("The token cannot be verified right now.")
    claims, kid = decode(raw, source=key_source(), issuer=issuer, audience=audience)
    check_times(claims, now)
    return _access_token(claims, kid)


@sensitive_variables()
def decode(raw: str, *, source: Keys, issuer: str, audience: str | None
           ) -> tuple[dict[str, Any], str]:
    """Check a JWT's form, header, signature, ``iss`` and (unless None) ``aud``; return its
    claims and kid. Times are left to the caller. Raises ``InvalidToken``."""
    # Three segments of unpadded, canonical base64url (RFC 7515 §2, RFC 4648 §3.5): not a
    # JWE, and no other string (padding, the standard alphabet, stray low bits in the last
    # character) that some decoders read as the same bytes, so one token is one string.
    if not _COMPACT.fullmatch(raw) or not all(_canonical(part) for part in raw.split(".")):
        raise _final("The access token is malformed.")
    sole = source.sole_key()
    if sole is not None:
        # With one published key (no rotation under way), try it first: PyJWT then parses
        # the token once instead of twice. The header is still checked in full below; any
        # failure falls through to the general path, which names the real reason.
        try:
            complete = jwt.decode_complete(
                raw, key=sole.key, algorithms=[sole.algorithm], audience=audience,
                issuer=issuer, options=_decode_options(audience))
        except (jwt.InvalidTokenError, RecursionError):
            pass
        else:
            header = complete["header"]
            if header.get("kid") == sole.kid:
                _check_header(header)
                return complete["payload"], sole.kid
    try:
        header = jwt.get_unverified_header(raw)
    except (jwt.InvalidTokenError, RecursionError):  # malformed, absurdly nested, bad crit
        raise _final("The access token is malformed.") from None
    _check_header(header)
    kid, algorithm = header["kid"], header["alg"]
    key = source.get(kid)
    if key is None:
        raise InvalidToken("The token's signing key is unknown.")
    if key.algorithm != algorithm:
        raise InvalidToken("The token's algorithm does not match its key.")
    try:
        claims = jwt.decode(
            raw, key=key.key, algorithms=[key.algorithm], audience=audience, issuer=issuer,
            options=_decode_options(audience),
        )
    except jwt.InvalidAudienceError:
        raise _final("The access token is not meant for this resource.") from None
    except jwt.InvalidIssuerError:
        raise _final("The access token comes from an untrusted issuer.") from None
    except jwt.MissingRequiredClaimError:
        raise _final("The access token lacks a required claim.") from None
    except (jwt.InvalidTokenError, RecursionError):
        raise _final("The access token is invalid.") from None
    return claims, kid


_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
#: The characters that may end an unpadded base64url segment of length 2 and 3 (mod 4):
#: those whose unused low bits are zero.
_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def _canonical(segment: str) -> bool:
    rest = len(segment) % 4
    return rest == 0 or (rest != 1 and segment[-1] in _LAST[rest])


def _decode_options(audience: str | None) -> Options:
    # Times are checked against oauth_cc.clock, the project's one clock, not by PyJWT.
    return {"require": REQUIRED_CLAIMS, "verify_signature": True,
            "verify_aud": audience is not None,
            "verify_exp": False, "verify_nbf": False, "verify_iat": False}


def _check_header(header: dict[str, Any]) -> None:
    """RSV-01, RSV-05: typ, an accepted alg, no crit, a kid."""
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        raise _final("The token is not a JWT access token.")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in accepted_algorithms():
        raise _final("The token's algorithm is not accepted.")
    if "crit" in header:
        raise _final("The token uses a critical extension this server does not know.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _final("The token names no key.")


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # RFC 7519 §2 NumericDate: a JSON number (not a string, not a boolean), within reason.
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value < 1e11):
        raise _final("The access token has a malformed claim.")
    return float(value)


def check_times(claims: dict[str, Any], now: float) -> None:
    """RSV-06: now < exp, now >= nbf, iat not in the future, each with CLOCK_LEEWAY."""
    leeway = clock.leeway()
    exp = _numeric_date(claims, "exp")
    nbf = _numeric_date(claims, "nbf")
    iat = _numeric_date(claims, "iat")
    if exp is None or clock.expired(exp, now):
        raise _final("The access token has expired.")
    if nbf is not None and now < nbf - leeway:
        raise InvalidToken("The access token is not valid yet.")
    if iat is not None and iat > now + leeway:
        raise InvalidToken("The access token was issued in the future.")


def _frozen(value: Any) -> Any:
    """A read-only copy: dicts become mapping proxies, lists tuples (the cache shares it)."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def check_claims(claims: dict[str, Any]) -> None:
    """The claims' shapes (RFC 9068 §2.2, RFC 7519 §2): ``exp`` (required), ``nbf`` and
    ``iat`` are NumericDates; ``client_id``, ``jti`` and ``sub`` non-empty strings; ``scope``
    a string; ``aud`` a string or a list of strings. Raises ``InvalidToken``. Introspection
    applies the same test, so it never calls active a token the APIs refuse."""
    if _numeric_date(claims, "exp") is None:
        raise _final("The access token lacks a required claim.")
    _numeric_date(claims, "nbf")
    _numeric_date(claims, "iat")
    if not all(isinstance(claims.get(name), str) and claims[name]
               for name in ("client_id", "jti", "sub")):
        raise _final("The access token has a malformed claim.")
    aud = claims.get("aud")
    if not isinstance(claims.get("scope", ""), str) or not (
            isinstance(aud, str) or (isinstance(aud, list)
                                     and all(isinstance(a, str) for a in aud))):
        raise _final("The access token has a malformed claim.")


def _access_token(claims: dict[str, Any], kid: str) -> AccessToken:
    check_claims(claims)
    client_id, scope, aud = claims["client_id"], claims.get("scope", ""), claims["aud"]
    jti, sub = claims["jti"], claims["sub"]
    return AccessToken(
        client_id=client_id,
        scopes=frozenset(scope.split()),
        audience=(aud,) if isinstance(aud, str) else tuple(aud),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
        jti=jti,
        issuer=claims["iss"],
        subject=sub,
        kid=kid,
        claims=_frozen(claims),
    )
