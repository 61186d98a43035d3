"""Mutations of a valid access token: every one is refused at the resource server.

A real token is issued by the token endpoint, then one thing about it is changed: a header
member (``alg``, ``typ``, ``kid``, ``crit``, ``jku``/``x5u``/``jwk``/``x5c``), a claim
(``iss``, ``aud``, ``exp``, ``nbf``, ``iat``, ``jti``, ``sub``, ``client_id``, ``scope``,
``cnf``), the signature, or the compact serialization itself (segments, padding, alphabet,
whitespace, case, size). A mutation of the header or the claims is signed again with the
real key, so that only the content is wrong; a mutation of the signature or of the string
is not.

Each mutated token must get 401 ``invalid_token`` at ``/api/whoami`` (400
``invalid_request`` when the Authorization header no longer has the RFC 6750 §2.1 syntax;
403 ``insufficient_scope`` for a valid token without the scope), with a ``Bearer``
challenge, twice (the second answer comes from the rejected-token cache), and the original
token is accepted before and after. Every case runs with one published key (PyJWT's fast
path) and during a rotation (two published keys: the general path, key chosen by ``kid``).
No mutation may make the server open a network connection (``jku``, ``x5u``: RSV-09), log
the token, or log an oauth_cc error (an unexpected exception turned into a 401).

The introspection endpoint must answer exactly ``{"active": false}`` for the same tokens
(INTRO-04, INTRO-05), except where the authorization server accepts by design what this
resource server does not (any audience, ``iat`` and ``scope`` not checked, ``cnf`` not
confirmed there).

Checklist items (../shared/spec/CHECKLIST.md): RSV-01, RSV-03, RSV-04, RSV-05, RSV-06,
RSV-07, RSV-08, RSV-09, BEARER-01, BEARER-05, BEARER-06, BEARER-07, BEARER-09, BEARER-10,
GEN-06, INTRO-04, INTRO-05.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms

from oauth_cc import jose
from oauth_cc.models import SigningKey
from oauth_cc.server import keys
from tests.conftest import AUDIENCE, FORM, ISSUER, _private_key, basic, get_token, install_key

WHOAMI = "/api/whoami"
INTROSPECT = "/oauth/introspect"
READ, WRITE = "inventory:read", "inventory:write"
#: ``MAX_ACCESS_TOKEN_LENGTH`` (default) and ``MAX_REQUEST_BODY`` (default).
MAX_TOKEN = 8192
MAX_BODY = 16384
#: RFC 6750 §2.1 b64token: what may follow ``Bearer`` and one or more spaces.
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: RFC 6750 §3 (BEARER-07): error and error_description characters.
ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
CHALLENGE = re.compile(
    r'Bearer realm="api", error="(?P<error>[a-z_]+)"'
    r'(?:, error_description="(?P<description>[^"\\]*)")?(?:, scope="(?P<scope>[^"\\]*)")?')
ERRORS = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope"}
ALGORITHMS = get_default_algorithms()
DROP = object()  # a header member or claim to remove


# --- encoding and signing -------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Raw:
    """A segment's JSON text exactly as written (duplicate members, NaN, not an object...)."""

    text: str


def segment(value: Any) -> str:
    if isinstance(value, bytes):
        return b64url(value)
    if isinstance(value, Raw):
        return b64url(value.text.encode("utf-8"))
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


Signer = Callable[[bytes], bytes]


def signer(algorithm: str, key: Callable[[], Any]) -> Signer:
    """Sign with ``algorithm`` and the key ``key()`` returns (keys are made on first use)."""
    return lambda data: ALGORITHMS[algorithm].sign(data, key())


def real(algorithm: str = "RS256") -> Signer:
    """A signature by the published RS256 key, computed with ``algorithm``."""
    return signer(algorithm, lambda: _private_key("RS256"))


def unsigned(data: bytes) -> bytes:
    return b""


