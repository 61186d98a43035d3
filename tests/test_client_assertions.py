"""JWT client assertions, private_key_jwt and client_secret_jwt (RFC 7523 §2.2, RFC 7521
§4.2), through HTTP at the token, introspection and revocation endpoints.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks. Nothing
cryptographic is mocked: the keys are real, the jwks_uri is served by a real HTTP server on
127.0.0.1, and the replay test runs a second server process.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.server
import io
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError
from django.core.management import call_command
from jwt.algorithms import get_default_algorithms

from oauth_cc import clock, credentials
from oauth_cc.models import Client, ClientSecret
from oauth_cc.registry import client_auth_methods
from oauth_cc.server import client_keys, keys
from tests.conftest import (
    BASIC_CHALLENGE_VALUE,
    ISSUER,
    _private_key,
    assert_error,
    basic,
    post_token,
    verify,
)
from tests.servers import serving

ROOT = Path(__file__).resolve().parent.parent
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
INTROSPECT_URL = "/oauth/introspect"
REVOKE_URL = "/oauth/revoke"
METADATA_URL = "/.well-known/oauth-authorization-server"
TOKEN_ENDPOINT_AUDIENCE = "https://as.example.test/oauth/token"
GRANT = {"grant_type": "client_credentials"}


# --- helpers --------------------------------------------------------------------------------

@functools.cache
def client_private_key(algorithm: str, which: int = 0) -> Any:
    """A client's private key (shared between tests; RSA generation is slow)."""
    if which == 0 and algorithm in ("RS256", "ES256", "EdDSA"):
        return _private_key(algorithm)
    return keys.generate_private_key("RS256" if algorithm == "PS256" else algorithm)


def public_jwk(private_key: Any, algorithm: str, kid: str | None = None,
               **members: Any) -> dict[str, Any]:
    jwk = get_default_algorithms()[algorithm].to_jwk(private_key.public_key(), as_dict=True)
    jwk.update(alg=algorithm, use="sig", **members)
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def jwks_text(*jwks: dict[str, Any]) -> str:
    return json.dumps({"keys": list(jwks)})


