"""DPoP (RFC 9449) at the token endpoint and at protected DRF and plain views, over HTTP
with real keys (EC P-256, RSA, Ed25519) and proofs made with PyJWT.

Each test names the checklist items (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import secrets
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from oauth_cc import dpop_proof, errors, jose, registry
from oauth_cc.models import Client, TokenFormat
from oauth_cc.resource import dpop as dpop_type
from tests.conftest import assert_error, bearer, post_token
from tests.servers import serving

ROOT = Path(__file__).resolve().parent.parent
TOKEN_URI = "https://testserver/oauth/token"
WHOAMI = "/api/whoami"  # a DRF function view (inventory:read)
PLAIN = "/api/plain/stock"  # a plain Django view (inventory:read)
ITEMS = "/api/items/"  # a DRF viewset: POST needs inventory:write
ALGS = "ES256 RS256 PS256 EdDSA"
ALGS_PARAMETER = f'algs="{ALGS}"'
BOTH_CHALLENGES = f'Bearer realm="api", DPoP realm="api", {ALGS_PARAMETER}'
GRANT = {"grant_type": "client_credentials", "scope": "inventory:read"}


# --- keys and proofs ------------------------------------------------------------------------

@functools.cache
def private_key(kind: str) -> Any:
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "EC384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "RSA1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (refused)
    if kind == "OKP":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


KEY_KIND = {"ES256": "EC", "RS256": "RSA", "PS256": "RSA", "EdDSA": "OKP", "ES384": "EC384"}


class Prover:
    """A DPoP client's key pair and its proofs (RFC 9449 §4.2)."""

    def __init__(self, algorithm: str = "ES256", kind: str | None = None,
                 fresh: bool = False) -> None:
        self.algorithm = algorithm
        kind = kind or KEY_KIND[algorithm]
        if fresh:
            private_key.cache_clear()
        self.private_key = private_key(kind)
        if fresh:
            private_key.cache_clear()
        self.jwk = get_default_algorithms()[algorithm].to_jwk(
            self.private_key.public_key(), as_dict=True)
        self.jkt = jose.thumbprint(self.jwk)

    def private_jwk(self) -> dict[str, Any]:
        return get_default_algorithms()[self.algorithm].to_jwk(self.private_key, as_dict=True)

    def proof(self, method: str, uri: str, *, access_token: str | None = None,
              nonce: str | None = None, iat: float | None = None, jti: str | None = None,
              header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None,
              drop: tuple[str, ...] = (), key: Any = None, algorithm: str | None = None
              ) -> str:
        body: dict[str, Any] = {
            "jti": jti if jti is not None else secrets.token_urlsafe(16),
            "htm": method, "htu": uri,
            "iat": int(time.time()) if iat is None else iat,
        }
        if access_token is not None:
            body["ath"] = dpop_proof.access_token_hash(access_token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        headers = {"typ": "dpop+jwt", "jwk": self.jwk}
        headers.update(header or {})
        headers = {k: v for k, v in headers.items() if v is not None}
        return jwt.encode(body, self.private_key if key is None else key,
                          algorithm=algorithm or self.algorithm, headers=headers)


def dpop(token: str, proof: str | None) -> dict[str, str]:
    headers = {"HTTP_AUTHORIZATION": f"DPoP {token}"}
    if proof is not None:
        headers["HTTP_DPOP"] = proof
    return headers


def resource_uri(path: str) -> str:
    return f"https://testserver{path}"


@pytest.fixture
def reader(make_client: Any, signing_key: Any) -> tuple[Client, str]:
    return make_client(scope="inventory:read read", default_scope="read")


@pytest.fixture
def prover() -> Prover:
    return Prover("ES256")


def token_request(http: Any, c: Client, secret: str, proof: str | None, **extra: Any) -> Any:
    if proof is not None:
        extra["HTTP_DPOP"] = proof
    return post_token(http, GRANT, auth=(c.client_id, secret), **extra)


def bound_token(http: Any, reader: tuple[Client, str], prover: Prover) -> str:
    response = token_request(http, *reader, prover.proof("POST", TOKEN_URI))
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"
    return str(response.json()["access_token"])


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def get(http: Any, path: str, token: str, proof: str | None, method: str = "GET") -> Any:
    return http.generic(method, path, secure=True, **dpop(token, proof))


def assert_resource_error(response: Any, error: str, status: int = 401,
                          scheme: str = "DPoP") -> str:
    """A resource error: status, JSON body with the code, the challenge in ``scheme``."""
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    challenge = str(response["WWW-Authenticate"])
    expected = f'{scheme} realm="api", '
    if scheme == "DPoP":
        expected += f"{ALGS_PARAMETER}, "
    assert challenge.startswith(expected + f'error="{error}"'), challenge
    return challenge


# --- the token endpoint ---------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "PS256", "EdDSA"])
def test_valid_proof_binds_the_token_DPOP_11_DPOP_03(client, reader, algorithm):
    """DPOP-11, JWT-07: token_type DPoP and cnf.jkt = the proof key's RFC 7638 thumbprint, for every
    algorithm of DPOP_SIGNING_ALGORITHMS (DPOP-03: verified with the embedded key)."""
    prover = Prover(algorithm)
    response = token_request(client, *reader, prover.proof("POST", TOKEN_URI))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": prover.jkt}


def test_without_proof_the_token_is_bearer_DPOP_11_TOK_07(client, reader):
    """DPOP-11, TOK-07: no DPoP header, no binding."""
    response = token_request(client, *reader, None)
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in claims_of(response.json()["access_token"])


def test_client_registered_for_dpop_needs_a_proof_DPOP_14_X_10(client, make_client,
                                                               signing_key, prover):
    """DPOP-14, X-10: a client with dpop_bound_access_tokens and no proof: 400
    invalid_dpop_proof; with a proof it gets a DPoP token."""
    registered = make_client(scope="inventory:read", dpop_bound_access_tokens=True)
    body = assert_error(token_request(client, *registered, None), "invalid_dpop_proof")
    assert body["error_description"] == "A DPoP proof is required."
    response = token_request(client, *registered, prover.proof("POST", TOKEN_URI))
    assert response.status_code == 200
    assert response.json()["token_type"] == "DPoP"


def _joined(p: Prover) -> str:
    return p.proof("POST", TOKEN_URI) + ", " + p.proof("POST", TOKEN_URI)


def _private(p: Prover) -> str:
    return p.proof("POST", TOKEN_URI, header={"jwk": p.private_jwk()})


def _unsigned(p: Prover) -> str:
    return jwt.encode({"jti": "x" * 16, "htm": "POST", "htu": TOKEN_URI,
                       "iat": int(time.time())}, None, algorithm="none",
                      headers={"typ": "dpop+jwt", "jwk": p.jwk})


def _hmac(p: Prover) -> str:
    secret = b"a shared secret of thirty-two by"
    oct_jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}
    return p.proof("POST", TOKEN_URI, key=secret, algorithm="HS256",
                   header={"jwk": oct_jwk})