def jws(header: Any, claims: Any, sign: Signer | None = None) -> str:
    """A compact JWS; signed by the published key unless ``sign`` says otherwise."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = (sign or real())(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


@functools.cache
def attacker_key() -> Any:
    """An RSA key the server has never seen."""
    return keys.generate_private_key("RS256")


def attacker_jwk() -> dict[str, Any]:
    return jose.public_jwk(attacker_key(), "RS256")


def real_kid() -> str:
    return str(jose.public_jwk(_private_key("RS256"), "RS256")["kid"])


def other_published_kid() -> str:
    """The kid of the ES256 key published during a rotation (unknown with one key)."""
    return str(jose.public_jwk(_private_key("ES256"), "ES256")["kid"])


@functools.cache
def public_key_bytes(form: str) -> bytes:
    """The published RSA public key in a form an HMAC confusion attack would use."""
    public = _private_key("RS256").public_key()
    if form == "spki":
        return public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    if form == "pkcs1":
        return public.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.PKCS1)
    if form == "der":
        return public.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return json.dumps(jose.public_jwk(_private_key("RS256"), "RS256")).encode()  # "jwk"


def hmac_with_public_key(algorithm: str, form: str) -> Signer:
    return signer(algorithm, lambda: public_key_bytes(form))


# --- the original token and the mutations ---------------------------------------------------

@dataclass(frozen=True)
class Original:
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def parts(self) -> list[str]:
        return self.token.split(".")

    @property
    def signature(self) -> bytes:
        return b64url_decode(self.parts[2])

    @property
    def now(self) -> int:
        return int(time.time())

    def with_signature(self, signature: bytes | str) -> str:
        text = signature if isinstance(signature, str) else b64url(signature)
        return f"{self.parts[0]}.{self.parts[1]}.{text}"


Value = Any  # a value, DROP, or a callable of the Original giving one


def changed(base: dict[str, Any], changes: dict[str, Value], o: Original) -> dict[str, Any]:
    result = dict(base)
    for name, value in changes.items():
        value = value(o) if callable(value) else value
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result


@dataclass(frozen=True)
class Mutation:
    name: str
    build: Callable[[Original], str]
    #: None: 401 invalid_token, or 400 invalid_request when the header syntax is broken.
    status: int | None = None
    #: Whether introspection must call it inactive (it is about the token's integrity,
    #: issuer, expiry or required claims, which the introspection endpoint checks too).
    inactive_at_introspection: bool = True


def header(name: str, changes: dict[str, Value], sign: Signer | None = None,
           **options: Any) -> Mutation:
    """Change header members, then sign again (by the real key unless ``sign``)."""
    return Mutation(name, lambda o: jws(changed(o.header, changes, o), o.claims, sign),
                    **options)


def claims(name: str, changes: dict[str, Value], **options: Any) -> Mutation:
    """Change claims, then sign again with the real key: the signature is valid."""
    return Mutation(name, lambda o: jws(o.header, changed(o.claims, changes, o)), **options)


def raw_header(name: str, text: Callable[[Original], str], sign: Signer | None = None
               ) -> Mutation:
    return Mutation(name, lambda o: jws(Raw(text(o)), o.claims, sign))


def raw_claims(name: str, text: Callable[[Original], str]) -> Mutation:
    return Mutation(name, lambda o: jws(o.header, Raw(text(o))))


def string(name: str, build: Callable[[Original], str], **options: Any) -> Mutation:
    """Change the token string itself: nothing is signed again."""
    return Mutation(name, build, **options)


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    mutable = bytearray(data)
    mutable[index] ^= 1 << bit
    return bytes(mutable)


def swap_alphabet(text: str) -> str:
    """base64url to standard base64 characters (``-`` to ``+``, ``_`` to ``/``)."""
    return text.replace("-", "+").replace("_", "/")


def noncanonical_last_char(text: str) -> str:
    """The same octets with non-zero unused bits in the last character (RFC 4648 §3.5)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 4, 3: 2}[len(text) % 4]  # 342 characters of RS256 signature: 4 unused bits
    last = alphabet.index(text[-1])
    return text[:-1] + alphabet[last | ((1 << unused) - 1)]


def tildes(o: Original) -> str:
    """The token signed again with a run of ``~`` in the header and the claims, whose
    base64url encoding surely has a ``-`` (0x7E7E7E encodes as ``fn5-``)."""
    return jws({**o.header, "x": "~" * 9}, {**o.claims, "x": "~" * 9})


