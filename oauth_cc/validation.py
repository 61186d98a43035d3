"""Validating RFC 9068 JWT access tokens at a resource server (RSV items).

``verify(raw)`` returns an ``AccessToken`` or raises ``InvalidToken``. Verification keys come
from a ``KeySource``: in local mode the authorization server's own published keys (read from
the database at most every ``KEY_CACHE_SECONDS``), in remote mode the JWKS at ``JWKS_URI``
(fetched with a timeout, cached, refetched at most every ``REMOTE_JWKS_MIN_REFRESH_SECONDS``
when an unknown ``kid`` arrives). Either way a validation does no database query once warm,
and parses no key per request.

This module does not import the authorization server's models at import time, so a project
that only protects APIs (remote mode) can use it without installing oauth_cc's tables.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import jwt

from . import clock
from .errors import InvalidToken
from .settings import oauth_cc_settings, on_reload

logger = logging.getLogger("oauth_cc.validation")

#: RFC 9068 §4 / RSV-01: accepted ``typ`` values, compared case-insensitively (X-09).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: Never accepted, whatever the settings say (RSV-05).
FORBIDDEN_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})
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
    def exp(self) -> int:
        return int(self.claims["exp"])

    def has_scopes(self, *required: str) -> bool:
        return set(required) <= self.scopes


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    algorithm: str
    key: Any


class KeySourceUnavailable(Exception):
    """The keys cannot be loaded (database or JWKS endpoint unreachable)."""


class KeySource:
    """Verification keys by ``kid``, cached; reloaded after ``ttl`` seconds, or early when an
    unknown ``kid`` arrives but never more often than every ``min_refresh`` seconds (RSV-09).
    """

    def __init__(self, loader: Callable[[dict[str, VerificationKey]],
                                        dict[str, VerificationKey]],
                 ttl: Callable[[], float], min_refresh: Callable[[], float]) -> None:
        self._loader = loader
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._keys: dict[str, VerificationKey] | None = None
        self._expires = 0.0
        self._last_load = float("-inf")
        self._lock = threading.Lock()

    def get(self, kid: str) -> VerificationKey | None:
        now = clock.timestamp()
        keys = self._keys
        if keys is None and now - self._last_load < self._min_refresh():
            # The last load failed and no keys were ever loaded: do not retry on every
            # request, at most every min_refresh seconds.
            raise KeySourceUnavailable("keys not loaded; retrying later")
        if keys is None or now >= self._expires:
            keys = self._load(now, force=keys is None)
        found = keys.get(kid)
        if found is None and now - self._last_load >= self._min_refresh():
            found = self._load(now, force=False).get(kid)
        return found

    def _load(self, now: float, *, force: bool) -> dict[str, VerificationKey]:
        with self._lock:
            if not force and self._keys is not None and now - self._last_load < min(
                    self._min_refresh(), self._ttl()) and now < self._expires:
                return self._keys  # another thread just reloaded
            previous = self._keys or {}
            self._last_load = now
            try:
                self._keys = self._loader(previous)
            except KeySourceUnavailable:
                if self._keys is None:
                    raise
                # Keep serving the keys we have; try again after min_refresh.
                self._expires = now + self._min_refresh()
                return self._keys
            self._expires = now + self._ttl()
            return self._keys

    def clear(self) -> None:
        with self._lock:
            self._keys = None
            self._expires = 0.0
            self._last_load = float("-inf")


def _parse_jwk(jwk: Mapping[str, Any], previous: dict[str, VerificationKey]
               ) -> VerificationKey | None:
    """A usable signing key from a JWK, or None to skip it (JWKS-06)."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    algorithm = jwk.get("alg")
    if algorithm not in accepted_algorithms():
        return None
    known = previous.get(kid)
    if known is not None and known.algorithm == algorithm:
        return known  # parsed before: keys are immutable per kid
    try:
        parsed = jwt.PyJWK(dict(jwk), algorithm=algorithm)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        logger.warning("skipping an unusable key in the JWKS (kid=%.64s)", kid)
        return None
    if parsed.key_type == "oct":
        return None  # never a symmetric key (RSV-05)
    return VerificationKey(kid, algorithm, parsed.key)