def _hmac_with_public_key(p: Prover) -> str:
    # Algorithm confusion: HS256 keyed with the public key's JSON.
    return p.proof("POST", TOKEN_URI, key=json.dumps(p.jwk).encode() * 2, algorithm="HS256")


def _other_key(p: Prover) -> str:
    return p.proof("POST", TOKEN_URI, header={"jwk": Prover("ES256", fresh=True).jwk})


def _tampered(p: Prover) -> str:
    header, payload, signature = p.proof("POST", TOKEN_URI).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["htm"] = "POST "
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _short_rsa() -> str:
    with warnings.catch_warnings():  # PyJWT warns when signing with it; the server refuses it
        warnings.simplefilter("ignore")
        return Prover("RS256", kind="RSA1024").proof("POST", TOKEN_URI)


INVALID_PROOFS = {
    # DPOP-01: exactly one header with one JWT
    "empty header": ("DPOP-01", lambda p: ""),
    "not a JWT": ("DPOP-01", lambda p: "not-a-jwt"),
    "two segments": ("DPOP-01", lambda p: ".".join(p.proof("POST", TOKEN_URI).split(".")[:2])),
    "two DPoP headers (joined by the server)": ("DPOP-01", _joined),
    "JSON serialisation": ("DPOP-01", lambda p: json.dumps({"payload": "e30"})),
    "oversized": ("DPOP-01", lambda p: "a" * 9000 + ".b.c"),
    # DPOP-02: the JOSE header
    "typ JWT": ("DPOP-02", lambda p: p.proof("POST", TOKEN_URI, header={"typ": "JWT"})),
    "typ at+jwt": ("DPOP-02", lambda p: p.proof("POST", TOKEN_URI, header={"typ": "at+jwt"})),
    "no typ": ("DPOP-02", lambda p: p.proof("POST", TOKEN_URI, header={"typ": None})),
    "alg none": ("DPOP-02", _unsigned),
    "alg HS256 with an oct jwk": ("DPOP-02", _hmac),
    "alg HS256 with the public jwk": ("DPOP-02", _hmac_with_public_key),
    "alg not allow-listed (ES384)": ("DPOP-02", lambda p: Prover("ES384").proof(
        "POST", TOKEN_URI)),
    "private EC jwk": ("DPOP-02", _private),
    "private RSA jwk": ("DPOP-02", lambda p: _private(Prover("RS256"))),
    "private OKP jwk": ("DPOP-02", lambda p: _private(Prover("EdDSA"))),
    "no jwk": ("DPOP-02", lambda p: p.proof("POST", TOKEN_URI, header={"jwk": None})),
    "jwk not an object": ("DPOP-02", lambda p: p.proof("POST", TOKEN_URI,
                                                       header={"jwk": "key"})),
    "jwk of an unknown kty": ("DPOP-02", lambda p: p.proof(
        "POST", TOKEN_URI, header={"jwk": {**p.jwk, "kty": "XYZ"}})),
    "jwk missing a member": ("DPOP-02", lambda p: p.proof(
        "POST", TOKEN_URI, header={"jwk": {k: v for k, v in p.jwk.items() if k != "y"}})),
    "EC key on another curve than alg": ("DPOP-02", lambda p: p.proof(
        "POST", TOKEN_URI, header={"jwk": Prover("ES384").jwk})),
    "RSA key of 1024 bits": ("DPOP-02", lambda p: _short_rsa()),
    "unknown crit": ("DPOP-02", lambda p: p.proof("POST", TOKEN_URI,
                                                  header={"crit": ["urn:x"], "urn:x": 1})),
    # DPOP-03: the signature
    "jwk of another key": ("DPOP-03", _other_key),
    "tampered payload": ("DPOP-03", _tampered),
    # DPOP-04: required claims
    "no jti": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI, drop=("jti",))),
    "no htm": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI, drop=("htm",))),
    "no htu": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI, drop=("htu",))),
    "no iat": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI, drop=("iat",))),
    "empty jti": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI, jti="")),
    "iat a string": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI,
                                                  claims={"iat": str(int(time.time()))})),
    "iat true": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI, claims={"iat": True})),
    "htu a list": ("DPOP-04", lambda p: p.proof("POST", TOKEN_URI, claims={"htu": [TOKEN_URI]})),
    "payload not an object": ("DPOP-04", lambda p: jwt.api_jws.encode(
        b"[1]", p.private_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": p.jwk})),
    # DPOP-08: oversized jti
    "jti of 257 characters": ("DPOP-08", lambda p: p.proof("POST", TOKEN_URI, jti="j" * 257)),
    # DPOP-05: htm
    "htm GET": ("DPOP-05", lambda p: p.proof("GET", TOKEN_URI)),
    "htm post": ("DPOP-05", lambda p: p.proof("post", TOKEN_URI)),
    # DPOP-06: htu
    "htu of another path": ("DPOP-06", lambda p: p.proof("POST", "https://testserver/oauth/x")),
    "htu over http": ("DPOP-06", lambda p: p.proof("POST", "http://testserver/oauth/token")),
    "htu of another host": ("DPOP-06", lambda p: p.proof("POST", "https://as.example.test"
                                                         "/oauth/token")),
    "htu of another port": ("DPOP-06", lambda p: p.proof("POST", "https://testserver:8443"
                                                         "/oauth/token")),
    "htu with a trailing slash": ("DPOP-06", lambda p: p.proof("POST", TOKEN_URI + "/")),
    "htu relative": ("DPOP-06", lambda p: p.proof("POST", "/oauth/token")),
    "htu with user info": ("DPOP-06", lambda p: p.proof("POST", "https://u@testserver"
                                                        "/oauth/token")),
    "htu with a bad port": ("DPOP-06", lambda p: p.proof("POST", "https://testserver:x"
                                                         "/oauth/token")),
    # DPOP-07: iat
    "iat too old": ("DPOP-07", lambda p: p.proof("POST", TOKEN_URI, iat=time.time() - 65)),
    "iat in the future": ("DPOP-07", lambda p: p.proof("POST", TOKEN_URI,
                                                       iat=time.time() + 45)),
    "iat infinite": ("DPOP-07", lambda p: p.proof("POST", TOKEN_URI, claims={"iat": 1e400})),
}


@pytest.mark.parametrize("case", sorted(INVALID_PROOFS))
def test_invalid_proofs_get_invalid_dpop_proof_DPOP_12(client, reader, prover, case):
    """DPOP-12 (and the DPOP-01..08 check each case names): 400 invalid_dpop_proof, as
    JSON with no-store, never a 500 and never a token."""
    requirement, make = INVALID_PROOFS[case]
    assert requirement.startswith("DPOP-0")
    response = token_request(client, *reader, make(prover))
    body = assert_error(response, "invalid_dpop_proof")
    assert "access_token" not in body


@pytest.mark.parametrize("htu", [
    TOKEN_URI + "?query=ignored#and-fragment",
    "HTTPS://TestServer/oauth/token",
    "https://testserver:443/oauth/token",
    "https://testserver/oauth/%74oken",
    "https://testserver/oauth/%74%6F%6b%65%6e",
    "https://testserver/oauth/./token",
    "https://testserver/oauth/x/../token",
    "https://testserver/a/../../oauth/token",
])
def test_htu_is_compared_normalised_DPOP_06(client, reader, prover, htu):
    """DPOP-06: query and fragment ignored; RFC 3986 §6.2.2/§6.2.3 normalisation (case of
    scheme and host, default port, percent-encoding, dot segments) on both sides."""
    response = token_request(client, *reader, prover.proof("POST", htu))
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"


def test_typ_is_compared_case_insensitively_DPOP_02(client, reader, prover):
    """DPOP-02: typ is a media type, compared without case."""
    proof = prover.proof("POST", TOKEN_URI, header={"typ": "DPoP+JWT"})
    assert token_request(client, *reader, proof).status_code == 200


def test_a_proof_is_used_once_DPOP_08(client, reader, prover):
    """DPOP-08: the same proof twice: the second is refused (jti kept per URI)."""
    proof = prover.proof("POST", TOKEN_URI)
    assert token_request(client, *reader, proof).status_code == 200
    body = assert_error(token_request(client, *reader, proof), "invalid_dpop_proof")
    assert body["error_description"] == "The DPoP proof has been used before."


def test_a_proof_is_accepted_within_max_age_and_leeway_DPOP_07(client, reader, prover,
                                                              settings):
    """DPOP-07: an iat up to DPOP_PROOF_MAX_AGE old, or CLOCK_LEEWAY ahead, is accepted;
    the limits follow the settings."""
    now = time.time()
    assert token_request(client, *reader, prover.proof("POST", TOKEN_URI, iat=now - 50)
                         ).status_code == 200
    assert token_request(client, *reader, prover.proof("POST", TOKEN_URI, iat=now + 20)
                         ).status_code == 200
    settings.OAUTH_CC = {**settings.OAUTH_CC, "DPOP_PROOF_MAX_AGE": 10, "CLOCK_LEEWAY": 0}
    assert_error(token_request(client, *reader, prover.proof("POST", TOKEN_URI,
                                                             iat=now - 20)),
                 "invalid_dpop_proof")
    assert_error(token_request(client, *reader, prover.proof("POST", TOKEN_URI,
                                                             iat=now + 5)),
                 "invalid_dpop_proof")


def test_replay_cache_down_fails_closed_at_the_token_endpoint_DPOP_08(client, reader,
                                                                      prover, settings):
    """DPOP-08: without the replay cache no proof is accepted: 503 temporarily_unavailable
    with Retry-After, never "not seen before"."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REPLAY_CACHE": "no-such-cache"}
    response = token_request(client, *reader, prover.proof("POST", TOKEN_URI))
    assert_error(response, "temporarily_unavailable", 503)
    assert response["Retry-After"] == "5"


def test_opaque_clients_cannot_have_bound_tokens(client, make_client, signing_key, prover):
    """DPOP-11 (MAY issue unbound instead; we refuse rather than ignore the proof): an
    opaque-format client with a proof gets the documented 400 invalid_request, no 500."""
    c = make_client(scope="inventory:read", token_format=TokenFormat.OPAQUE)
    body = assert_error(token_request(client, *c, prover.proof("POST", TOKEN_URI)),
                        "invalid_request")
    assert body["error_description"] == "This client's opaque tokens cannot be bound to a key."
    assert token_request(client, *c, None).status_code == 200


# --- nonces ---------------------------------------------------------------------------------

NQCHAR = __import__("re").compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


@pytest.fixture
def nonces(settings: Any) -> None:
    settings.OAUTH_CC = {**settings.OAUTH_CC, "DPOP_REQUIRE_NONCE": True,
                         "DPOP_NONCE_LIFETIME": 300}


def test_nonce_flow_DPOP_09_DPOP_13(client, reader, prover, nonces):
    """DPOP-13: a proof without nonce gets 400 use_dpop_nonce with one DPoP-Nonce header
    (1*NQCHAR), no-store; DPOP-09: the retry with that nonce succeeds."""
    response = token_request(client, *reader, prover.proof("POST", TOKEN_URI))
    assert_error(response, "use_dpop_nonce")
    nonce = response["DPoP-Nonce"]
    assert NQCHAR.fullmatch(nonce)
    assert "," not in nonce  # one value
    retry = token_request(client, *reader, prover.proof("POST", TOKEN_URI, nonce=nonce))
    assert retry.status_code == 200, retry.content
    assert retry.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("nonce", ["", "made-up", "1.AAAAAAAAAAAAAAAAAAAAAA", 7,
                                   "99999999999.AAAAAAAAAAAAAAAAAAAAAA"])
def test_unknown_nonces_are_refused_DPOP_09(client, reader, prover, nonces, nonce):
    """DPOP-09: a nonce this server did not make is answered with a fresh one."""
    response = token_request(client, *reader, prover.proof("POST", TOKEN_URI,
                                                           claims={"nonce": nonce}))
    assert_error(response, "use_dpop_nonce")
    assert dpop_proof.nonce_is_fresh(response["DPoP-Nonce"])


def test_nonces_expire_and_are_unpredictable_DPOP_09_DPOP_13(client, reader, prover, nonces,
                                                            settings, fake_clock):
    """DPOP-09: a nonce is accepted for DPOP_NONCE_LIFETIME (up to one 10-second step more),
    then refused; DPOP-13: nonces come from a key derived from SECRET_KEY, so another key
    makes other nonces and this server refuses them."""
    nonce = dpop_proof.new_nonce()
    fake_clock.advance(299)
    iat = fake_clock.now
    ok = token_request(client, *reader, prover.proof("POST", TOKEN_URI, nonce=nonce, iat=iat))
    assert ok.status_code == 200, ok.content
    fake_clock.advance(12)
    stale = token_request(client, *reader, prover.proof("POST", TOKEN_URI, nonce=nonce,
                                                        iat=fake_clock.now))
    assert_error(stale, "use_dpop_nonce")
    assert stale["DPoP-Nonce"] != nonce
    current = dpop_proof.new_nonce()
    settings.SECRET_KEY = "another-secret-key-for-this-test"
    assert dpop_proof.new_nonce() != current
    assert not dpop_proof.nonce_is_fresh(current)


def test_without_the_nonce_setting_a_nonce_is_not_needed_DPOP_09(client, reader, prover):
    """DPOP-09 applies once the server has issued nonces; by default it issues none."""
    assert token_request(client, *reader, prover.proof("POST", TOKEN_URI)).status_code == 200


# --- metadata and introspection -------------------------------------------------------------

def test_metadata_lists_the_proof_algorithms_DPOP_15_META_09(client, db, settings):
    """DPOP-15, META-09: dpop_signing_alg_values_supported is the asymmetric part of
    DPOP_SIGNING_ALGORITHMS."""
    url = "/.well-known/oauth-authorization-server"
    document = client.get(url, secure=True).json()
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256",
                                                             "EdDSA"]
    settings.OAUTH_CC = {**settings.OAUTH_CC,
                         "DPOP_SIGNING_ALGORITHMS": ["none", "HS256", "ES384", "ES256"]}
    document = client.get(url, secure=True).json()
    assert document["dpop_signing_alg_values_supported"] == ["ES384", "ES256"]


def test_introspection_reports_dpop_and_jkt_DPOP_15_INTRO_03(client, reader, make_client,
                                                            prover):
    """DPOP-15, INTRO-03: token_type DPoP and the top-level cnf.jkt."""
    token = bound_token(client, reader, prover)
    inspector, secret = make_client(can_introspect=True)
    response = post_token(client, {"token": token}, url="/oauth/introspect",
                          auth=(inspector.client_id, secret))
    body = response.json()
    assert body["active"] is True
    assert body["token_type"] == "DPoP"
    assert body["cnf"] == {"jkt": prover.jkt}
    assert registry.token_type_of({"cnf": {"jkt": prover.jkt}}) == "DPoP"
    assert registry.token_type_of({}) == "Bearer"


# --- resource servers -----------------------------------------------------------------------

@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "EdDSA"])
def test_dpop_token_with_its_proof_is_accepted_DPOP_16_DPOP_10(client, reader, path,
                                                              algorithm):
    """DPOP-16, DPOP-10: Authorization: DPoP plus a proof for this method, URI, token (ath)
    and key (cnf.jkt), at a DRF view and a plain Django view."""
    prover = Prover(algorithm)
    token = bound_token(client, reader, prover)
    proof = prover.proof("GET", resource_uri(path), access_token=token)
    response = get(client, path, token, proof)
    assert response.status_code == 200, response.content
    assert response.json()["client_id"] == reader[0].client_id


def test_scheme_is_case_insensitive_DPOP_16(client, reader, prover):
    """DPOP-16 with RFC 9110 §11.1: the scheme name is case-insensitive."""
    token = bound_token(client, reader, prover)
    response = client.get(WHOAMI, secure=True, HTTP_AUTHORIZATION=f"dpop {token}",
                          HTTP_DPOP=prover.proof("GET", resource_uri(WHOAMI),
                                                 access_token=token))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
def test_bound_token_as_bearer_is_refused_DPOP_17_RSV_08(client, reader, prover, path):
    """DPOP-17, RSV-08: a DPoP-bound token under the Bearer scheme: 401 invalid_token in the
    Bearer challenge, with or without a proof."""
    token = bound_token(client, reader, prover)
    for extra in ({}, {"HTTP_DPOP": prover.proof("GET", resource_uri(path),
                                                 access_token=token)}):
        response = client.get(path, secure=True, **bearer(token), **extra)
        assert_resource_error(response, "invalid_token", scheme="Bearer")


@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
def test_unbound_token_under_dpop_is_invalid_token_DPOP_21(client, reader, prover, path):
    """DPOP-21: a Bearer token under the DPoP scheme, even with a valid proof: 401
    invalid_token in the DPoP challenge."""
    response = token_request(client, *reader, None)
    token = response.json()["access_token"]
    proof = prover.proof("GET", resource_uri(path), access_token=token)
    assert_resource_error(get(client, path, token, proof), "invalid_token")


@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
def test_missing_proof_is_invalid_dpop_proof_DPOP_16_DPOP_18(client, reader, prover, path):
    """DPOP-16, DPOP-18: no DPoP header: 401 with
    WWW-Authenticate: DPoP realm="api", algs="...", error="invalid_dpop_proof"."""
    token = bound_token(client, reader, prover)
    response = get(client, path, token, None)
    challenge = assert_resource_error(response, "invalid_dpop_proof")
    assert challenge == (f'DPoP realm="api", {ALGS_PARAMETER}, error="invalid_dpop_proof", '
                         'error_description="A DPoP proof is required."')


def _resource_cases(prover: Prover, token: str, uri: str) -> dict[str, tuple[str, str]]:
    """Proofs refused at the resource server: case -> (proof, expected error)."""
    other = Prover("ES256", fresh=True)
    return {
        # DPOP-10: ath
        "no ath": (prover.proof("GET", uri), "invalid_dpop_proof"),
        "ath of another token": (prover.proof("GET", uri, access_token=token + "x"),
                                 "invalid_dpop_proof"),
        "ath padded": (prover.proof("GET", uri, claims={
            "ath": dpop_proof.access_token_hash(token) + "="}), "invalid_dpop_proof"),
        "ath not a string": (prover.proof("GET", uri, claims={"ath": 1}),
                             "invalid_dpop_proof"),
        # DPOP-10: jkt: a stolen token used with the thief's own key
        "proof by another key": (other.proof("GET", uri, access_token=token), "invalid_token"),
        # DPOP-05, DPOP-06, DPOP-07 at the resource server
        "htm POST": (prover.proof("POST", uri, access_token=token), "invalid_dpop_proof"),
        "htu of another resource": (prover.proof("GET", resource_uri("/api/stats"),
                                                 access_token=token), "invalid_dpop_proof"),
        "htu of the token endpoint": (prover.proof("GET", TOKEN_URI, access_token=token),
                                      "invalid_dpop_proof"),
        "stale": (prover.proof("GET", uri, access_token=token, iat=time.time() - 120),
                  "invalid_dpop_proof"),
        # DPOP-01..04
        "malformed": ("x.y", "invalid_dpop_proof"),
        "two headers": (prover.proof("GET", uri, access_token=token) + ","
                        + prover.proof("GET", uri, access_token=token), "invalid_dpop_proof"),
        "private key in header": (prover.proof("GET", uri, access_token=token,
                                               header={"jwk": prover.private_jwk()}),
                                  "invalid_dpop_proof"),
        "alg none": (_unsigned(prover), "invalid_dpop_proof"),
        "wrong typ": (prover.proof("GET", uri, access_token=token, header={"typ": "jwt"}),
                      "invalid_dpop_proof"),
        "no iat": (prover.proof("GET", uri, access_token=token, drop=("iat",)),
                   "invalid_dpop_proof"),
        "huge jti": (prover.proof("GET", uri, access_token=token, jti="j" * 300),
                     "invalid_dpop_proof"),
    }


@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
def test_bad_proofs_at_the_resource_DPOP_10_DPOP_18(client, reader, prover, path):
    """DPOP-10 (ath, jkt), DPOP-01..07 at the RS, DPOP-18: each refused with 401 and the
    error in the DPoP challenge (invalid_token for a proof by another key: the stolen-token
    case), never a 500; then a good proof still works."""
    token = bound_token(client, reader, prover)
    uri = resource_uri(path)
    for case, (proof, error) in _resource_cases(prover, token, uri).items():
        response = get(client, path, token, proof)
        assert response.status_code == 401, (case, response.content)
        assert_resource_error(response, error)
    ok = get(client, path, token, prover.proof("GET", uri, access_token=token))
    assert ok.status_code == 200, ok.content


@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
def test_verified_token_cache_never_skips_the_proof_RSV_08_DPOP_08(client, reader, prover,
                                                                 path):
    """RSV-08, DPOP-08, DPOP-10: the token is verified once and cached; the proof is still
    checked on every request: the same proof again (replay), a proof for another URL, by
    another key, or none are refused; a fresh proof is accepted."""
    token = bound_token(client, reader, prover)
    uri = resource_uri(path)
    proof = prover.proof("GET", uri, access_token=token)
    assert get(client, path, token, proof).status_code == 200
    replayed = get(client, path, token, proof)
    assert_resource_error(replayed, "invalid_dpop_proof")
    assert replayed.json()["error_description"] == "The DPoP proof has been used before."
    other_url = prover.proof("GET", resource_uri("/api/health"), access_token=token)
    assert_resource_error(get(client, path, token, other_url), "invalid_dpop_proof")
    thief = Prover("ES256", fresh=True).proof("GET", uri, access_token=token)
    assert_resource_error(get(client, path, token, thief), "invalid_token")
    assert_resource_error(get(client, path, token, None), "invalid_dpop_proof")
    fresh = get(client, path, token, prover.proof("GET", uri, access_token=token))
    assert fresh.status_code == 200


def test_htu_query_is_ignored_at_the_resource_DPOP_06(client, reader, prover):
    """DPOP-06: the request's query is not part of htu (and may be omitted from it)."""
    token = bound_token(client, reader, prover)
    proof = prover.proof("GET", resource_uri(WHOAMI), access_token=token)
    response = client.get(WHOAMI + "?page=2", secure=True, **dpop(token, proof))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
def test_no_credentials_gets_both_challenges_DPOP_20_BEARER_08(client, db, path):
    """DPOP-20, BEARER-08: without credentials (or with another scheme) both schemes are
    challenged, with no error: Bearer realm="api", DPoP realm="api", algs="..."."""
    for headers in ({}, {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}):
        response = client.get(path, secure=True, **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == BOTH_CHALLENGES
        assert "error" not in response.json()


def test_algs_follow_the_setting_DPOP_18(client, db, settings):
    """DPOP-18: algs lists DPOP_SIGNING_ALGORITHMS."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "DPOP_SIGNING_ALGORITHMS": ["EdDSA"]}
    response = client.get(WHOAMI, secure=True)
    assert response["WWW-Authenticate"] == 'Bearer realm="api", DPoP realm="api", algs="EdDSA"'


@pytest.mark.parametrize("path", [ITEMS, "/t/plain-per-method"])
def test_insufficient_scope_in_the_dpop_scheme_DPOP_18_BEARER_05(client, make_client,
                                                                signing_key, prover, path):
    """DPOP-18, BEARER-05: a DPoP token without the scope: 403 insufficient_scope in the
    DPoP challenge (with algs), at a DRF view and a plain view."""
    reader = make_client(scope="inventory:read a", default_scope="inventory:read")
    token = bound_token(client, reader, prover)
    proof = prover.proof("POST", resource_uri(path), access_token=token)
    response = client.post(path, secure=True, **dpop(token, proof))
    assert_resource_error(response, "insufficient_scope", status=403)


@pytest.mark.parametrize("path", [WHOAMI, PLAIN])
def test_replay_cache_down_is_503_at_the_resource_DPOP_08(client, reader, prover, settings,
                                                         path):
    """DPOP-08: the RS fails closed too: 503 temporarily_unavailable as JSON, no challenge
    (the credentials are not at fault)."""
    token = bound_token(client, reader, prover)
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REPLAY_CACHE": "no-such-cache"}
    response = get(client, path, token, prover.proof("GET", resource_uri(path),
                                                     access_token=token))
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "temporarily_unavailable"
    assert "WWW-Authenticate" not in response


def test_malformed_dpop_authorization_is_invalid_request_DPOP_16(client, db):
    """DPOP-16 with BEARER-01's token68 syntax: a malformed DPoP Authorization header is 400
    invalid_request in the DPoP challenge."""
    for value in ("DPoP", "DPoP a b", "DPoP ä", "DPoP a, DPoP b"):
        response = client.get(WHOAMI, secure=True, HTTP_AUTHORIZATION=value)
        assert_resource_error(response, "invalid_request", status=400)


# --- the target URI behind proxies (DPOP-06 REC) --------------------------------------------

def test_htu_scheme_comes_from_a_trusted_proxy_only_DPOP_06(client, reader, prover, settings):
    """DPOP-06 REC: behind a TLS proxy in TRUSTED_PROXIES the target URI is https; the same
    X-Forwarded-Proto from any other address is ignored, so an https htu does not match."""
    token = bound_token(client, reader, prover)
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": ["10.0.0.1"]}
    forwarded = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "192.0.2.7"}
    https_uri = "https://testserver" + WHOAMI
    response = client.get(WHOAMI, REMOTE_ADDR="10.0.0.1", **forwarded,
                          **dpop(token, prover.proof("GET", https_uri, access_token=token)))
    assert response.status_code == 200, response.content
    response = client.get(WHOAMI, REMOTE_ADDR="192.0.2.50", **forwarded,
                          **dpop(token, prover.proof("GET", https_uri, access_token=token)))
    assert_resource_error(response, "invalid_dpop_proof")
    http_uri = "http://testserver" + WHOAMI
    response = client.get(WHOAMI, REMOTE_ADDR="192.0.2.50", **forwarded,
                          **dpop(token, prover.proof("GET", http_uri, access_token=token)))
    assert response.status_code == 200


def test_htu_host_follows_djangos_host_settings_DPOP_06(client, reader, prover, settings):
    """DPOP-06 REC: the host is Django's get_host(): X-Forwarded-Host counts only with
    USE_X_FORWARDED_HOST, only for a host in ALLOWED_HOSTS, and only from a trusted proxy
    (the external URL is derived from trusted proxy configuration)."""
    token = bound_token(client, reader, prover)
    public = "https://api.example.test" + WHOAMI
    headers = {"HTTP_X_FORWARDED_HOST": "api.example.test"}
    refused = client.get(WHOAMI, secure=True, **headers,
                         **dpop(token, prover.proof("GET", public, access_token=token)))
    assert_resource_error(refused, "invalid_dpop_proof")
    settings.USE_X_FORWARDED_HOST = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "api.example.test"]
    from_anyone = client.get(WHOAMI, secure=True, **headers,
                             **dpop(token, prover.proof("GET", public, access_token=token)))
    assert_resource_error(from_anyone, "invalid_dpop_proof")
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": ["127.0.0.1"]}
    accepted = client.get(WHOAMI, secure=True, **headers,
                          **dpop(token, prover.proof("GET", public, access_token=token)))
    assert accepted.status_code == 200, accepted.content


# --- the parts, directly --------------------------------------------------------------------

@pytest.mark.parametrize(("given_uri", "expected"), [
    ("HTTPS://Example.COM:443", "https://example.com/"),
    ("http://example.com:80/a?b#c", "http://example.com/a"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("https://example.com/%7euser/%2e/x/%2E%2E/y", "https://example.com/~user/y"),
    ("https://example.com/a%2fb", "https://example.com/a/b"),
    ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
    ("https://example.com/café", "https://example.com/caf%C3%A9"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://example.com/a/b/..", "https://example.com/a/"),
    ("https://[::1]:443/x", "https://[::1]/x"),
    ("https://example.com/a;b=c", "https://example.com/a;b=c"),
    ("ftp://example.com/", None),
    ("https:///path", None),
    ("https://user@example.com/", None),
    ("https://example.com:99999/", None),
    ("//example.com/", None),
])
def test_uri_normalisation_DPOP_06(given_uri, expected):
    """DPOP-06 SHOULD: RFC 3986 §6.2.2 and §6.2.3."""
    assert dpop_proof.normalise_uri(given_uri) == expected


@hypothesis_settings(deadline=None)  # a GC pause on a busy machine is no failure
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
               max_size=40))
def test_normalisation_is_idempotent_DPOP_06(path):
    """DPOP-06: a normalised URI normalises to itself, so both sides agree."""
    once = dpop_proof.normalise_uri("https://example.com/" + path.replace("#", "")
                                    .replace("?", ""))
    if once is not None:
        assert dpop_proof.normalise_uri(once) == once


def test_nonce_syntax_and_window_DPOP_13(settings):
    """DPOP-13: 1*NQCHAR; accepted from minting until DPOP_NONCE_LIFETIME, then refused."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "DPOP_NONCE_LIFETIME": 60}
    now = 1_700_000_003.0
    nonce = dpop_proof.new_nonce(now)
    assert NQCHAR.fullmatch(nonce)
    assert dpop_proof.nonce_is_fresh(nonce, now)
    assert dpop_proof.nonce_is_fresh(nonce, now + 60)
    assert not dpop_proof.nonce_is_fresh(nonce, now + 75)
    assert not dpop_proof.nonce_is_fresh(nonce, now - 30)
    assert dpop_proof.new_nonce(now + 10) != nonce


def test_proof_keys_are_parsed_once_per_header(client, reader, prover, monkeypatch):
    """A client's proofs share one protected header: its key is parsed once (the
    dpop_keys cache), and caches.clear() forgets it."""
    from oauth_cc import caches

    parsed = []
    original = dpop_proof._parse_key
    monkeypatch.setattr(dpop_proof, "_parse_key",
                        lambda proof: parsed.append(1) or original(proof))
    for _ in range(3):
        assert token_request(client, *reader, prover.proof("POST", TOKEN_URI)
                             ).status_code == 200
    assert len(parsed) == 1
    assert "dpop_keys" in caches.names()
    caches.clear("dpop_keys")
    assert len(dpop_proof.proof_keys) == 0


@pytest.fixture
def without_dpop() -> Iterator[None]:
    registry.token_types.unregister("DPoP")
    yield
    registry.token_types.register(dpop_type.DPoP())


def test_unregistered_dpop_is_neither_challenged_nor_accepted_DPOP_20(client, reader, prover,
                                                                     without_dpop):
    """DPOP-20 applies at an RS accepting both schemes: without the DPoP type registered, the
    bare challenge is Bearer alone, proofs bind nothing, and the metadata omits DPoP."""
    assert client.get(WHOAMI, secure=True)["WWW-Authenticate"] == 'Bearer realm="api"'
    response = token_request(client, *reader, prover.proof("POST", TOKEN_URI))
    assert response.json()["token_type"] == "Bearer"
    document = client.get("/.well-known/oauth-authorization-server", secure=True).json()
    assert "dpop_signing_alg_values_supported" not in document
    assert errors.NoCredentials().challenge() == 'Bearer realm="api"'


# --- two server processes sharing the replay cache (DPOP-08) --------------------------------

def _request(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture
def shared_replay_cache(tmp_path: Path, settings: Any) -> Path:
    """REPLAY_CACHE in a FileBasedCache directory that another process can share."""
    location = tmp_path / "replay-cache"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "replay": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                   "LOCATION": str(location)},
    }
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REPLAY_CACHE": "replay"}
    return location


@pytest.fixture
def second_server(tmp_path: Path, live_server: Any, shared_replay_cache: Path
                  ) -> Iterator[int]:
    """A second server process (manage.py runserver, tests settings): a resource server in
    remote mode against the live server's JWKS, sharing the replay cache directory."""
    package = tmp_path / "second"
    package.mkdir()
    (package / "second_settings.py").write_text(textwrap.dedent(f"""
        from tests.settings import *  # noqa: F403
        DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                                  "NAME": {str(tmp_path / "second.sqlite3")!r}}}}}
        CACHES = {{
            "default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
            "replay": {{"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                       "LOCATION": {str(shared_replay_cache)!r}}},
        }}
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        OAUTH_CC = {{**OAUTH_CC, "REPLAY_CACHE": "replay",
                    "JWKS_URI": {live_server.url + "/oauth/jwks"!r},
                    "RESOURCE_AUDIENCE": "https://api.example.test"}}
    """))
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "second_settings",
                   "PYTHONPATH": os.pathsep.join([str(package), str(ROOT)])}
    with serving(lambda port: [sys.executable, str(ROOT / "manage.py"), "runserver",
                               "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
                 env=environment, cwd=ROOT, what="the second server") as server:
        yield server.port


def test_replay_is_refused_across_processes_sharing_the_cache_DPOP_08(
        client, reader, prover, live_server, second_server):
    """DPOP-08 with two server processes (the live server in this process, a runserver
    process) behind one public origin, https://localhost, sharing REPLAY_CACHE: a proof
    used at one instance is refused at the other.

    The jti is scoped by (proof key, htu), so both instances must compute the same target URI:
    as behind one load balancer, every request carries the public Host (localhost, no
    port) and X-Forwarded-Proto https, so each sees https://localhost/api/whoami whatever
    port it listens on. A proof that matches neither instance would prove nothing."""
    token = bound_token(client, reader, prover)
    live_port = int(urlsplit(live_server.url).port or 0)
    public = "https://localhost" + WHOAMI

    def call(port: int, proof: str) -> tuple[int, dict[str, Any]]:
        return _request(port, WHOAMI, {"Host": "localhost", "X-Forwarded-Proto": "https",
                                       "Authorization": f"DPoP {token}", "DPoP": proof})

    for first, second in ((live_port, second_server), (second_server, live_port)):
        proof = prover.proof("GET", public, access_token=token)
        status, body = call(first, proof)
        assert status == 200, body
        status, body = call(second, proof)
        assert status == 401, body
        assert body["error"] == "invalid_dpop_proof"
        assert body["error_description"] == "The DPoP proof has been used before."
    # Each instance accepts a fresh proof: the refusals above are replay, nothing else.
    for port in (live_port, second_server):
        assert call(port, prover.proof("GET", public, access_token=token))[0] == 200


def test_two_dpop_headers_on_the_wire_are_refused_DPOP_01(client, reader, prover,
                                                           live_server, settings):
    """DPOP-01: two DPoP header fields, sent as two lines on a real connection (the server
    joins them with a comma): 401 invalid_dpop_proof."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    token = bound_token(client, reader, prover)
    port = int(urlsplit(live_server.url).port or 0)
    public = "https://localhost" + WHOAMI
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", WHOAMI, skip_host=True)
        for name, value in (("Host", "localhost"), ("X-Forwarded-Proto", "https"),
                            ("Authorization", f"DPoP {token}"),
                            ("DPoP", prover.proof("GET", public, access_token=token)),
                            ("DPoP", prover.proof("GET", public, access_token=token))):
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 401
    assert body["error"] == "invalid_dpop_proof"
    assert body["error_description"] == "Exactly one DPoP header is allowed."