def padded_claims(o: Original, length: int) -> str:
    """The token signed again with a ``pad`` claim making it about ``length`` long."""
    token = jws(o.header, o.claims)
    pad = max(0, (length - len(token)) * 3 // 4)
    return jws(o.header, {**o.claims, "pad": "x" * pad})


def at_least(o: Original, length: int) -> str:
    token = padded_claims(o, length)
    while len(token) < length:
        token = jws(o.header, {**o.claims, "pad": json.loads(
            b64url_decode(token.split(".")[1]))["pad"] + "xxx"})
    return token


def later(seconds: int) -> Callable[[Original], int]:
    return lambda o: o.now + seconds


def evil_duplicate(o: Original, member: str, value: Any) -> str:
    """The claims JSON with ``member`` repeated last with ``value`` (the last one counts in
    Python's and PyJWT's parser: a validator seeing the first would be fooled)."""
    return json.dumps(o.claims)[:-1] + f", {json.dumps(member)}: {json.dumps(value)}}}"


NOT_STRINGS: dict[str, Any] = {"int": 1, "null": None, "list": ["x"], "dict": {"x": 1},
                               "bool": True, "empty": ""}

# RSV-01, RSV-05, RSV-09: the header.
HEADER: list[Mutation] = [
    # alg: none, HMAC with the public key (alg confusion), other algorithms, wrong case
    header("alg_none", {"alg": "none"}, unsigned),
    header("alg_none_keeping_signature", {"alg": "none"}),
    header("alg_None", {"alg": "None"}, unsigned),
    header("alg_NONE", {"alg": "NONE"}, unsigned),
    header("alg_none_without_kid", {"alg": "none", "kid": DROP}, unsigned),
    *[header(f"alg_{alg.lower()}_public_key_{form}", {"alg": alg},
             hmac_with_public_key(alg, form))
      for alg in ("HS256", "HS384", "HS512") for form in ("spki", "pkcs1", "der", "jwk")],
    header("alg_hs256_public_key_no_kid", {"alg": "HS256", "kid": DROP},
           hmac_with_public_key("HS256", "spki")),
    *[header(f"alg_{alg.lower()}_same_rsa_key", {"alg": alg}, real(alg))
      for alg in ("RS384", "RS512", "PS256", "PS384", "PS512")],
    header("alg_es256_other_key", {"alg": "ES256"}, signer("ES256", lambda: _private_key("ES256"))),
    header("alg_eddsa_other_key", {"alg": "EdDSA"}, signer("EdDSA", lambda: _private_key("EdDSA"))),
    header("alg_lower_case", {"alg": "rs256"}),
    header("alg_mixed_case", {"alg": "Rs256"}),
    header("alg_trailing_space", {"alg": "RS256 "}),
    header("alg_unknown", {"alg": "XS256"}),
    header("alg_removed", {"alg": DROP}),
    *[header(f"alg_{kind}", {"alg": value}) for kind, value in NOT_STRINGS.items()],
    raw_header("alg_repeated_last_none", lambda o: (
        f'{{"alg":"RS256","typ":"at+jwt","kid":"{o.header["kid"]}","alg":"none"}}'), unsigned),
    # typ (RSV-01): missing, another type, near misses, not a string
    header("typ_removed", {"typ": DROP}),
    header("typ_JWT", {"typ": "JWT"}),
    header("typ_jwt", {"typ": "jwt"}),
    header("typ_application_jwt", {"typ": "application/jwt"}),
    header("typ_trailing_space", {"typ": "at+jwt "}),
    header("typ_leading_space", {"typ": " at+jwt"}),
    header("typ_with_parameter", {"typ": "at+jwt; charset=utf-8"}),
    header("typ_reversed", {"typ": "jwt+at"}),
    header("typ_dash", {"typ": "at-jwt"}),
    header("typ_application_prefix_twice", {"typ": "application/application/at+jwt"}),
    header("typ_cyrillic_a", {"typ": "\u0430t+jwt"}),
    header("typ_nul", {"typ": "at+jwt\u0000"}),
    header("typ_dpop_proof", {"typ": "dpop+jwt"}),
    header("typ_list", {"typ": ["at+jwt"]}),
    *[header(f"typ_{kind}", {"typ": value}) for kind, value in NOT_STRINGS.items()
      if kind != "list"],
    # kid (RSV-05, RSV-09): unknown, missing, not a string, near misses, hostile text
    header("kid_unknown", {"kid": "unknown-kid"}),
    header("kid_removed", {"kid": DROP}),
    *[header(f"kid_{kind}", {"kid": value}) for kind, value in NOT_STRINGS.items()],
    header("kid_in_list", {"kid": lambda o: [o.header["kid"]]}),
    header("kid_upper_case", {"kid": lambda o: o.header["kid"].upper()}),
    header("kid_prefix", {"kid": lambda o: "x" + o.header["kid"]}),
    header("kid_truncated", {"kid": lambda o: o.header["kid"][:-1]}),
    header("kid_trailing_space", {"kid": lambda o: o.header["kid"] + " "}),
    header("kid_nul", {"kid": lambda o: o.header["kid"] + "\u0000"}),
    header("kid_path_traversal", {"kid": "../../../../../../etc/passwd"}),
    header("kid_sql", {"kid": "' OR '1'='1' --"}),
    header("kid_url", {"kid": "https://attacker.example/jwks.json"}),
    header("kid_long", {"kid": "k" * 4000}),
    header("kid_of_other_published_key", {"kid": lambda o: other_published_kid()}),
    # crit (RSV-05): any critical extension is unknown here
    header("crit_exp", {"crit": ["exp"]}),
    header("crit_unknown", {"crit": ["urn:example:unknown"]}),
    header("crit_unknown_present", {"crit": ["urn:example:x"], "urn:example:x": True}),
    header("crit_empty_list", {"crit": []}),
    header("crit_string", {"crit": "exp"}),
    header("crit_null", {"crit": None}),
    header("crit_b64_false", {"crit": ["b64"], "b64": False}),
    header("b64_false_without_crit", {"b64": False}),
    # jku / x5u / jwk / x5c (RSV-05, RSV-09): keys named by the token are never used
    header("jku_attacker_signed", {"jku": "https://attacker.example/jwks.json"},
           signer("RS256", attacker_key)),
    header("jku_attacker_signed_attacker_kid",
           {"jku": "http://127.0.0.1:9/jwks.json", "kid": lambda o: attacker_jwk()["kid"]},
           signer("RS256", attacker_key)),
    header("x5u_attacker_signed", {"x5u": "https://attacker.example/cert.pem"},
           signer("RS256", attacker_key)),
    header("jwk_embedded_attacker_signed", {"jwk": lambda o: attacker_jwk()},
           signer("RS256", attacker_key)),
    header("jwk_embedded_attacker_signed_no_kid", {"jwk": lambda o: attacker_jwk(),
                                                   "kid": DROP},
           signer("RS256", attacker_key)),
    header("jwk_embedded_attacker_signed_attacker_kid",
           {"jwk": lambda o: attacker_jwk(), "kid": lambda o: attacker_jwk()["kid"]},
           signer("RS256", attacker_key)),
    header("jwk_embedded_hmac_key", {"alg": "HS256", "jwk": {"kty": "oct", "k": b64url(b"k")}},
           signer("HS256", lambda: b"k")),
    header("x5c_garbage_attacker_signed", {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]},
           signer("RS256", attacker_key)),
    header("jku_unknown_kid_real_signature",
           {"jku": "http://127.0.0.1:9/jwks.json", "kid": "kid-only-at-jku"}),
    # the header is not a JSON object
    raw_header("header_array", lambda o: json.dumps([o.header])),
    raw_header("header_string", lambda o: '"at+jwt"'),
    raw_header("header_number", lambda o: "256"),
    raw_header("header_null", lambda o: "null"),
    raw_header("header_invalid_json", lambda o: json.dumps(o.header)[:-1]),
    raw_header("header_trailing_garbage", lambda o: json.dumps(o.header) + "x"),
    raw_header("header_empty_object", lambda o: "{}"),
    Mutation("header_not_utf8", lambda o: jws(b'{"alg":"RS256","typ":"\xff"}', o.claims)),
    Mutation("header_empty", lambda o: jws(b"", o.claims)),
    raw_header("header_nested_deeply", lambda o: "[" * 2500 + "]" * 2500),
]

