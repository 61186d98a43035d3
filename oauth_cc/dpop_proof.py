"""DPoP proofs (RFC 9449 §4): the checks a ``DPoP`` request header must pass, at the token
endpoint and at a resource server alike (DPOP-01..10), and the server nonces of §8.

``check(request, ...)`` returns the verified ``Proof`` or raises ``InvalidProof`` (a fixed
description, never client input), ``NonceRequired`` (the token endpoint answers
``use_dpop_nonce``), or ``replay.ReplayCacheUnavailable`` (fail closed: 503). PyJWT does the
JOSE work (header parsing, the key, the signature); this module decides what is acceptable.

Costs, per proof: the embedded key is parsed once per distinct protected header (a client
sends the same header with every proof), and kept in the ``dpop_keys`` cache with its RFC
7638 thumbprint; every proof then costs one signature check, one JSON decode, the target
URI of the request, and one ``add()`` on the ``REPLAY_CACHE``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import jwt
from django.conf import settings
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from django.utils.encoding import escape_uri_path
from django.views.decorators.debug import sensitive_variables
from jwt.algorithms import get_default_algorithms

from . import caches, clock, network, replay
from .jose import FORBIDDEN_ALGORITHMS, thumbprint
from .settings import oauth_cc_settings

#: RFC 9449 §4.2: the ``typ`` of a proof (compared case-insensitively, as media types are).
PROOF_TYPE = "dpop+jwt"
#: Longest ``DPoP`` header accepted (a proof with a 4096-bit RSA key is under 2,000).
MAX_PROOF_LENGTH = 8192
#: DPOP-02: members that only a private (or symmetric) JWK has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Key types a proof may use: never ``oct`` (a shared secret proves nothing).
PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
#: One compact JWS: three unpadded base64url segments (a JWS has no commas, so two ``DPoP``
#: headers, which Django joins with a comma, never match).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Path characters kept as they are when a path is re-encoded (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"

#: Parsed proof keys by the proof's protected header (the base64url segment).
KEY_CACHE_SIZE = 1024
KEY_CACHE_SECONDS = 3600.0

#: Time step of the nonces, in seconds (at most; shorter when the lifetime is very short).
NONCE_STEP_SECONDS = 10
_NONCE_SALT = "oauth_cc.dpop.nonce"
_NONCE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{22})")

_jws = jwt.api_jws.PyJWS()


class InvalidProof(Exception):
    """The proof fails a check; ``description`` is fixed text for the error response."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class KeyMismatch(InvalidProof):
    """A valid proof by another key than the one the access token is bound to (DPOP-10):
    a token problem (``invalid_token``), not a proof problem."""


class NonceRequired(Exception):
    """The proof has no nonce, or one that is not (or no longer) this server's."""


@dataclass(frozen=True, slots=True)
class ProofKey:
    """A proof's public key, parsed once, with the one algorithm it verifies and its
    RFC 7638 thumbprint (the ``jkt`` a token is bound to)."""

    algorithm: str
    key: jwt.PyJWK
    thumbprint: str


@dataclass(frozen=True, slots=True)
class Proof:
    """A proof that passed every check."""

    key: ProofKey
    claims: dict[str, Any]
    target_uri: str

    @property
    def jkt(self) -> str:
        return self.key.thumbprint


proof_keys: caches.ExpiringLRU[str, ProofKey] = caches.register(
    "dpop_keys", caches.ExpiringLRU())


def signing_algorithms() -> list[str]:
    """``DPOP_SIGNING_ALGORITHMS`` that are asymmetric and known to PyJWT, in order (the
    ``algs`` of the challenge and ``dpop_signing_alg_values_supported``)."""

    def build() -> list[str]:
        known = get_default_algorithms()
        return [name for name in oauth_cc_settings.DPOP_SIGNING_ALGORITHMS or ()
                if name in known and name not in FORBIDDEN_ALGORITHMS
                and (name[:2] in ("RS", "PS", "ES") or name == "EdDSA")]

    return oauth_cc_settings.derived("dpop_signing_algorithms", build)


# --- the target URI (DPOP-06) ---------------------------------------------------------------

def _canonical_path(path: str) -> str:
    """One spelling of a path: percent-decoded, dot segments removed (RFC 3986 §5.2.4),
    then re-encoded the same way whatever the input. This equates every spelling RFC 3986
    §6.2.2 does (case of ``%xx``, encoded unreserved characters), and also encoded reserved
    characters, which a WSGI server has already decoded in the request's path anyway."""
    decoded = unquote(path, errors="surrogateescape")
    output: list[str] = []
    for segment in decoded.split("/")[1:] if decoded.startswith("/") else decoded.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if decoded.endswith(("/.", "/..")) or decoded in (".", ".."):
        output.append("")
    return quote("/" + "/".join(output), safe=_PATH_SAFE, errors="surrogateescape")


