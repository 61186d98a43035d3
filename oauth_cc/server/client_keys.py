"""A client's own public keys: its registered ``jwks`` or the JWK Set at its ``jwks_uri``
(RFC 7591 §2), for ``private_key_jwt`` (RFC 7523 §2.2, JWTCA-08) and, through
``certificates()``, ``self_signed_tls_client_auth`` (RFC 8705 §2.2).

- An inline ``jwks`` is parsed once per distinct value and kept in the ``client_jwks``
  cache, so a key seen before costs no parsing.
- A ``jwks_uri`` must be https (http only to a loopback address while ``DEBUG`` is on). It
  is fetched with ``resource.key_sources.fetch_json`` (no redirect followed, a timeout, a size
  cap), kept for ``CLIENT_JWKS_CACHE_SECONDS`` per client and process (the
  ``client_jwks_uri`` cache), and fetched again early for a ``kid`` it does not hold, at most
  every ``CLIENT_JWKS_MIN_REFRESH_SECONDS``: a flood of made-up ``kid``\\ s cannot make this
  server hammer the client's host. A failed fetch keeps the keys already held for that long;
  with none held, the keys are unavailable (``ClientKeysUnavailable``, logged), which the
  caller answers with ``invalid_client``.
- A JWK with private members is never used (nor is the whole set, when registered inline:
  ``check_registration`` refuses it); nor a symmetric key, a key for encryption, or a key
  whose algorithm (its ``alg``, else the one its type implies) is not allowed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import logging
import threading
import urllib.request
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .. import caches, clock
from ..resource.key_sources import fetch_json
from ..settings import oauth_cc_settings

if TYPE_CHECKING:
    from ..models import Client

logger = logging.getLogger("oauth_cc.client_auth")

#: Largest client JWK Set accepted from a jwks_uri, in bytes, and most keys used from one.
MAX_JWKS_BYTES = 100_000
MAX_KEYS = 32
#: Clients whose key sets one process remembers.
CACHE_SIZE = 2048

#: JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

#: The algorithm a JWK without ``alg`` is used with, by key type and curve: one per key
#: (RFC 8725 §3.1).
_IMPLIED_ALGORITHM: dict[tuple[str, str | None], str] = {
    ("RSA", None): "RS256", ("EC", "P-256"): "ES256", ("EC", "P-384"): "ES384",
    ("EC", "P-521"): "ES512", ("OKP", "Ed25519"): "EdDSA", ("OKP", "Ed448"): "EdDSA",
}


class ClientKeysUnavailable(Exception):
    """The client's jwks_uri could not be fetched or gave no usable key set."""


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One parsed public key of a client, with the one algorithm it verifies."""

    kid: str | None
    algorithm: str
    key: jwt.PyJWK


@dataclass(frozen=True, slots=True)
class KeySet:
    """A client's usable keys and the leaf certificates (DER) of their ``x5c``."""

    keys: tuple[ClientKey, ...]
    certificates: tuple[bytes, ...]

    def candidates(self, algorithm: str, kid: str | None) -> list[ClientKey]:
        """The keys that may have signed with ``algorithm``: the one named ``kid``, or with
        no ``kid`` every key of that algorithm."""
        return [key for key in self.keys if key.algorithm == algorithm
                and (kid is None or key.kid == kid)]

    def has_kid(self, kid: str) -> bool:
        return any(key.kid == kid for key in self.keys)


EMPTY = KeySet((), ())


# --- parsing --------------------------------------------------------------------------------

def has_private_members(jwk: Mapping[str, Any]) -> bool:
    return bool(PRIVATE_MEMBERS & set(jwk))


def jwk_algorithm(jwk: Mapping[str, Any]) -> str | None:
    """The one algorithm a JWK is used with: its ``alg``, else the one its type implies."""
    declared = jwk.get("alg")
    if declared is not None:
        return declared if isinstance(declared, str) else None
    kty = jwk.get("kty")
    if not isinstance(kty, str):
        return None
    curve = jwk.get("crv") if kty != "RSA" else None
    return _IMPLIED_ALGORITHM.get((kty, curve if isinstance(curve, str) else None))