# RSV-03, RSV-04, RSV-06 (with every required claim): the claims, signed again.
CLAIMS: list[Mutation] = [
    # iss (RSV-03): exact comparison
    claims("iss_prefix", {"iss": "x" + ISSUER}),
    claims("iss_suffix_slash", {"iss": ISSUER + "/"}),
    claims("iss_suffix_path", {"iss": ISSUER + "/t1"}),
    claims("iss_upper_case", {"iss": ISSUER.upper()}),
    claims("iss_host_upper_case", {"iss": ISSUER.replace("as.example", "AS.EXAMPLE")}),
    claims("iss_substring", {"iss": ISSUER[:-1]}),
    claims("iss_http", {"iss": ISSUER.replace("https:", "http:")}),
    claims("iss_default_port", {"iss": ISSUER + ":443"}),
    claims("iss_trailing_space", {"iss": ISSUER + " "}),
    claims("iss_leading_space", {"iss": " " + ISSUER}),
    claims("iss_cyrillic_a", {"iss": ISSUER.replace("as.", "\u0430s.")}),
    claims("iss_in_list", {"iss": [ISSUER]}),
    claims("iss_removed", {"iss": DROP}),
    *[claims(f"iss_{kind}", {"iss": value}) for kind, value in NOT_STRINGS.items()],
    raw_claims("iss_repeated_last_evil",
               lambda o: evil_duplicate(o, "iss", "https://evil.example")),
    # aud (RSV-04): must contain ours
    claims("aud_other", {"aud": "https://other.example.test"}, inactive_at_introspection=False),
    claims("aud_suffix_slash", {"aud": AUDIENCE + "/"}, inactive_at_introspection=False),
    claims("aud_upper_case", {"aud": AUDIENCE.upper()}, inactive_at_introspection=False),
    claims("aud_substring", {"aud": AUDIENCE[:-1]}, inactive_at_introspection=False),
    claims("aud_prefix", {"aud": "x" + AUDIENCE}, inactive_at_introspection=False),
    claims("aud_issuer", {"aud": ISSUER}, inactive_at_introspection=False),
    claims("aud_list_without_ours", {"aud": ["https://other.example.test", ISSUER]},
           inactive_at_introspection=False),
    claims("aud_list_nested", {"aud": [[AUDIENCE]]}, inactive_at_introspection=False),
    claims("aud_list_empty", {"aud": []}, inactive_at_introspection=False),
    claims("aud_dict", {"aud": {AUDIENCE: True}}, inactive_at_introspection=False),
    claims("aud_int", {"aud": 1}, inactive_at_introspection=False),
    claims("aud_null", {"aud": None}),
    claims("aud_removed", {"aud": DROP}),
    claims("aud_empty", {"aud": ""}, inactive_at_introspection=False),
    Mutation("aud_repeated_last_evil", lambda o: jws(o.header, Raw(evil_duplicate(
        o, "aud", "https://other.example.test"))), inactive_at_introspection=False),
    # exp (RSV-06): past, not a NumericDate, absurd
    claims("exp_past", {"exp": later(-3600)}),
    claims("exp_past_beyond_leeway", {"exp": later(-60)}),
    claims("exp_string", {"exp": lambda o: str(o.claims["exp"])}),
    claims("exp_true", {"exp": True}),
    claims("exp_false", {"exp": False}),
    claims("exp_huge", {"exp": 10**11}),
    claims("exp_huge_2_64", {"exp": 2**64}),
    claims("exp_negative", {"exp": -1}),
    claims("exp_zero", {"exp": 0}),
    claims("exp_list", {"exp": lambda o: [o.claims["exp"]]}),
    claims("exp_null", {"exp": None}),
    claims("exp_removed", {"exp": DROP}),
    raw_claims("exp_infinity", lambda o: json.dumps({**o.claims, "exp": float("inf")})),
    raw_claims("exp_nan", lambda o: json.dumps({**o.claims, "exp": float("nan")})),
    raw_claims("exp_repeated_last_past", lambda o: evil_duplicate(o, "exp", o.now - 3600)),
    # nbf (RSV-06): in the future, not a NumericDate
    claims("nbf_future", {"nbf": later(3600), "exp": later(7200)}),
    claims("nbf_future_beyond_leeway", {"nbf": later(90)}),
    claims("nbf_string", {"nbf": lambda o: str(o.now)}),
    claims("nbf_true", {"nbf": True}),
    claims("nbf_negative", {"nbf": -1}, inactive_at_introspection=False),
    claims("nbf_list", {"nbf": lambda o: [o.now]}),
    raw_claims("nbf_nan", lambda o: json.dumps({**o.claims, "nbf": float("nan")})),
    raw_claims("nbf_infinity", lambda o: json.dumps({**o.claims, "nbf": float("inf")})),
    # iat (RSV-06): in the future, not a NumericDate, missing
    claims("iat_future", {"iat": later(3600), "exp": later(7200)},
           inactive_at_introspection=False),
    claims("iat_future_beyond_leeway", {"iat": later(90)}, inactive_at_introspection=False),
    claims("iat_string", {"iat": lambda o: str(o.now)}, inactive_at_introspection=False),
    claims("iat_true", {"iat": True}, inactive_at_introspection=False),
    claims("iat_negative", {"iat": -1}, inactive_at_introspection=False),
    claims("iat_null", {"iat": None}),
    claims("iat_removed", {"iat": DROP}),
    Mutation("iat_nan", lambda o: jws(o.header, Raw(json.dumps({**o.claims, "iat": float("nan")}))),
             inactive_at_introspection=False),
    # jti, sub, client_id (RSV-06 REC): required non-empty strings
    *[claims(f"{name}_removed", {name: DROP}) for name in ("jti", "sub", "client_id")],
    *[claims(f"{name}_{kind}", {name: value})
      for name in ("jti", "sub", "client_id") for kind, value in NOT_STRINGS.items()],
    # scope: not a string (a malformed claim, not too little privilege)
    *[claims(f"scope_{kind}", {"scope": value}, inactive_at_introspection=False)
      for kind, value in {"list": [READ], "int": 1, "dict": {READ: True}, "bool": True,
                          "null": None}.items()],
    # the claims are not a JSON object
    raw_claims("claims_array", lambda o: json.dumps([o.claims])),
    raw_claims("claims_string", lambda o: json.dumps(json.dumps(o.claims))),
    raw_claims("claims_number", lambda o: "1"),
    raw_claims("claims_null", lambda o: "null"),
    raw_claims("claims_empty_object", lambda o: "{}"),
    raw_claims("claims_invalid_json", lambda o: json.dumps(o.claims)[:-1]),
    raw_claims("claims_trailing_garbage", lambda o: json.dumps(o.claims) + "]"),
    Mutation("claims_not_utf8", lambda o: jws(o.header, b'{"iss":"\xff\xfe"}')),
    Mutation("claims_empty", lambda o: jws(o.header, b"")),
    raw_claims("claims_nested_deeply", lambda o: "[" * 2500 + "]" * 2500),
]