def _load_local(previous: dict[str, VerificationKey]) -> dict[str, VerificationKey]:
    from .keys import published_keys  # the authorization server lives in this project

    try:
        rows = published_keys()
    except Exception as exc:  # a database error must not become a 500 on an API call
        raise KeySourceUnavailable(type(exc).__name__) from exc
    keys = {}
    for row in rows:
        parsed = _parse_jwk(row.public_jwk, previous)
        if parsed is not None:
            keys[parsed.kid] = parsed
    return keys


def _load_remote(previous: dict[str, VerificationKey]) -> dict[str, VerificationKey]:
    uri = str(oauth_cc_settings.JWKS_URI)
    if not uri.startswith(("https://", "http://")):  # never file: or another scheme
        logger.error("OAUTH_CC['JWKS_URI'] must be an https URL")
        raise KeySourceUnavailable("JWKS_URI is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        uri, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(  # noqa: S310 (an operator-configured URL)
            request, timeout=float(oauth_cc_settings.REMOTE_JWKS_TIMEOUT)
        ) as response:
            document = json.loads(response.read(1_000_001))
    except (OSError, ValueError) as exc:
        logger.warning("cannot fetch the JWKS from %s: %s", uri, type(exc).__name__)
        raise KeySourceUnavailable(type(exc).__name__) from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        logger.warning("the document at %s is not a JWK Set", uri)
        raise KeySourceUnavailable("not a JWK Set")
    keys = {}
    for jwk in document["keys"]:
        if isinstance(jwk, dict):
            parsed = _parse_jwk(jwk, previous)
            if parsed is not None:
                keys[parsed.kid] = parsed
    return keys


def _local_ttl() -> float:
    return float(oauth_cc_settings.KEY_CACHE_SECONDS)


def _local_min_refresh() -> float:
    return min(5.0, _local_ttl())


_local_keys = KeySource(_load_local, _local_ttl, _local_min_refresh)
_remote_keys = KeySource(
    _load_remote,
    lambda: float(oauth_cc_settings.REMOTE_JWKS_CACHE_SECONDS),
    lambda: float(oauth_cc_settings.REMOTE_JWKS_MIN_REFRESH_SECONDS),
)


def key_source() -> KeySource:
    return _remote_keys if oauth_cc_settings.JWKS_URI else _local_keys


def accepted_algorithms() -> frozenset[str]:
    return oauth_cc_settings.derived(
        "accepted_algorithms",
        lambda: frozenset(oauth_cc_settings.ACCEPTED_ALGORITHMS) - FORBIDDEN_ALGORITHMS,
    )


def expected_issuer() -> str:
    return oauth_cc_settings.TRUSTED_ISSUER or oauth_cc_settings.ISSUER


def expected_audience() -> str:
    return oauth_cc_settings.RESOURCE_AUDIENCE or oauth_cc_settings.DEFAULT_AUDIENCE


# --- the verified-token cache ---------------------------------------------------------------

class _VerifiedTokens:
    """Bounded LRU of verified tokens keyed by SHA-256 of the token; entries end at ``exp``."""

    def __init__(self) -> None:
        self._entries: OrderedDict[bytes, AccessToken] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: bytes, now: float) -> AccessToken | None:
        with self._lock:
            token = self._entries.get(digest)
            if token is None:
                return None
            if now >= token.exp:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return token

    def put(self, digest: bytes, token: AccessToken, size: int) -> None:
        with self._lock:
            self._entries[digest] = token
            self._entries.move_to_end(digest)
            while len(self._entries) > size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_verified = _VerifiedTokens()


@on_reload
def clear_caches() -> None:
    """Forget cached keys and verified tokens (settings change, key removal, tests)."""
    _local_keys.clear()
    _remote_keys.clear()
    _verified.clear()


# --- verification ---------------------------------------------------------------------------

def verify(raw: str) -> AccessToken:
    """Verify ``raw`` as an RFC 9068 access token for this resource server (RSV-01..07).

    Raises ``InvalidToken`` with a short fixed description on any failure.
    """
    now = clock.timestamp()
    size = int(oauth_cc_settings.VERIFIED_TOKEN_CACHE_SIZE)
    digest = hashlib.sha256(raw.encode("ascii", "replace")).digest() if size > 0 else b""
    if size > 0:
        cached = _verified.get(digest, now)
        # A cached token is still refused once its key is no longer published.
        if cached is not None and key_source().get(cached.kid) is not None:
            return cached
    token = _verify_uncached(raw, now)
    if size > 0:
        _verified.put(digest, token, size)
    return token