@functools.lru_cache(maxsize=512)
def normalise_uri(uri: str) -> str | None:
    """``uri`` without query and fragment, normalised (RFC 3986 §6.2.2, §6.2.3): lower-case
    scheme and host, no default port, ``/`` for an empty path, one spelling of the path.
    None unless it is an absolute http(s) URI without user information.

    A pure function of its argument, so the small LRU in front of it never needs clearing.
    """
    try:
        uri.encode("utf-8")  # a lone surrogate is no text at all
    except UnicodeEncodeError:
        return None
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{_canonical_path(parts.path)}"


def target_uri(request: HttpRequest) -> str | None:
    """The request's own URI, normalised as ``normalise_uri`` does. Its host is Django's
    ``request.get_host()`` (``ALLOWED_HOSTS``, ``USE_X_FORWARDED_HOST``), but a forwarded host
    only from a trusted proxy; its scheme is https when ``network.is_secure`` says the client
    used HTTPS. So a request forwarded by a trusted proxy is compared with the URI the client
    addressed, never with a header anyone could send."""
    scheme = "https" if network.is_secure(request) else "http"
    if settings.USE_X_FORWARDED_HOST and not network.from_trusted_proxy(request):
        # Django would believe X-Forwarded-Host from anyone: take the Host header instead.
        host = str(request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", ""))
        return normalise_uri(f"{scheme}://{host}{escape_uri_path(request.path)}")
    uri = request.build_absolute_uri()
    return normalise_uri(scheme + uri[uri.index(":"):])


# --- nonces (DPOP-09, DPOP-13) --------------------------------------------------------------

def _nonce_step_seconds() -> int:
    lifetime = max(1, int(oauth_cc_settings.DPOP_NONCE_LIFETIME))
    return max(1, min(NONCE_STEP_SECONDS, lifetime // 2))


def _nonce_mac(step: int) -> str:
    digest = salted_hmac(_NONCE_SALT, str(step), algorithm="sha256").digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_nonce(now: float | None = None) -> str:
    """A server nonce (RFC 9449 §8): the current time step and an HMAC of it under a key
    derived from ``SECRET_KEY``; unpredictable without that key, ``1*NQCHAR``, stateless
    (any instance sharing ``SECRET_KEY`` accepts it)."""
    step = int((clock.timestamp() if now is None else now) // _nonce_step_seconds())
    return f"{step}.{_nonce_mac(step)}"


def nonce_is_fresh(nonce: Any, now: float | None = None) -> bool:
    """Whether ``nonce`` is one of ours, minted at most ``DPOP_NONCE_LIFETIME`` seconds ago
    (one time step more at most; one step ahead allows for instances' clocks)."""
    if not isinstance(nonce, str):
        return False
    match = _NONCE.fullmatch(nonce)
    if match is None:
        return False
    seconds = _nonce_step_seconds()
    step = int(match.group(1))
    current = int((clock.timestamp() if now is None else now) // seconds)
    window = math.ceil(int(oauth_cc_settings.DPOP_NONCE_LIFETIME) / seconds)
    if not -1 <= current - step <= window:
        return False
    return hmac.compare_digest(match.group(2), _nonce_mac(step))


# --- proofs ---------------------------------------------------------------------------------

def header_value(request: HttpRequest) -> str | None:
    """The request's one ``DPoP`` header, or None without one (DPOP-01). Repeated headers
    (joined with commas by the server) and anything but one compact JWS are refused."""
    value = request.META.get("HTTP_DPOP")
    if value is None:
        return None
    if "," in value:
        raise InvalidProof("Exactly one DPoP header is allowed.")
    value = value.strip(" \t")
    if len(value) > MAX_PROOF_LENGTH or not _COMPACT_JWS.fullmatch(value):
        raise InvalidProof("The DPoP header is not a JWT.")
    return str(value)


def _parse_key(proof: str) -> ProofKey:
    """The checks of the protected header (DPOP-02) and its key, parsed."""
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise InvalidProof("The DPoP proof is malformed.") from None
    if "crit" in header:  # no extension is understood here (RFC 7515 §4.1.11)
        raise InvalidProof("The DPoP proof has a critical header this server ignores.")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
        raise InvalidProof("The DPoP proof must have typ dpop+jwt.")
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in signing_algorithms():
        raise InvalidProof("The DPoP proof algorithm is not accepted.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in PUBLIC_KEY_TYPES:
        raise InvalidProof("The DPoP proof has no public key.")
    if PRIVATE_MEMBERS & jwk.keys():
        raise InvalidProof("The DPoP proof key must be a public key.")
    try:
        key = jwt.PyJWK(jwk, algorithm=algorithm)
        too_short = key.Algorithm.check_key_length(key.key)
        jkt = thumbprint(jwk)
    except Exception:  # any malformed key: PyJWT, cryptography or missing members
        raise InvalidProof("The DPoP proof key is unusable.") from None
    if too_short:
        raise InvalidProof("The DPoP proof key is too short.")
    return ProofKey(algorithm, key, jkt)


def _key_for(proof: str, now: float) -> ProofKey:
    header_segment = proof[:proof.index(".")]
    found = proof_keys.get(header_segment, now)
    if found is None:
        found = _parse_key(proof)
        proof_keys.put(header_segment, found, now + KEY_CACHE_SECONDS, KEY_CACHE_SIZE)
    return found


def _claims(proof: str, key: ProofKey) -> dict[str, Any]:
    """The payload of a proof whose signature verifies with its own key (DPOP-03)."""
    try:
        decoded = _jws.decode_complete(proof, key=key.key, algorithms=[key.algorithm],
                                       options={"enforce_minimum_key_length": True})
        payload = decoded["payload"]
        if _nested_too_deeply(payload):
            raise ValueError("nested too deeply")
        claims = json.loads(payload)
    except jwt.PyJWTError:
        raise InvalidProof("The DPoP proof signature is invalid.") from None
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        raise InvalidProof("The DPoP proof is malformed.") from None
    if not isinstance(claims, dict):
        raise InvalidProof("The DPoP proof is malformed.")
    return claims


#: A proof's claims are flat; nesting deeper than this is refused before parsing, so that the
#: answer does not depend on how deep a Python version's JSON parser can go.
MAX_NESTING = 16


def _nested_too_deeply(payload: bytes) -> bool:
    """Whether the JSON text opens more than ``MAX_NESTING`` arrays or objects at once
    (brackets inside strings do not count). Almost free for a real proof, which opens one."""
    if payload.count(b"[") + payload.count(b"{") <= MAX_NESTING:
        return False
    depth = 0
    in_string = escaped = False
    for byte in payload:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url(SHA-256(ASCII of the access token)), unpadded (RFC 9449 §4.2)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(presented: Any, expected: str) -> bool:
    return isinstance(presented, str) and hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("ascii"))


@sensitive_variables("access_token")
def check(request: HttpRequest, proof: str, *, access_token: str | None = None,
          bound_to: str | None = None, nonce_required: bool = False) -> Proof:
    """Verify ``proof`` (the request's ``DPoP`` header, from ``header_value``) for this very
    request (RFC 9449 §4.3): DPOP-02..09, and at a resource server DPOP-10 (``access_token``
    for ``ath``; ``bound_to``, the token's ``cnf.jkt``). Its ``jti`` is recorded last, so
    only a proof that passed every other check uses it up."""
    now = clock.timestamp()
    key = _key_for(proof, now)
    claims = _claims(proof, key)
    jti, method, uri, issued_at = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
    if not (isinstance(jti, str) and jti and isinstance(method, str) and isinstance(uri, str)
            and isinstance(issued_at, int | float) and not isinstance(issued_at, bool)):
        raise InvalidProof("The DPoP proof lacks jti, htm, htu or iat.")
    if not 0 <= issued_at < 1e11:  # a NumericDate within reason, before any float arithmetic
        raise InvalidProof("The DPoP proof iat is out of range.")
    if len(jti) > replay.MAX_JTI_LENGTH:
        raise InvalidProof("The DPoP proof jti is too long.")
    if method != request.method:
        raise InvalidProof("The DPoP proof is for another HTTP method.")
    target = target_uri(request)
    if target is None or normalise_uri(uri) != target:
        raise InvalidProof("The DPoP proof is for another URI.")
    max_age = float(oauth_cc_settings.DPOP_PROOF_MAX_AGE)
    if not math.isfinite(issued_at) or issued_at > now + clock.leeway():
        raise InvalidProof("The DPoP proof is issued in the future.")
    if issued_at < now - max_age:
        raise InvalidProof("The DPoP proof is too old.")
    if nonce_required and not nonce_is_fresh(claims.get("nonce"), now):
        raise NonceRequired()
    if access_token is not None and not _same(claims.get("ath"),
                                              access_token_hash(access_token)):
        raise InvalidProof("The DPoP proof is not for this access token.")
    if bound_to is not None and not _same(bound_to, key.thumbprint):
        raise KeyMismatch("The DPoP proof key is not the key the token is bound to.")
    # Keyed by the proof key too: a jti someone learns cannot be used up with another key.
    if not replay.first_use("dpop", f"{key.thumbprint} {target}", jti, issued_at + max_age):
        raise InvalidProof("The DPoP proof has been used before.")
    return Proof(key, claims, target)