# RSV-08: a sender-constrained token presented as a plain Bearer token.
BINDING: list[Mutation] = [
    claims("cnf_jkt", {"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}},
           inactive_at_introspection=False),
    claims("cnf_x5t", {"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}},
           inactive_at_introspection=False),
    claims("cnf_empty", {"cnf": {}}, inactive_at_introspection=False),
    claims("cnf_null", {"cnf": None}, inactive_at_introspection=False),
]

# RSV-05, GEN-06: the signature, never signed again.
SIGNATURE: list[Mutation] = [
    *[string(f"signature_bit_flip_{where}_bit_{bit}",
             lambda o, i=index, b=bit: o.with_signature(flip(o.signature, i, b)))
      for where, index in (("first", 0), ("middle", 128), ("last", -1)) for bit in (0, 7)],
    string("signature_truncated_one_octet", lambda o: o.with_signature(o.signature[:-1])),
    string("signature_truncated_half", lambda o: o.with_signature(o.signature[:128])),
    string("signature_truncated_one_char", lambda o: o.with_signature(o.parts[2][:-1])),
    string("signature_one_octet_more", lambda o: o.with_signature(o.signature + b"\x00")),
    string("signature_leading_zero", lambda o: o.with_signature(b"\x00" + o.signature)),
    string("signature_zeros", lambda o: o.with_signature(bytes(256))),
    string("signature_one_octet", lambda o: o.with_signature(b"\x01")),
    string("signature_removed", lambda o: o.with_signature(b"")),
    string("signature_removed_with_dot", lambda o: f"{o.parts[0]}.{o.parts[1]}"),
    string("signature_by_attacker_key",
           lambda o: jws(o.header, o.claims, signer("RS256", attacker_key))),
    string("signature_by_attacker_key_pss",
           lambda o: jws(o.header, o.claims, signer("PS256", attacker_key))),
    string("signature_reversed", lambda o: o.with_signature(o.signature[::-1])),
    string("signature_of_other_claims",
           lambda o: o.with_signature(b64url_decode(
               jws(o.header, {**o.claims, "scope": WRITE}).split(".")[2]))),
    string("signature_of_header_only", lambda o: o.with_signature(
        real()(o.parts[0].encode()))),
    string("signature_noncanonical_last_char",
           lambda o: o.with_signature(noncanonical_last_char(o.parts[2]))),
    string("signature_standard_base64_alphabet",
           lambda o: o.with_signature(swap_alphabet(o.parts[2]))),
    string("signature_standard_base64_padded", lambda o: o.with_signature(
        base64.b64encode(o.signature).decode())),
    string("signature_tilde_inserted", lambda o: o.with_signature(
        o.parts[2][:10] + "~" + o.parts[2][10:])),
    string("signature_swapped_with_payload",
           lambda o: f"{o.parts[0]}.{o.parts[2]}.{o.parts[1]}"),
    string("signature_with_claims_of_other_token", lambda o: (
        f"{o.parts[0]}.{segment({**o.claims, 'scope': WRITE})}.{o.parts[2]}")),
    string("signature_hex", lambda o: o.with_signature(o.signature.hex())),
]

# BEARER-01, BEARER-09: the compact serialization and the header syntax.
SERIALIZATION: list[Mutation] = [
    string("segments_one", lambda o: o.parts[0]),
    string("segments_two", lambda o: ".".join(o.parts[:2])),
    string("segments_four", lambda o: o.token + "." + o.parts[2]),
    string("segments_four_trailing_dot", lambda o: o.token + "."),
    string("segments_five_like_jwe", lambda o: ".".join([*o.parts, "x", "y"])),
    string("segments_leading_dot", lambda o: "." + o.token),
    string("segments_all_empty", lambda o: ".."),
    string("segments_empty_payload", lambda o: f"{o.parts[0]}..{o.parts[2]}"),
    string("segments_empty_header", lambda o: f".{o.parts[1]}.{o.parts[2]}"),
    string("segments_header_duplicated", lambda o: f"{o.parts[0]}.{o.token}"),
    string("segments_payload_duplicated",
           lambda o: f"{o.parts[0]}.{o.parts[1]}.{o.parts[1]}.{o.parts[2]}"),
    string("segments_signature_duplicated", lambda o: f"{o.token}.{o.parts[2]}"),
    string("segments_header_as_payload", lambda o: f"{o.parts[0]}.{o.parts[0]}.{o.parts[2]}"),
    string("segments_token_twice", lambda o: o.token + o.token),
    string("segments_token_twice_dot", lambda o: o.token + "." + o.token),
    # padding (RFC 7515 §2: none)
    string("padding_at_end", lambda o: o.token + "="),
    string("padding_two_at_end", lambda o: o.token + "=="),
    string("padding_header", lambda o: ".".join(
        [o.parts[0] + "=" * (-len(o.parts[0]) % 4 or 1), *o.parts[1:]])),
    string("padding_payload", lambda o: ".".join(
        [o.parts[0], o.parts[1] + "=" * (-len(o.parts[1]) % 4 or 1), o.parts[2]])),
    string("padding_signature_to_four", lambda o: o.with_signature(
        o.parts[2] + "=" * (-len(o.parts[2]) % 4 or 4))),
    # alphabet: standard base64 characters, characters outside any base64 alphabet
    string("alphabet_standard_header_payload", lambda o: ".".join(
        [*map(swap_alphabet, tildes(o).split(".")[:2]), tildes(o).split(".")[2]])),
    string("alphabet_standard_whole_token", lambda o: swap_alphabet(tildes(o))),
    string("alphabet_tilde_in_payload", lambda o: ".".join(
        [o.parts[0], o.parts[1][:5] + "~" + o.parts[1][5:], o.parts[2]])),
    string("alphabet_percent_encoded_dots", lambda o: o.token.replace(".", "%2E")),
    string("alphabet_non_ascii", lambda o: o.token + "\xe9"),
    string("alphabet_utf8_as_latin1", lambda o: o.token[:20] + "\xc3\xa9" + o.token[20:]),
    string("alphabet_nul", lambda o: o.token[:20] + "\x00" + o.token[20:]),
    string("alphabet_quote", lambda o: f'"{o.token}"'),
    string("alphabet_comma_two_tokens", lambda o: f"{o.token}, {o.token}"),
    string("alphabet_second_credentials", lambda o: f"{o.token}, Bearer {o.token}"),
    # case
    string("case_upper", lambda o: o.token.upper()),
    string("case_lower", lambda o: o.token.lower()),
    string("case_swapped", lambda o: o.token.swapcase()),
    string("case_header_segment_swapped", lambda o: ".".join(
        [o.parts[0].swapcase(), *o.parts[1:]])),
    # whitespace inside or around the token (a leading run of spaces is 1*SP: allowed)
    string("whitespace_trailing_space", lambda o: o.token + " "),
    string("whitespace_trailing_newline", lambda o: o.token + "\n"),
    string("whitespace_trailing_crlf", lambda o: o.token + "\r\n"),
    string("whitespace_leading_tab", lambda o: "\t" + o.token),
    string("whitespace_leading_nbsp", lambda o: "\xa0" + o.token),
    string("whitespace_inside_space", lambda o: o.token[:30] + " " + o.token[30:]),
    string("whitespace_inside_tab", lambda o: o.token[:30] + "\t" + o.token[30:]),
    string("whitespace_around_dots", lambda o: o.token.replace(".", " . ")),
    string("whitespace_line_folded", lambda o: o.token[:30] + "\r\n " + o.token[30:]),
    string("whitespace_vertical_tab", lambda o: o.token + "\x0b"),
    string("whitespace_bearer_repeated", lambda o: "Bearer " + o.token),
    # size
    string("huge_signature_appended", lambda o: o.token + "A" * 10_000),
    string("huge_one_mebibyte", lambda o: o.token + "A" * 1_048_576),
    string("huge_dots", lambda o: "." * 100_000),
    string("huge_just_over_the_limit_resigned", lambda o: at_least(o, MAX_TOKEN + 1)),
    string("huge_claims_resigned", lambda o: padded_claims(o, 100_000)),
    string("empty", lambda o: "", inactive_at_introspection=False),
    string("opaque_prefix", lambda o: "occat_" + o.parts[2]),
    string("opaque_prefix_with_token", lambda o: "occat_" + o.token),
]

# RSV-07: valid tokens without the required scope: 403, not 401.
SCOPE: list[Mutation] = [
    claims("scope_removed", {"scope": DROP}, status=403, inactive_at_introspection=False),
    claims("scope_empty", {"scope": ""}, status=403, inactive_at_introspection=False),
    claims("scope_other", {"scope": WRITE}, status=403, inactive_at_introspection=False),
    claims("scope_upper_case", {"scope": READ.upper()}, status=403,
           inactive_at_introspection=False),
    claims("scope_prefix", {"scope": READ + "x"}, status=403, inactive_at_introspection=False),
    claims("scope_substring", {"scope": READ[:-1]}, status=403, inactive_at_introspection=False),
    claims("scope_joined", {"scope": READ + "," + WRITE}, status=403,
           inactive_at_introspection=False),
]

REFUSED = {"header": HEADER, "claims": CLAIMS, "binding": BINDING, "signature": SIGNATURE,
           "form": SERIALIZATION, "scope": SCOPE}

# Equivalent tokens: the mutation harness itself must not refuse everything.
CONTROLS: list[Mutation] = [
    claims("resigned_unchanged", {}),
    header("typ_upper_case", {"typ": "AT+JWT"}),
    header("typ_mixed_case", {"typ": "At+Jwt"}),
    header("typ_application_at_jwt", {"typ": "application/at+jwt"}),
    header("typ_application_at_jwt_upper_case", {"typ": "APPLICATION/AT+JWT"}),
    header("unknown_header_member", {"x-extra": "ignored"}),
    # RSV-09: jku / x5u / jwk next to the real signature are ignored, never fetched or used
    header("jku_x5u_jwk_ignored", {"jku": "http://127.0.0.1:9/jwks.json",
                                   "x5u": "http://127.0.0.1:9/cert.pem",
                                   "jwk": lambda o: attacker_jwk()}),
    claims("aud_list_with_ours", {"aud": ["https://other.example.test", AUDIENCE]}),
    claims("extra_claim", {"x-extra": {"nested": [1, 2]}}),
    claims("scope_with_more", {"scope": f"{WRITE} {READ}"}),
    claims("nbf_now", {"nbf": later(0)}),
    claims("exp_float", {"exp": lambda o: o.claims["exp"] + 0.5}),
    string("unknown_members_with_tildes", tildes),
    string("two_spaces_after_scheme", lambda o: " " + o.token),
    string("many_spaces_after_scheme", lambda o: " " * 50 + o.token),
]


def ids(mutations: list[Mutation]) -> list[Any]:
    return [pytest.param(m, id=m.name) for m in mutations]


names = [m.name for group in [*REFUSED.values(), CONTROLS] for m in group]
assert len(names) == len(set(names)), "duplicate mutation names"


# --- fixtures and checks --------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_network(no_network: list[Any]) -> list[Any]:
    """RSV-09: no mutation makes the server open a connection (``conftest.no_network``)."""
    return no_network


@pytest.fixture(params=["sole_key", "rotation"])
def keyset(request: pytest.FixtureRequest, signing_key: SigningKey) -> str:
    """One published key (PyJWT's fast path), or two during a rotation (an ES256 key
    published but not yet signing: the general path, key chosen by kid)."""
    if request.param == "rotation":
        install_key("ES256", state=SigningKey.State.PENDING)
    return str(request.param)


#: The token the mutations start from, issued once by the token endpoint and used by every
#: test while it has minutes to live (loading the signing key for each issue is slow). Each
#: test installs the same shared key (same kid), so the token verifies in every test.
_issued: dict[str, Original] = {}


@pytest.fixture
def original(client: Any, make_client: Any, keyset: str) -> Original:
    cached = _issued.get("token")
    if cached is not None and cached.claims["exp"] - time.time() > 120:
        return cached
    c, secret = make_client(scope=f"{READ} {WRITE}", default_scope=READ)
    token = get_token(client, c, secret)
    header_segment, payload_segment, _ = token.split(".")
    header = json.loads(b64url_decode(header_segment))
    claims = json.loads(b64url_decode(payload_segment))
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": real_kid()}
    assert claims["scope"] == READ
    _issued["token"] = Original(token, header, claims)
    return _issued["token"]


def call(client: Any, token: str) -> Any:
    return client.get(WHOAMI, secure=True, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_accepted(client: Any, token: str) -> None:
    response = call(client, token)
    assert response.status_code == 200, response.content
    assert READ in response.json()["scope"].split()


def expected_statuses(mutation: Mutation, token: str) -> set[int]:
    """BEARER-01/09: a header that is not ``Bearer 1*SP b64token`` is a malformed request
    (400), except that a token over ``MAX_ACCESS_TOKEN_LENGTH`` may be refused as too long
    (401) first; a well-formed header with a bad token is 401."""
    if mutation.status is not None:
        return {mutation.status}
    if B64TOKEN.fullmatch(token.lstrip(" ")):
        return {401}
    return {400, 401} if len(token) > MAX_TOKEN else {400}


def assert_refused(response: Any, statuses: set[int]) -> None:
    """BEARER-05, BEARER-06, BEARER-09: status, Bearer challenge with realm and error, and
    the same error in the JSON body."""
    assert response.status_code in statuses, (response.status_code, response.content)
    error = ERRORS[response.status_code]
    challenge = response["WWW-Authenticate"]
    match = CHALLENGE.fullmatch(challenge)
    assert match, challenge
    assert match["error"] == error, challenge
    assert ERROR_TEXT.fullmatch(match["description"] or ""), challenge
    assert (match["scope"] is not None) == (error == "insufficient_scope"), challenge
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert body.get("error_description") == match["description"]
    assert set(body) <= {"error", "error_description", "scope"}
    assert b"Traceback" not in response.content


def check_refused(client: Any, original: Original, mutation: Mutation,
                  caplog: pytest.LogCaptureFixture) -> None:
    token = mutation.build(original)
    if token == original.token:  # pragma: no cover - only when there is nothing to swap
        pytest.skip("this token has no character the mutation changes")
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    assert_accepted(client, original.token)  # warm: keys loaded (the fast path with one)
    for _ in range(2):  # the second answer may come from the rejected-token cache
        assert_refused(call(client, token), expected_statuses(mutation, token))
    assert_accepted(client, original.token)
    assert_quiet_logs(caplog, original.token, token)


def assert_quiet_logs(caplog: pytest.LogCaptureFixture, *tokens: str) -> None:
    """BEARER-10: no token in any log line. And no oauth_cc error: a refusal is expected,
    never an unexpected exception turned into a 401."""
    for record in caplog.records:
        text = caplog.handler.format(record)
        if record.name.startswith("oauth_cc"):
            assert record.levelno < logging.ERROR, text
        for token in tokens:
            for part in {token, *token.split(".")}:
                assert len(part) < 16 or part not in text, text


# --- the tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("mutation", ids(HEADER))
def test_header_mutation_is_refused_RSV_01_RSV_05_RSV_09(client, original, mutation, caplog):
    # RSV-01, RSV-05, RSV-09, BEARER-09
    check_refused(client, original, mutation, caplog)


@pytest.mark.parametrize("mutation", ids(CLAIMS))
def test_claim_mutation_is_refused_RSV_03_RSV_04_RSV_06(client, original, mutation, caplog):
    # RSV-03, RSV-04, RSV-06, BEARER-09
    check_refused(client, original, mutation, caplog)


@pytest.mark.parametrize("mutation", ids(BINDING))
def test_bound_token_as_bearer_is_refused_RSV_08(client, original, mutation, caplog):
    # RSV-08
    check_refused(client, original, mutation, caplog)


@pytest.mark.parametrize("mutation", ids(SIGNATURE))
def test_signature_mutation_is_refused_RSV_05_GEN_06(client, original, mutation, caplog):
    # RSV-05, GEN-06: a token cannot be altered, not even into another spelling of itself
    check_refused(client, original, mutation, caplog)


@pytest.mark.parametrize("mutation", ids(SERIALIZATION))
def test_malformed_token_is_refused_BEARER_01_BEARER_09(client, original, mutation, caplog):
    # BEARER-01, BEARER-05, BEARER-06, BEARER-09
    check_refused(client, original, mutation, caplog)


@pytest.mark.parametrize("mutation", ids(SCOPE))
def test_scope_mutation_is_insufficient_scope_RSV_07(client, original, mutation, caplog):
    # RSV-07, BEARER-05
    check_refused(client, original, mutation, caplog)


@pytest.mark.parametrize("mutation", ids(CONTROLS))
def test_equivalent_token_is_accepted_RSV_01_BEARER_01(client, original, mutation):
    # RSV-01 (typ compared case-insensitively), BEARER-01 (1*SP), RSV-04 (aud list),
    # RSV-09 (jku, x5u and jwk ignored: the no_network fixture sees no connection)
    token = mutation.build(original)
    if mutation.name == "resigned_unchanged":  # the harness signs as the issuer does
        assert token == original.token
    else:
        assert token != original.token
    assert_accepted(client, token)
    assert_accepted(client, original.token)


@pytest.fixture
def introspector(make_client: Any, signing_key: SigningKey) -> str:
    c, secret = make_client(scope="introspect", default_scope="introspect",
                            name="introspector", can_introspect=True)
    return basic(c.client_id, secret)


#: Introspection applies the resource server's claim checks (``verification.check_claims``):
#: an unusable exp/nbf (NaN, Infinity, >= 1e11, a string) or an empty jti, sub or client_id
#: is inactive there too (INTRO-05), as the fuzzer first found it was not.
INTROSPECTED = [pytest.param(m, id=m.name) for group in REFUSED.values() for m in group
                if m.inactive_at_introspection]


@pytest.mark.parametrize("mutation", INTROSPECTED)
def test_mutated_token_is_inactive_at_introspection_INTRO_04_INTRO_05(
        client, original, introspector, mutation):
    # INTRO-04, INTRO-05: the authorization server knows the mutated token for no valid one
    token = mutation.build(original)
    if token == original.token:  # pragma: no cover - only when there is nothing to swap
        pytest.skip("this token has no character the mutation changes")
    body = urlencode({"token": token})
    response = client.generic("POST", INTROSPECT, body, content_type=FORM, secure=True,
                              HTTP_AUTHORIZATION=introspector)
    if len(body) > MAX_BODY:
        assert response.status_code == 413
        assert response.json()["error"] == "invalid_request"
        return
    assert response.status_code == 200, response.content
    assert response.content == b'{"active": false}', response.content
    original_response = client.generic(
        "POST", INTROSPECT, urlencode({"token": original.token}), content_type=FORM,
        secure=True, HTTP_AUTHORIZATION=introspector)
    assert original_response.json()["active"] is True