def _leaf_certificate(jwk: Mapping[str, Any]) -> bytes | None:
    """The first certificate of the JWK's ``x5c`` (RFC 7517 §4.7: standard base64 DER)."""
    chain = jwk.get("x5c")
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        return None
    try:
        return base64.b64decode(chain[0], validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse_key(jwk: Mapping[str, Any]) -> ClientKey | None:
    if jwk.get("use", "sig") != "sig":
        return None
    operations = jwk.get("key_ops")
    if operations is not None and (not isinstance(operations, list)
                                   or "verify" not in operations):
        return None
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    algorithm = jwk_algorithm(jwk)
    if algorithm is None or algorithm == "none" or algorithm.startswith("HS"):
        return None
    try:
        parsed = jwt.PyJWK(dict(jwk), algorithm=algorithm)
    except Exception:  # a malformed or unsupported key is skipped, never a 500
        logger.warning("skipping an unusable client key (kid=%.64r)", kid)
        return None
    if parsed.key_type == "oct":
        return None
    return ClientKey(kid, algorithm, parsed)


def parse_jwks(document: Any) -> KeySet:
    """The usable keys of a JWK Set document (a dict with ``keys``). Raises ``ValueError``
    when it is not a JWK Set. A JWK with private members is skipped (and logged)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: list[ClientKey] = []
    certificates: list[bytes] = []
    for jwk in document["keys"][:MAX_KEYS]:
        if not isinstance(jwk, dict):
            continue
        if has_private_members(jwk):
            logger.warning("skipping a client JWK with private members (kid=%.64r)",
                           jwk.get("kid"))
            continue
        certificate = _leaf_certificate(jwk)
        if certificate is not None:
            certificates.append(certificate)
        key = _parse_key(jwk)
        if key is not None:
            keys.append(key)
    return KeySet(tuple(keys), tuple(certificates))


def registration_problem(jwks: str) -> str | None:
    """Why an inline ``jwks`` value cannot be registered, or None (check_registration)."""
    try:
        document = json.loads(jwks)
    except ValueError:
        return str(_("The JWK Set is not valid JSON."))
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        return 'A JWK Set is a JSON object with a "keys" array (RFC 7517 §5).'
    if not document["keys"]:
        return str(_("The JWK Set has no key."))
    if len(document["keys"]) > MAX_KEYS:
        return f"A JWK Set may hold at most {MAX_KEYS} keys."
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            return str(_("Each key must be a JSON object."))
        if has_private_members(jwk):
            return str(_("Register public keys only: a key has private or symmetric members."))
    usable = parse_jwks(document)
    if not usable.keys and not usable.certificates:
        return str(_("No key in the JWK Set is usable."))
    return None


def jwks_uri_allowed(uri: str) -> bool:
    """https; http only to a loopback address, and only while ``DEBUG`` is on."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if not parts.hostname or any(c.isspace() for c in uri):
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http" or not settings.DEBUG:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


# --- inline jwks ----------------------------------------------------------------------------

_inline: caches.ExpiringLRU[str, KeySet] = caches.register("client_jwks", caches.ExpiringLRU())


def inline_keys(jwks: str) -> KeySet:
    """The keys of an inline JWK Set, parsed once per distinct value."""
    digest = hashlib.sha256(jwks.encode("utf-8", "surrogatepass")).hexdigest()
    now = clock.timestamp()
    found = _inline.get(digest, now)
    if found is None:
        try:
            found = parse_jwks(json.loads(jwks))
        except ValueError:
            logger.warning("a client's registered jwks is not a JWK Set")
            found = EMPTY
        _inline.put(digest, found, now + 86400, CACHE_SIZE)
    return found


# --- jwks_uri -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Fetched:
    keys: KeySet | None  # None: no fetch has succeeded
    fresh_until: float
    last_attempt: float


_remote: caches.ExpiringLRU[str, _Fetched] = caches.register(
    "client_jwks_uri", caches.ExpiringLRU())
# One fetch at a time per client (a striped lock: a slow host blocks only its stripe).
_locks = tuple(threading.Lock() for _ in range(64))


def _fetch(uri: str) -> KeySet:
    if not jwks_uri_allowed(uri):
        raise ClientKeysUnavailable("jwks_uri not allowed")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        uri, headers={"Accept": "application/jwk-set+json, application/json"})
    try:
        document = fetch_json(request, timeout=float(oauth_cc_settings.CLIENT_JWKS_TIMEOUT),
                              max_bytes=MAX_JWKS_BYTES)
        return parse_jwks(document)
    except Exception as exc:  # network, HTTP status, redirect, size, JSON: all unavailable
        raise ClientKeysUnavailable(type(exc).__name__) from None