def _verify_uncached(raw: str, now: float) -> AccessToken:
    # Three segments of unpadded base64url (RFC 7515 §2): not a JWE, and no padded copies of
    # a token that would verify as the same token under another string.
    if raw.count(".") != 2 or "=" in raw:
        raise InvalidToken("The access token is malformed.")
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.InvalidTokenError:  # malformed, non-string kid, unsupported crit...
        raise InvalidToken("The access token is malformed.") from None
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        raise InvalidToken("The token is not a JWT access token.")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in accepted_algorithms():
        raise InvalidToken("The token's algorithm is not accepted.")
    if "crit" in header:
        raise InvalidToken("The token uses a critical extension this server does not know.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("The token names no key.")
    issuer, audience = expected_issuer(), expected_audience()
    if not issuer or not audience:  # fail closed: PyJWT would skip a check given None
        logger.error("set OAUTH_CC['TRUSTED_ISSUER'] and OAUTH_CC['RESOURCE_AUDIENCE'] (or "
                     "ISSUER and DEFAULT_AUDIENCE): no token can be accepted without them")
        raise InvalidToken("The token cannot be verified right now.")
    try:
        key = key_source().get(kid)
    except KeySourceUnavailable:
        raise InvalidToken("The token cannot be verified right now.") from None
    if key is None:
        raise InvalidToken("The token's signing key is unknown.")
    if key.algorithm != algorithm:
        raise InvalidToken("The token's algorithm does not match its key.")
    try:
        claims = jwt.decode(
            raw,
            key=key.key,
            algorithms=[key.algorithm],
            audience=audience,
            issuer=issuer,
            # Times are checked below against oauth_cc.clock, the project's one clock.
            options={"require": REQUIRED_CLAIMS, "verify_signature": True,
                     "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidAudienceError:
        raise InvalidToken("The access token is not meant for this resource.") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("The access token comes from an untrusted issuer.") from None
    except jwt.MissingRequiredClaimError:
        raise InvalidToken("The access token lacks a required claim.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The access token is invalid.") from None
    _check_times(claims, now)
    return _access_token(claims, kid)


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # RFC 7519 §2 NumericDate: a JSON number (not a string, not a boolean), within reason.
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value < 1e11):
        raise InvalidToken("The access token has a malformed claim.")
    return float(value)


def _check_times(claims: dict[str, Any], now: float) -> None:
    """RSV-06: now < exp, now >= nbf, iat not in the future, each with CLOCK_LEEWAY."""
    leeway = float(oauth_cc_settings.CLOCK_LEEWAY)
    exp = _numeric_date(claims, "exp")
    nbf = _numeric_date(claims, "nbf")
    iat = _numeric_date(claims, "iat")
    if exp is None or now >= exp + leeway:
        raise InvalidToken("The access token has expired.")
    if nbf is not None and now < nbf - leeway:
        raise InvalidToken("The access token is not valid yet.")
    if iat is not None and iat > now + leeway:
        raise InvalidToken("The access token was issued in the future.")


def _access_token(claims: dict[str, Any], kid: str) -> AccessToken:
    client_id, scope, aud = claims.get("client_id"), claims.get("scope", ""), claims["aud"]
    jti, sub = claims.get("jti"), claims.get("sub")
    if not all(isinstance(v, str) and v for v in (client_id, jti, sub)):
        raise InvalidToken("The access token has a malformed claim.")
    if not isinstance(scope, str):
        raise InvalidToken("The access token has a malformed claim.")
    audience = (aud,) if isinstance(aud, str) else tuple(aud)
    exp = claims["exp"]
    return AccessToken(
        client_id=client_id,
        scopes=frozenset(scope.split()),
        audience=audience,
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
        jti=jti,
        issuer=claims["iss"],
        subject=sub,
        kid=kid,
        claims=MappingProxyType(claims),
    )