def sign(client_id: str, key: Any, algorithm: str, *, kid: str | None = "k1",
         header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A client assertion: iss = sub = client_id, aud = the issuer, 60 s of life, a fresh
    jti; ``claims`` override (None removes a claim)."""
    now = int(clock.timestamp())
    body: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": ISSUER,
                            "exp": now + 60, "iat": now, "jti": secrets.token_urlsafe(12)}
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    headers: dict[str, Any] = {"typ": "client-authentication+jwt"}
    if kid is not None:
        headers["kid"] = kid
    headers.update(header or {})
    headers = {name: value for name, value in headers.items() if value is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def body(assertion: str, **extra: str) -> dict[str, str]:
    return {**GRANT, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion,
            **extra}


@pytest.fixture
def key_client(make_client: Callable[..., tuple[Client, str]], signing_key: Any
               ) -> Callable[..., Client]:
    """A private_key_jwt client with an inline JWK Set (kid ``k1`` unless told)."""

    def make(algorithm: str = "RS256", *, jwks: str | None = None, **fields: Any) -> Client:
        if jwks is None:
            jwks = jwks_text(public_jwk(client_private_key(algorithm), algorithm, "k1"))
        fields.setdefault("token_endpoint_auth_method", "private_key_jwt")
        client, _secret = make_client(jwks=jwks, **fields)
        return client

    return make


@pytest.fixture
def secret_client(make_client: Callable[..., tuple[Client, str]], signing_key: Any
                  ) -> tuple[Client, str]:
    """A client_secret_jwt client and its secret (kept encrypted by the method's seal)."""
    return make_client(token_endpoint_auth_method="client_secret_jwt")


def long_secret(client: Client) -> str:
    """Add a secret long enough for HS512 (64 octets) to a client_secret_jwt client."""
    plaintext = "occs_" + secrets.token_urlsafe(64)
    method = client_auth_methods.get("client_secret_jwt")
    assert method is not None
    ClientSecret.objects.create(client=client, digest=credentials.digest(plaintext),
                                hint=credentials.hint(plaintext),
                                encrypted_secret=method.seal(plaintext))
    return plaintext


# --- success ----------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "EdDSA"])
def test_private_key_jwt_issues_a_token_JWTCA_08_JWTCA_09_CAUTH_08(client, key_client,
                                                                   algorithm):
    """JWTCA-08, JWTCA-09 (RS256), CAUTH-08, BCP-05: each asymmetric algorithm, through HTTP."""
    c = key_client(algorithm)
    assertion = sign(c.client_id, client_private_key(algorithm), algorithm)
    response = post_token(client, body(assertion))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    payload = response.json()
    assert set(payload) == {"access_token", "token_type", "expires_in", "scope"}
    claims = verify(client, payload["access_token"])
    assert claims["client_id"] == claims["sub"] == c.client_id


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_client_secret_jwt_issues_a_token_JWTCA_08(client, secret_client, algorithm):
    """JWTCA-08: HS256/384/512 keyed by the client secret (one at least as long as the
    hash: the generated secret for HS256 and HS384, a longer one for HS512)."""
    c, secret = secret_client
    if algorithm == "HS512":
        secret = long_secret(c)
    response = post_token(client, body(sign(c.client_id, secret, algorithm, kid=None)))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert verify(client, response.json()["access_token"])["sub"] == c.client_id


def test_client_secret_jwt_secret_is_encrypted_at_rest_GEN_07(secret_client):
    """GEN-07: the secret is kept encrypted (KEY_ENCRYPTION_KEYS), never in clear."""
    c, secret = secret_client
    row = ClientSecret.objects.get(client=c)
    assert row.encrypted_secret is not None
    assert secret.encode() not in bytes(row.encrypted_secret)
    assert keys.fernet().decrypt(bytes(row.encrypted_secret)) == secret.encode()


def test_secret_shorter_than_the_hash_is_refused_JWTCA_08(client, secret_client):
    """JWTCA-08: a secret of 49 octets (as generated for client_secret_basic) is too short
    for HS512 (64); one generated for client_secret_jwt is long enough."""
    c, secret = secret_client
    assert len(secret.encode()) >= 64
    response = post_token(client, body(sign(c.client_id, secret, "HS512", kid=None)))
    assert response.status_code == 200, response.content
    short = "occs_" + "a1B2" * 11  # 49 octets, kept encrypted like a generated one
    method = client_auth_methods.get("client_secret_jwt")
    assert method is not None
    ClientSecret.objects.create(client=c, digest=credentials.digest(short),
                                hint=credentials.hint(short), encrypted_secret=method.seal(short))
    response = post_token(client, body(sign(c.client_id, short, "HS512", kid=None)))
    assert_error(response, "invalid_client")


def test_secret_of_a_client_that_switched_method_is_not_usable_JWTCA_08(client, make_client,
                                                                        signing_key):
    """JWTCA-08: a secret created under client_secret_basic kept its digest only."""
    c, secret = make_client()
    c.token_endpoint_auth_method = "client_secret_jwt"
    c.save()
    response = post_token(client, body(sign(c.client_id, secret, "HS256", kid=None)))
    assert_error(response, "invalid_client")
    fresh = c.add_secret()  # the documented remedy: a new secret
    response = post_token(client, body(sign(c.client_id, fresh, "HS256", kid=None)))
    assert response.status_code == 200, response.content


def test_key_without_kid_is_found_by_algorithm_JWTCA_08(client, key_client):
    """JWTCA-08: an assertion without kid is checked with the keys of its algorithm."""
    key = client_private_key("ES256")
    c = key_client(jwks=jwks_text(public_jwk(key, "ES256")))
    response = post_token(client, body(sign(c.client_id, key, "ES256", kid=None)))
    assert response.status_code == 200, response.content


# --- signatures and keys ----------------------------------------------------------------------

def test_forged_signature_is_refused_JWTCA_08_JWTCA_10(client, key_client):
    """JWTCA-08, JWTCA-10: signed by another key under the registered kid."""
    c = key_client("ES256")
    forged = sign(c.client_id, client_private_key("ES256", 1), "ES256")
    response = post_token(client, body(forged))
    assert_error(response, "invalid_client")
    assert "WWW-Authenticate" not in response


def test_tampered_claims_are_refused_JWTCA_08(client, key_client):
    """JWTCA-08: a valid signature over other claims."""
    c = key_client("ES256")
    good = sign(c.client_id, client_private_key("ES256"), "ES256")
    header, _claims, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    claims["exp"] += 100
    tampered = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    assert_error(post_token(client, body(tampered)), "invalid_client")


def test_other_clients_key_is_refused_JWTCA_03_JWTCA_08(client, key_client):
    """JWTCA-03, JWTCA-08: client A signs an assertion naming client B."""
    a = key_client("RS256")
    b = key_client("ES256")
    assertion = sign(b.client_id, client_private_key("RS256"), "RS256")
    assert_error(post_token(client, body(assertion)), "invalid_client")
    # ... and with B's kid and alg but A's key material
    assertion = sign(b.client_id, client_private_key("ES256", 1), "ES256")
    assert_error(post_token(client, body(assertion)), "invalid_client")
    assert a.client_id != b.client_id


def test_alg_none_is_refused_JWTCA_08(client, key_client):
    """JWTCA-08: alg none, whatever the header says."""
    c = key_client()
    unsigned = jwt.encode({"iss": c.client_id, "sub": c.client_id, "aud": ISSUER,
                           "exp": int(time.time()) + 60, "jti": "x"}, None, algorithm="none")
    assert_error(post_token(client, body(unsigned)), "invalid_client")
    assert_error(post_token(client, body(unsigned.rstrip(".") + ".")), "invalid_client")


def test_hmac_with_the_registered_public_key_is_refused_JWTCA_08(client, key_client):
    """JWTCA-08 (RFC 8725 §2.1): an HS256 MAC keyed with the PEM of the client's RSA
    public key, the classic algorithm-confusion attack. Built by hand, since PyJWT rightly
    refuses to make it."""
    c = key_client("RS256")
    pem = client_private_key("RS256").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    now = int(time.time())
    claims = b64url(json.dumps({"iss": c.client_id, "sub": c.client_id, "aud": ISSUER,
                                "exp": now + 60, "iat": now, "jti": "confused"}).encode())
    mac = hmac.new(pem, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assertion = f"{header}.{claims}.{b64url(mac)}"
    assert_error(post_token(client, body(assertion)), "invalid_client")
    # The JWK's own JSON as the key does not work either.
    jwk_key = json.dumps(json.loads(c.jwks)["keys"][0]).encode()
    mac = hmac.new(jwk_key, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert_error(post_token(client, body(f"{header}.{claims}.{b64url(mac)}")),
                 "invalid_client")


def test_algorithm_not_in_the_allow_list_is_refused_JWTCA_08(client, key_client, settings):
    """JWTCA-08: the server's allow-list decides, and each key serves one algorithm."""
    c = key_client("RS256")
    key = client_private_key("RS256")
    # The RS256 key used with PS256 (same key type, other algorithm) is refused.
    assert_error(post_token(client, body(sign(c.client_id, key, "PS256"))), "invalid_client")
    settings.OAUTH_CC = {**settings.OAUTH_CC, "PRIVATE_KEY_JWT_ALGORITHMS": ["ES256"]}
    assert_error(post_token(client, body(sign(c.client_id, key, "RS256"))), "invalid_client")


def test_private_members_make_a_key_unusable_JWTCA_08(client, key_client):
    """JWTCA-08: a JWK with private members is never used (nor registrable)."""
    key = client_private_key("ES256")
    private = get_default_algorithms()["ES256"].to_jwk(key, as_dict=True)
    private.update(kid="k1", alg="ES256")
    c = key_client(jwks=jwks_text(private))
    assert_error(post_token(client, body(sign(c.client_id, key, "ES256"))), "invalid_client")
    with pytest.raises(ValidationError) as caught:
        c.full_clean()
    assert "jwks" in caught.value.message_dict


def test_malformed_assertions_are_invalid_client_never_500_JWTCA_10(client, key_client):
    """JWTCA-10: garbage, a JWE-like value, two JWTs, an oversized value."""
    c = key_client()
    good = sign(c.client_id, client_private_key("RS256"), "RS256")
    # An empty value counts as absent (RFC 6749 §3.1): only the type is left (JWTCA-01).
    assert_error(post_token(client, body("")), "invalid_request")
    for value in ["abc", "a.b.c", "a.b.c.d.e", f"{good} {good}", good + "x" * 9000,
                  "\x00.\x00.\x00"]:
        assert_error(post_token(client, body(value)), "invalid_client")


def test_unknown_and_inactive_clients_are_invalid_client_JWTCA_10(client, key_client):
    """JWTCA-10, CAUTH-07: an unknown or inactive client answers as a bad signature."""
    key = client_private_key("RS256")
    assert_error(post_token(client, body(sign("no-such-client", key, "RS256"))),
                 "invalid_client")
    c = key_client(is_active=False)
    assert_error(post_token(client, body(sign(c.client_id, key, "RS256"))), "invalid_client")
    assert_error(post_token(client, body(sign("no-such-client", "x" * 40, "HS256"))),
                 "invalid_client")


# --- claims -----------------------------------------------------------------------------------

@pytest.fixture
def rs_client(key_client: Callable[..., Client]) -> Client:
    return key_client("RS256")


def rs(c: Client, **claims: Any) -> str:
    return sign(c.client_id, client_private_key("RS256"), "RS256", **claims)


def test_client_id_parameter_must_match_JWTCA_02(client, rs_client, key_client):
    """JWTCA-02: a client_id parameter names the assertion's client, or is refused."""
    other = key_client("ES256")
    refused = post_token(client, body(rs(rs_client), client_id=other.client_id))
    assert_error(refused, "invalid_client")
    accepted = post_token(client, body(rs(rs_client), client_id=rs_client.client_id))
    assert accepted.status_code == 200, accepted.content


def test_iss_and_sub_must_be_the_client_id_JWTCA_03(client, rs_client):
    """JWTCA-03: sub differing, sub missing, iss not a string."""
    for claims in ({"sub": "someone-else"}, {"sub": None}, {"sub": rs_client.client_id + " "}):
        assert_error(post_token(client, body(rs(rs_client, **claims))), "invalid_client")
    assert_error(post_token(client, body(rs(rs_client, iss=None))), "invalid_client")


def test_audience_is_the_issuer_JWTCA_04_X_06(client, rs_client, settings):
    """JWTCA-04, X-06: the issuer, as a string or a one-element array; the token endpoint
    URL only with CLIENT_ASSERTION_ACCEPT_TOKEN_ENDPOINT_AUDIENCE."""
    assert post_token(client, body(rs(rs_client, aud=[ISSUER]))).status_code == 200
    for aud in ([ISSUER, "https://other.example"], "https://other.example", ISSUER + "/",
                TOKEN_ENDPOINT_AUDIENCE, [TOKEN_ENDPOINT_AUDIENCE], [], None):
        assert_error(post_token(client, body(rs(rs_client, aud=aud))), "invalid_client")
    settings.OAUTH_CC = {**settings.OAUTH_CC,
                         "CLIENT_ASSERTION_ACCEPT_TOKEN_ENDPOINT_AUDIENCE": True}
    for aud in (TOKEN_ENDPOINT_AUDIENCE, [TOKEN_ENDPOINT_AUDIENCE], ISSUER):
        assert post_token(client, body(rs(rs_client, aud=aud))).status_code == 200
    assert_error(post_token(client, body(rs(rs_client, aud=[ISSUER, TOKEN_ENDPOINT_AUDIENCE]))),
                 "invalid_client")


def test_expired_assertion_is_refused_JWTCA_05(client, rs_client, fake_clock):
    """JWTCA-05: exp in the past (beyond CLOCK_LEEWAY), exp missing."""
    now = int(fake_clock.now)
    assert_error(post_token(client, body(rs(rs_client, iat=now - 100, exp=now - 31))),
                 "invalid_client")
    assert_error(post_token(client, body(rs(rs_client, exp=None))), "invalid_client")
    assert_error(post_token(client, body(rs(rs_client, exp=str(now + 60)))), "invalid_client")
    # Within the leeway it is still accepted.
    ok = post_token(client, body(rs(rs_client, iat=now - 100, exp=now - 10)))
    assert ok.status_code == 200, ok.content


def test_assertion_lifetime_is_capped_JWTCA_05(client, rs_client, fake_clock, settings):
    """JWTCA-05: exp too far from now, or from iat (CLIENT_ASSERTION_MAX_LIFETIME)."""
    now = int(fake_clock.now)
    assert_error(post_token(client, body(rs(rs_client, iat=None, exp=now + 3600))),
                 "invalid_client")
    assert_error(post_token(client, body(rs(rs_client, iat=now - 20, exp=now + 290))),
                 "invalid_client")
    assert post_token(client, body(rs(rs_client, exp=now + 300))).status_code == 200
    settings.OAUTH_CC = {**settings.OAUTH_CC, "CLIENT_ASSERTION_MAX_LIFETIME": 60}
    assert_error(post_token(client, body(rs(rs_client, exp=now + 120))), "invalid_client")


def test_not_yet_valid_assertion_is_refused_JWTCA_06(client, rs_client, fake_clock):
    """JWTCA-06: nbf or iat in the future beyond CLOCK_LEEWAY."""
    now = int(fake_clock.now)
    assert_error(post_token(client, body(rs(rs_client, nbf=now + 60, exp=now + 120))),
                 "invalid_client")
    assert_error(post_token(client, body(rs(rs_client, iat=now + 60, exp=now + 120))),
                 "invalid_client")
    ok = post_token(client, body(rs(rs_client, nbf=now + 10, iat=now + 10)))
    assert ok.status_code == 200, ok.content


def test_jti_is_required_and_single_use_JWTCA_07(client, rs_client):
    """JWTCA-07: no jti, an empty or non-string jti; a jti used twice."""
    for jti in (None, "", 12, "x" * 300):
        assert_error(post_token(client, body(rs(rs_client, jti=jti))), "invalid_client")
    assertion = rs(rs_client)
    assert post_token(client, body(assertion)).status_code == 200
    assert_error(post_token(client, body(assertion)), "invalid_client")
    # The same jti in a new assertion is refused too (keyed by client_id and jti).
    jti = jwt.decode(assertion, options={"verify_signature": False})["jti"]
    assert_error(post_token(client, body(rs(rs_client, jti=jti))), "invalid_client")


def test_jti_of_a_refused_assertion_is_not_burnt_JWTCA_07(client, rs_client):
    """JWTCA-07: only a verified assertion records its jti (a forger cannot burn one)."""
    jti = "chosen-by-the-client"
    forged = sign(rs_client.client_id, client_private_key("RS256", 1), "RS256", jti=jti)
    assert_error(post_token(client, body(forged)), "invalid_client")
    assert post_token(client, body(rs(rs_client, jti=jti))).status_code == 200


def test_replay_cache_unavailable_is_503_JWTCA_07(client, rs_client, settings):
    """JWTCA-07: the replay cache fails closed: 503 temporarily_unavailable."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REPLAY_CACHE": "no-such-cache"}
    response = post_token(client, body(rs(rs_client)))
    assert_error(response, "temporarily_unavailable", status=503)
    assert response["Retry-After"] == "5"


def test_typ_of_other_jwts_is_refused_JWTCA_11(client, rs_client):
    """JWTCA-11: at+jwt and dpop+jwt refused; no typ, JWT and the explicit type accepted."""
    for typ in ("at+jwt", "application/at+jwt", "dpop+jwt", "AT+JWT", "secevent+jwt"):
        assertion = rs(rs_client, header={"typ": typ})
        assert_error(post_token(client, body(assertion)), "invalid_client")
    for typ in (None, "JWT", "client-authentication+jwt",
                "application/client-authentication+jwt"):
        response = post_token(client, body(rs(rs_client, header={"typ": typ})))
        assert response.status_code == 200, (typ, response.content)


def test_unknown_crit_is_refused_JWTCA_12(client, rs_client):
    """JWTCA-12: a critical extension this server does not understand."""
    for header in ({"crit": ["urn:example:ext"], "urn:example:ext": 1}, {"crit": ["exp"]},
                   {"crit": "b64"}):
        assert_error(post_token(client, body(rs(rs_client, header=header))), "invalid_client")


def test_claims_must_be_valid_JWTCA_12(client, rs_client):
    """JWTCA-12: malformed registered claims make the JWT invalid."""
    now = int(time.time())
    for claims in ({"nbf": "soon"}, {"iat": True}, {"exp": now + 1e12}, {"aud": 5}):
        assert_error(post_token(client, body(rs(rs_client, **claims))), "invalid_client")


# --- the request ------------------------------------------------------------------------------

def test_assertion_type_must_match_and_come_with_the_assertion_JWTCA_01(client, rs_client):
    """JWTCA-01: exact type; only one of the pair is 400 invalid_request (DEC)."""
    assertion = rs(rs_client)
    only_type = {**GRANT, "client_assertion_type": ASSERTION_TYPE}
    assert_error(post_token(client, only_type), "invalid_request")
    only_assertion = {**GRANT, "client_assertion": assertion}
    assert_error(post_token(client, only_assertion), "invalid_request")
    for wrong in (ASSERTION_TYPE.upper(), ASSERTION_TYPE + " ",
                  "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"):
        assert_error(post_token(client, {**body(assertion), "client_assertion_type": wrong}),
                     "invalid_client")
    assert post_token(client, body(assertion)).status_code == 200


def test_assertion_parameters_must_not_repeat_JWTCA_01(client, rs_client):
    """JWTCA-01: exactly one JWT: a repeated client_assertion is a malformed request."""
    pairs = [*body(rs(rs_client)).items(), ("client_assertion", rs(rs_client))]
    assert_error(post_token(client, pairs), "invalid_request")


def test_assertion_with_client_secret_is_invalid_client_X_01_CAUTH_05(client, secret_client):
    """X-01, CAUTH-05: assertion + client_secret in the body: 400 invalid_client."""
    c, secret = secret_client
    assertion = sign(c.client_id, secret, "HS256", kid=None)
    response = post_token(client, body(assertion, client_id=c.client_id,
                                       client_secret=secret))
    assert_error(response, "invalid_client")
    assert "WWW-Authenticate" not in response


def test_assertion_with_basic_header_is_401_X_01_X_07_CAUTH_05(client, secret_client):
    """X-01, X-07, CAUTH-05: assertion + Basic: 401 invalid_client with a Basic challenge."""
    c, secret = secret_client
    assertion = sign(c.client_id, secret, "HS256", kid=None)
    response = post_token(client, body(assertion), auth=(c.client_id, secret))
    assert_error(response, "invalid_client", status=401)
    assert response["WWW-Authenticate"] == BASIC_CHALLENGE_VALUE
    assert basic(c.client_id, secret).startswith("Basic ")


def test_assertion_with_another_authorization_scheme_is_401_X_07(client, rs_client):
    """X-07: an Authorization header nobody uses next to an assertion."""
    response = post_token(client, body(rs(rs_client)), authorization="Bearer abc")
    assert_error(response, "invalid_client", status=401)


def test_failures_are_400_without_challenge_JWTCA_10_X_07(client, rs_client):
    """JWTCA-10, X-07: no Authorization header was used: 400, no WWW-Authenticate."""
    response = post_token(client, body(rs(rs_client, aud="https://elsewhere.example")))
    assert_error(response, "invalid_client", status=400)
    assert "WWW-Authenticate" not in response
    assert response.json()["error_description"] == "Client authentication failed."


def test_client_registered_for_another_method_is_refused_CAUTH_07(client, key_client,
                                                                  make_client, signing_key):
    """CAUTH-07: a client_secret_basic client presenting a valid assertion."""
    c = key_client(token_endpoint_auth_method="client_secret_basic")
    assert_error(post_token(client, body(rs(c))), "invalid_client")
    # and a private_key_jwt client presenting its secret
    pk = key_client()
    secret = pk.add_secret()
    assert_error(post_token(client, GRANT, auth=(pk.client_id, secret)), "invalid_client",
                 status=401)


def test_failure_logs_never_contain_the_assertion_JWTCA_10(client, rs_client, caplog):
    """JWTCA-10: failures are logged with a reason and the client_id, not the JWT."""
    caplog.set_level(logging.INFO, logger="oauth_cc")
    assertion = rs(rs_client, aud="https://elsewhere.example")
    assert_error(post_token(client, body(assertion)), "invalid_client")
    text = caplog.text
    assert "aud does not name this server" in text
    assert rs_client.client_id in text
    assert assertion not in text and assertion.split(".")[2] not in text


# --- introspection and revocation -----------------------------------------------------------

def test_introspection_and_revocation_accept_assertions_JWTCA_04_CAUTH_09(client, key_client):
    """JWTCA-04, CAUTH-09: the same assertion audience at introspection and revocation."""
    c = key_client("ES256", can_introspect=True)
    key = client_private_key("ES256")
    token = post_token(client, body(sign(c.client_id, key, "ES256"))).json()["access_token"]
    query = {"token": token, "client_assertion_type": ASSERTION_TYPE}
    response = post_token(client, {**query, "client_assertion": sign(c.client_id, key,
                                                                     "ES256")},
                          url=INTROSPECT_URL)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response.json()["active"] is True
    assert response.json()["client_id"] == c.client_id
    refused = post_token(client, {**query, "client_assertion": sign(
        c.client_id, key, "ES256", aud=TOKEN_ENDPOINT_AUDIENCE)}, url=INTROSPECT_URL)
    assert_error(refused, "invalid_client")
    response = post_token(client, {**query, "client_assertion": sign(c.client_id, key,
                                                                     "ES256")},
                          url=REVOKE_URL)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    response = post_token(client, {**query, "client_assertion": sign(c.client_id, key,
                                                                     "ES256")},
                          url=INTROSPECT_URL)
    assert response.json() == {"active": False}


def test_token_endpoint_audience_setting_applies_to_introspection_X_06(client, key_client,
                                                                      settings):
    """X-06: with the legacy setting, the token endpoint URL is accepted there too."""
    settings.OAUTH_CC = {**settings.OAUTH_CC,
                         "CLIENT_ASSERTION_ACCEPT_TOKEN_ENDPOINT_AUDIENCE": True}
    c = key_client("ES256", can_introspect=True)
    key = client_private_key("ES256")
    response = post_token(client, {
        "token": "whatever", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": sign(c.client_id, key, "ES256", aud=TOKEN_ENDPOINT_AUDIENCE)},
        url=INTROSPECT_URL)
    assert response.status_code == 200, response.content
    assert response.json() == {"active": False}


# --- metadata ---------------------------------------------------------------------------------

def test_metadata_lists_methods_and_algorithms_META(client, db, settings):
    """META-06, META-07: both methods per endpoint, with their signing algorithms; the
    placeholder that refused assertions is gone."""
    document = client.get(METADATA_URL).json()
    for endpoint in ("token", "introspection", "revocation"):
        methods = document[f"{endpoint}_endpoint_auth_methods_supported"]
        assert {"private_key_jwt", "client_secret_jwt"} <= set(methods)
        assert "client_assertion" not in methods
        algorithms = document[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert algorithms == ["RS256", "PS256", "ES256", "EdDSA", "HS256", "HS384", "HS512"]
        assert "none" not in algorithms
    settings.OAUTH_CC = {**settings.OAUTH_CC, "PRIVATE_KEY_JWT_ALGORITHMS": ["ES256", "none"],
                         "CLIENT_SECRET_JWT_ALGORITHMS": ["HS512"]}
    document = client.get(METADATA_URL).json()
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "HS512"]


def test_methods_are_registered_and_choosable_CAUTH_07():
    """CAUTH-07: both are registered methods a client can be registered for."""
    from oauth_cc.registry import client_auth_method_choices

    names = [name for name, _label in client_auth_method_choices()]
    assert "private_key_jwt" in names and "client_secret_jwt" in names
    assert "client_assertion" not in client_auth_methods


# --- registration ----------------------------------------------------------------------------

def test_private_key_jwt_registration_needs_keys_CAUTH_07(db, settings):
    """CAUTH-07: exactly one of jwks and jwks_uri, public keys, https."""
    jwk = public_jwk(client_private_key("ES256"), "ES256", "k1")

    def problems(**fields: Any) -> dict[str, Any]:
        c = Client(name="registration", token_endpoint_auth_method="private_key_jwt", **fields)
        try:
            c.full_clean()
        except ValidationError as error:
            return error.message_dict
        return {}

    assert "jwks" in problems()
    assert "jwks_uri" in problems(jwks=jwks_text(jwk), jwks_uri="https://c.example/jwks")
    assert "jwks" in problems(jwks="{not json")
    assert "jwks" in problems(jwks=json.dumps({"keys": "no"}))
    assert "jwks" in problems(jwks=jwks_text({"kty": "oct", "k": "c2VjcmV0"}))
    assert "jwks" in problems(jwks=jwks_text({**jwk, "alg": "HS256"}))
    assert "jwks_uri" in problems(jwks_uri="http://c.example/jwks")
    assert problems(jwks=jwks_text(jwk)) == {}
    assert problems(jwks_uri="https://c.example/jwks") == {}
    c = Client(name="secret jwt", token_endpoint_auth_method="client_secret_jwt")
    c.full_clean()  # needs nothing but secrets


# --- rotatekeys --reencrypt ------------------------------------------------------------------

def test_rotatekeys_reencrypt_covers_client_secrets_GEN_07(client, secret_client, settings,
                                                           signing_key):
    """GEN-07: after a new key-encryption key is put first, --reencrypt moves the kept
    client_secret_jwt secrets to it, and the old key can be dropped."""
    c, secret = secret_client
    old = settings.OAUTH_CC["KEY_ENCRYPTION_KEYS"]
    new = Fernet.generate_key().decode()
    settings.OAUTH_CC = {**settings.OAUTH_CC, "KEY_ENCRYPTION_KEYS": [new, *old]}
    out = io.StringIO()
    call_command("rotatekeys", "--reencrypt", stdout=out)
    assert "Re-encrypted 1 client secret(s)" in out.getvalue()
    row = ClientSecret.objects.get(client=c)
    assert Fernet(new.encode()).decrypt(bytes(row.encrypted_secret)) == secret.encode()
    settings.OAUTH_CC = {**settings.OAUTH_CC, "KEY_ENCRYPTION_KEYS": [new]}
    response = post_token(client, body(sign(c.client_id, secret, "HS256", kid=None)))
    assert response.status_code == 200, response.content


def test_rotatekeys_reencrypt_fails_whole_when_a_secret_cannot_be_read_GEN_07(
        secret_client, signing_key):
    """GEN-07: a kept secret that no key decrypts stops the command, which then changes
    nothing (the signing keys included)."""
    from django.core.management.base import CommandError

    c, _secret = secret_client
    unreadable = Fernet(Fernet.generate_key()).encrypt(b"lost")
    ClientSecret.objects.filter(client=c).update(encrypted_secret=unreadable)
    signing_before = bytes(type(signing_key).objects.get(pk=signing_key.pk)
                           .encrypted_private_key)
    with pytest.raises(CommandError, match="client"):
        call_command("rotatekeys", "--reencrypt", stdout=io.StringIO())
    assert bytes(ClientSecret.objects.get(client=c).encrypted_secret) == unreadable
    assert bytes(type(signing_key).objects.get(pk=signing_key.pk)
                 .encrypted_private_key) == signing_before


# --- jwks_uri, served by a real HTTP server on 127.0.0.1 ----------------------------------

class JwksServer:
    """A tiny JWKS host: what it answers is set by the test; it counts requests."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.raw: bytes | None = None
        self.status = 200
        self.delay = 0.0
        self.redirect: str | None = None
        self.hits: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                if server.delay:
                    time.sleep(server.delay)
                if self.path == "/moved" or server.redirect is None:
                    payload = server.raw if server.raw is not None else json.dumps(
                        server.document).encode()
                    self.send_response(server.status)
                    self.send_header("Content-Type", "application/jwk-set+json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    try:
                        self.wfile.write(payload)
                    except OSError:
                        pass
                    return
                self.send_response(302)
                self.send_header("Location", server.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server(settings: Any) -> Iterator[JwksServer]:
    settings.DEBUG = True  # http to a loopback address is allowed only while DEBUG is on
    server = JwksServer()
    yield server
    server.stop()


@pytest.fixture
def uri_client(jwks_server: JwksServer, make_client: Callable[..., tuple[Client, str]],
               signing_key: Any) -> Client:
    key = client_private_key("ES256")
    jwks_server.document = {"keys": [public_jwk(key, "ES256", "k1")]}
    client, _ = make_client(token_endpoint_auth_method="private_key_jwt",
                            jwks_uri=f"{jwks_server.url}/jwks")
    return client


def es(c: Client, which: int = 0, kid: str = "k1", **claims: Any) -> str:
    return sign(c.client_id, client_private_key("ES256", which), "ES256", kid=kid, **claims)


def test_jwks_uri_keys_are_fetched_and_cached_JWTCA_08(client, uri_client, jwks_server):
    """JWTCA-08: keys from the jwks_uri, fetched once and cached."""
    for _ in range(3):
        response = post_token(client, body(es(uri_client)))
        assert response.status_code == 200, response.content
    assert jwks_server.hits == ["/jwks"]


def test_jwks_uri_rotation_refetches_once_then_rate_limits_JWTCA_08(
        client, uri_client, jwks_server, fake_clock, settings):
    """JWTCA-08: an unknown kid triggers one refetch (the client rotated its key); more
    unknown kids within CLIENT_JWKS_MIN_REFRESH_SECONDS fetch nothing; after the cache
    time the set is fetched again."""
    assert post_token(client, body(es(uri_client))).status_code == 200
    assert len(jwks_server.hits) == 1
    fake_clock.advance(31)  # past CLIENT_JWKS_MIN_REFRESH_SECONDS (30)
    jwks_server.document = {"keys": [public_jwk(client_private_key("ES256"), "ES256", "k1"),
                                     public_jwk(client_private_key("ES256", 1), "ES256",
                                                "k2")]}
    response = post_token(client, body(es(uri_client, which=1, kid="k2")))
    assert response.status_code == 200, response.content
    assert len(jwks_server.hits) == 2
    for kid in ("k3", "k4", "k5"):  # made-up kids: no fetch
        assert_error(post_token(client, body(es(uri_client, kid=kid))), "invalid_client")
    assert len(jwks_server.hits) == 2
    fake_clock.advance(31)
    assert_error(post_token(client, body(es(uri_client, kid="k6"))), "invalid_client")
    assert len(jwks_server.hits) == 3
    assert post_token(client, body(es(uri_client, which=1, kid="k2"))).status_code == 200
    assert len(jwks_server.hits) == 3
    fake_clock.advance(301)  # CLIENT_JWKS_CACHE_SECONDS
    assert post_token(client, body(es(uri_client))).status_code == 200
    assert len(jwks_server.hits) == 4


def test_jwks_uri_redirect_is_not_followed_JWTCA_10(client, uri_client, jwks_server, caplog):
    """JWTCA-10: a 3xx is a failed fetch: invalid_client, logged, never followed."""
    caplog.set_level(logging.WARNING, logger="oauth_cc")
    jwks_server.redirect = f"{jwks_server.url}/moved"
    assert_error(post_token(client, body(es(uri_client))), "invalid_client")
    assert jwks_server.hits == ["/jwks"]
    assert "cannot fetch the JWK Set" in caplog.text


def test_jwks_uri_timeout_is_invalid_client_JWTCA_10(client, uri_client, jwks_server,
                                                    settings, caplog):
    """JWTCA-10: a host slower than CLIENT_JWKS_TIMEOUT: invalid_client, not a hang."""
    caplog.set_level(logging.WARNING, logger="oauth_cc")
    settings.OAUTH_CC = {**settings.OAUTH_CC, "CLIENT_JWKS_TIMEOUT": 0.2}
    jwks_server.delay = 1.0
    started = time.monotonic()
    assert_error(post_token(client, body(es(uri_client))), "invalid_client")
    assert time.monotonic() - started < 5
    assert "cannot fetch the JWK Set" in caplog.text


@pytest.mark.parametrize("answer", [
    pytest.param({"raw": b"{not json"}, id="garbage"),
    pytest.param({"raw": b"[]"}, id="not-a-set"),
    pytest.param({"raw": b'{"keys": ' + b"[" + b"1," * 60000 + b"1]}"}, id="too-large"),
    pytest.param({"status": 500}, id="server-error"),
    pytest.param({"status": 404}, id="not-found"),
])
def test_jwks_uri_failures_are_invalid_client_never_500_JWTCA_10(
        client, uri_client, jwks_server, answer):
    """JWTCA-10: garbage JSON, a non-set, an oversized body, an HTTP error."""
    for name, value in answer.items():
        setattr(jwks_server, name, value)
    assert_error(post_token(client, body(es(uri_client))), "invalid_client")
    # A failure is remembered for CLIENT_JWKS_MIN_REFRESH_SECONDS: no hammering.
    assert_error(post_token(client, body(es(uri_client))), "invalid_client")
    assert len(jwks_server.hits) == 1


def test_jwks_uri_failed_refetch_keeps_the_keys_held_JWTCA_08(client, uri_client,
                                                              jwks_server, fake_clock):
    """JWTCA-08: the host going down does not forget keys fetched before."""
    assert post_token(client, body(es(uri_client))).status_code == 200
    jwks_server.status = 500
    fake_clock.advance(301)
    assert post_token(client, body(es(uri_client))).status_code == 200
    assert len(jwks_server.hits) == 2


def test_jwks_uri_http_needs_debug_and_loopback_JWTCA_08(client, uri_client, jwks_server,
                                                         settings):
    """JWTCA-08: plain http is refused outside DEBUG (no fetch at all)."""
    settings.DEBUG = False
    assert_error(post_token(client, body(es(uri_client))), "invalid_client")
    assert jwks_server.hits == []
    assert not client_keys.jwks_uri_allowed("http://example.com/jwks")
    assert not client_keys.jwks_uri_allowed("ftp://127.0.0.1/jwks")
    assert client_keys.jwks_uri_allowed("https://example.com/jwks")


def test_certificates_of_the_client_keys():
    """The x5c leaf certificates, for self_signed_tls_client_auth (RFC 8705 §2.2)."""
    der = b"\x30\x82certificate-bytes"
    jwk = public_jwk(client_private_key("ES256"), "ES256", "k1",
                     x5c=[base64.b64encode(der).decode(), base64.b64encode(b"ca").decode()])
    c = Client(client_id="x5c", jwks=jwks_text(jwk, {"kty": "RSA", "x5c": ["%%%"]}))
    assert client_keys.certificates(c) == [der]
    assert client_keys.certificates(Client(client_id="none")) == []


# --- replay across two processes sharing REPLAY_CACHE ---------------------------------------

SECOND_SERVER_SETTINGS = """
from tests.server_settings import *  # noqa: F403

CACHES = {{
    "default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    "replay": {{"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
               "LOCATION": {location!r}}},
}}
OAUTH_CC = {{**OAUTH_CC, "REPLAY_CACHE": "replay"}}  # noqa: F405
"""

SECOND_SERVER_SETUP = """
import os
from oauth_cc.models import Client, Scope
from oauth_cc.server import keys
keys.rotate()
Scope.objects.get_or_create(name="read")
Client.objects.create(client_id=os.environ["TEST_CLIENT_ID"], name="two processes",
                      token_endpoint_auth_method="private_key_jwt",
                      jwks=os.environ["TEST_CLIENT_JWKS"],
                      allowed_scopes="read", default_scopes="read")
"""


def _post(url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (loopback http only)
        url, data=urlencode(form).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Forwarded-Proto": "https"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture
def second_server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Another process serving the test project: its own SQLite file, the same file-based
    REPLAY_CACHE as this process. Yields (url, client_id, jwks)."""
    cache_dir = tmp_path / "replay-cache"
    (tmp_path / "second_settings.py").write_text(
        SECOND_SERVER_SETTINGS.format(location=str(cache_dir)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTH_CC_TEST")}
    env.update(DJANGO_SETTINGS_MODULE="second_settings",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]),
               OAUTH_CC_SQLITE_FILE=str(tmp_path / "db.sqlite3"))
    django_admin = [sys.executable, "-m", "django"]
    client_id = "two-processes-" + secrets.token_hex(4)
    jwks = jwks_text(public_jwk(client_private_key("ES256"), "ES256", "k1"))
    subprocess.run([*django_admin, "migrate", "--noinput", "-v", "0"], env=env, check=True,
                   cwd=ROOT, timeout=120)
    subprocess.run([*django_admin, "shell", "-c", SECOND_SERVER_SETUP],
                   env={**env, "TEST_CLIENT_ID": client_id, "TEST_CLIENT_JWKS": jwks},
                   check=True, cwd=ROOT, timeout=60, capture_output=True)
    with serving(lambda port: [*django_admin, "runserver", f"127.0.0.1:{port}",
                               "--noreload", "--skip-checks"],
                 env=env, cwd=ROOT, what="the second server") as server:
        yield server.url, client_id, jwks


def test_replay_is_refused_across_two_processes_JWTCA_07(second_server, live_server,
                                                         settings, make_client, signing_key,
                                                         tmp_path):
    """JWTCA-07: an assertion accepted by one process is refused by another that shares
    REPLAY_CACHE (here a file-based cache; production uses Redis or Memcached)."""
    url, client_id, jwks = second_server
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "replay": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                   "LOCATION": str(tmp_path / "replay-cache")},
    }
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REPLAY_CACHE": "replay"}
    make_client(client_id=client_id, token_endpoint_auth_method="private_key_jwt", jwks=jwks,
                scope="read")
    key = client_private_key("ES256")
    here = f"{live_server.url}/oauth/token"
    there = f"{url}/oauth/token"
    for first, second in ((there, here), (here, there)):
        assertion = sign(client_id, key, "ES256")
        status, payload = _post(first, body(assertion))
        assert status == 200, payload
        status, payload = _post(second, body(assertion))
        assert status == 400, payload
        assert payload["error"] == "invalid_client"


# --- cost ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_jwt"])
def test_warm_assertion_path_runs_one_query_CAUTH_08(client, key_client, secret_client,
                                                     django_assert_num_queries, method):
    """CAUTH-08: one query finds the client fully loaded (with its secrets for
    client_secret_jwt); keys seen before are not parsed again."""
    if method == "private_key_jwt":
        c = key_client("ES256")

        def assertion() -> str:
            return sign(c.client_id, client_private_key("ES256"), "ES256")
    else:
        c, secret = secret_client

        def assertion() -> str:
            return sign(c.client_id, secret, "HS256", kid=None)
    assert post_token(client, body(assertion())).status_code == 200  # warm
    with django_assert_num_queries(1):
        assert post_token(client, body(assertion())).status_code == 200


def test_failed_assertions_are_throttled_per_client_CAUTH_06(client, rs_client, settings,
                                                            fake_clock):
    """CAUTH-06: failures count against the client the assertion names (its iss). The clock
    stands still, so that the counting window can't end mid-test."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "THROTTLE_FAILURES_PER_CLIENT": 2}
    for _ in range(2):
        assert_error(post_token(client, body(rs(rs_client, aud="https://x.example"))),
                     "invalid_client")
    response = post_token(client, body(rs(rs_client)))
    assert response.status_code == 429, response.content
    assert response.json()["error"] == "temporarily_unavailable"