def _remote_keys(client_id: str, uri: str, kid: str | None) -> KeySet:
    """The key set at ``uri``; fetched when not held or stale, or early when ``kid`` is not
    in it, at most every ``CLIENT_JWKS_MIN_REFRESH_SECONDS``."""
    cache_key = f"{client_id}\x00{uri}"
    min_refresh = float(oauth_cc_settings.CLIENT_JWKS_MIN_REFRESH_SECONDS)
    now = clock.timestamp()
    entry = _remote.peek(cache_key)
    if entry is not None and _usable(entry, now, kid, min_refresh):
        assert entry.keys is not None
        return entry.keys
    with _locks[hash(cache_key) % len(_locks)]:
        entry = _remote.peek(cache_key)  # another thread may have fetched meanwhile
        now = clock.timestamp()
        if entry is not None and _usable(entry, now, kid, min_refresh):
            assert entry.keys is not None
            return entry.keys
        if entry is not None and now - entry.last_attempt < min_refresh:
            # Fetched moments ago: do not ask again yet.
            if entry.keys is None:
                raise ClientKeysUnavailable("the last fetch failed; retrying later")
            return entry.keys
        try:
            keys = _fetch(uri)
        except ClientKeysUnavailable as exc:
            logger.warning("cannot fetch the JWK Set of client %s from its jwks_uri: %s",
                           client_id, exc)
            held = entry.keys if entry is not None else None
            # Keep what was held (or the failure) for min_refresh, then try again.
            _remote.put(cache_key, _Fetched(held, now + min_refresh, now),
                        now + max(min_refresh, 1.0), CACHE_SIZE)
            if held is None:
                raise
            return held
        ttl = float(oauth_cc_settings.CLIENT_JWKS_CACHE_SECONDS)
        _remote.put(cache_key, _Fetched(keys, now + ttl, now), now + max(ttl, min_refresh),
                    CACHE_SIZE)
        return keys


def _usable(entry: _Fetched, now: float, kid: str | None, min_refresh: float) -> bool:
    if entry.keys is None or now >= entry.fresh_until:
        return False
    if kid is None or entry.keys.has_kid(kid):
        return True
    return now - entry.last_attempt < min_refresh  # unknown kid, fetched too recently


# --- the API --------------------------------------------------------------------------------

def key_set(client: Client, kid: str | None = None) -> KeySet:
    """The client's usable public keys, from ``jwks`` or ``jwks_uri`` (``jwks`` first).
    ``kid``: the key wanted, fetched again early when the set does not hold it. Raises
    ``ClientKeysUnavailable`` when the jwks_uri gives no key set."""
    if client.jwks:
        return inline_keys(client.jwks)
    if client.jwks_uri:
        return _remote_keys(client.client_id, client.jwks_uri, kid)
    return EMPTY


def verification_keys(client: Client, algorithm: str, kid: str | None,
                      allowed: Collection[str]) -> list[ClientKey]:
    """The keys of ``client`` that may verify a JWS with ``algorithm`` and ``kid``; none
    when ``algorithm`` is not in ``allowed`` (never taken from the header alone)."""
    if algorithm not in allowed:
        return []
    return key_set(client, kid).candidates(algorithm, kid)


def certificates(client: Client) -> list[bytes]:
    """The DER leaf certificates of the ``x5c`` of the client's keys
    (``self_signed_tls_client_auth``, RFC 8705 §2.2.2); empty when none can be had."""
    try:
        return list(key_set(client).certificates)
    except ClientKeysUnavailable:
        return []
