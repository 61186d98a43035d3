"""JOSE helpers shared by both halves: JWK export and parsing, thumbprints, algorithms.

PyJWT does the JOSE work (parsing, signing, verifying); this module only decides which keys
and algorithms are acceptable and how our JWKs look.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from .settings import oauth_cc_settings

logger = logging.getLogger("oauth_cc.validation")

#: RFC 9068 §2.1 header type of the access tokens we sign (JWT-02); lower case per X-09.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
#: RFC 9068 §4 / RSV-01: accepted ``typ`` values, compared case-insensitively (X-09).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})

#: JWS algorithms we sign with (JWT-01: never ``none``, never a MAC).
SIGNING_ALGORITHMS: frozenset[str] = frozenset({"RS256", "PS256", "ES256", "EdDSA"})

#: Never accepted on an access token, whatever the settings say (RSV-05).
FORBIDDEN_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})

#: The one algorithm a JWK without ``alg`` is used with, by key type and curve.
_DEFAULT_ALGORITHM: dict[tuple[str | None, str | None], str] = {
    ("RSA", None): "RS256", ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384", ("EC", "P-521"): "ES512",
    ("OKP", "Ed25519"): "EdDSA", ("OKP", "Ed448"): "EdDSA"}

#: RFC 7638 §3.2 required members per key type (THUMB-02).
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"),
                       "OKP": ("crv", "kty", "x")}

#: Public JWK members we publish (JWKS-02: never a private member).
_PUBLIC_MEMBERS = frozenset({"kty", "n", "e", "crv", "x", "y", "kid", "use", "alg"})


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A parsed public key with the one algorithm it verifies."""

    kid: str
    algorithm: str
    key: Any
    source: str  # the JWK it was parsed from, to notice a new key published under an old kid


def accepted_algorithms() -> frozenset[str]:
    """``ACCEPTED_ALGORITHMS`` less the forbidden ones, computed once per settings load."""
    return oauth_cc_settings.derived(
        "accepted_algorithms",
        lambda: frozenset(oauth_cc_settings.ACCEPTED_ALGORITHMS) - FORBIDDEN_ALGORITHMS,
    )


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK SHA-256 thumbprint, unpadded base64url (THUMB-01..03)."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(private_key: Any, algorithm: str) -> dict[str, Any]:
    """The public JWK of ``private_key``, with ``kid`` (its thumbprint), ``use`` and ``alg``."""
    jwk = get_default_algorithms()[algorithm].to_jwk(private_key.public_key(), as_dict=True)
    jwk = {name: value for name, value in jwk.items() if name in _PUBLIC_MEMBERS}
    jwk["kid"] = thumbprint(jwk)
    jwk["use"] = "sig"
    jwk["alg"] = algorithm
    return jwk


def parse_jwk(jwk: Mapping[str, Any], previous: Mapping[str, VerificationKey]
              ) -> VerificationKey | None:
    """A usable signing key from a JWK, or None to skip it (JWKS-05, JWKS-06)."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
        return None
    algorithm = jwk.get("alg") or _DEFAULT_ALGORITHM.get(
        (jwk.get("kty"), jwk.get("crv") if jwk.get("kty") != "RSA" else None))
    if algorithm not in accepted_algorithms():
        return None
    source = json.dumps(jwk, sort_keys=True, default=str)
    known = previous.get(kid)
    if known is not None and known.source == source:
        return known  # unchanged: no parsing
    try:
        parsed = jwt.PyJWK(dict(jwk), algorithm=algorithm)
    except Exception:  # any malformed key is skipped, never a failure of the whole set
        logger.warning("skipping an unusable key in the JWKS (kid=%.64r)", kid)
        return None
    if parsed.key_type == "oct":
        return None  # never a symmetric key (RSV-05)
    return VerificationKey(kid, algorithm, parsed.key, source)


def keys_from(jwks: list[Any], previous: Mapping[str, VerificationKey]
              ) -> dict[str, VerificationKey]:
    """The usable keys of a JWK Set's ``keys`` list, by kid."""
    keys = {}
    for jwk in jwks:
        if isinstance(jwk, dict):
            parsed = parse_jwk(jwk, previous)
            if parsed is not None:
                keys[parsed.kid] = parsed
    return keys


#: RFC 8705 §3.1: the ``cnf`` member binding a token to a client certificate.
CERTIFICATE_THUMBPRINT = "x5t#S256"


def certificate_thumbprint(der: bytes) -> str:
    """RFC 8705 §3.1 ``x5t#S256``: the unpadded base64url SHA-256 of a certificate's DER
    encoding (MTLS-04)."""
    digest = hashlib.sha256(der).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
