"""Attacks on strong client authentication and sender-constrained tokens, from a review of
that work: private_key_jwt / client_secret_jwt, mTLS, DPoP, scopes per audience and the DOT
import.

Every test goes through HTTP (Django's test client, or Django's own ASGI handler where the
server's header mapping is the point) and names the checklist item it checks
(../shared/spec/CHECKLIST.md). The review's defects (signed DPoP proofs with a huge iat, a
lone surrogate in htu or a deeply nested payload were 500s; importdot crashed on two clients
sharing a clear secret) are fixed, and their tests here keep them fixed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from asgiref.sync import async_to_sync
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command
from django.core.signals import request_started
from django.db import close_old_connections, connection
from django.test import Client as HttpClient

import tests.test_client_assertions as assertion_tests
import tests.test_dpop as dpop_tests
import tests.test_mtls as mtls_tests
from oauth_cc import dpop_proof
from oauth_cc.models import Client
from oauth_cc.server import client_assertion
from tests.conftest import FORM, TOKEN_URL, assert_error, bearer, post_token
from tests.mtls_nginx.certificates import self_signed
from tests.test_client_assertions import (
    INTROSPECT_URL,
    REVOKE_URL,
    body,
    client_private_key,
    public_jwk,
    sign,
)
from tests.test_dpop import (
    TOKEN_URI,
    WHOAMI,
    Prover,
    bound_token,
    claims_of,
    get,
    resource_uri,
    token_request,
)
from tests.test_mtls import PROXY, via_proxy

# The fixtures of the feature test modules, used here under the same names.
key_client = assertion_tests.key_client
secret_client = assertion_tests.secret_client
reader = dpop_tests.reader
prover = dpop_tests.prover
mtls = mtls_tests.mtls
ca = mtls_tests.ca
billing = mtls_tests.billing
other = mtls_tests.other
tls_client = mtls_tests.tls_client
self_signed_client = mtls_tests.self_signed_client
bound_secret_client = mtls_tests.bound_secret_client

GRANT = {"grant_type": "client_credentials"}


def lenient_http() -> HttpClient:
    """A test client that answers an unhandled exception with Django's 500 response, as a
    server would, instead of raising it into the test."""
    return HttpClient(raise_request_exception=False)


# === DPoP: hostile but correctly signed proofs must not crash the server ====================
# Anyone can sign a proof with a key of their own; only the client authentication at the token
# endpoint (or a valid bound token at the resource) stands before these checks.

def _nested_payload_proof(p: Prover, method: str, uri: str, access_token: str | None = None
                          ) -> str:
    """A correctly signed proof whose payload holds an array nested 2,500 deep (under the
    8,192-character limit of the header), which json.loads refuses with RecursionError."""
    claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": uri,
              "iat": int(time.time())}
    if access_token is not None:
        claims["ath"] = dpop_proof.access_token_hash(access_token)
    payload = json.dumps(claims)[:-1] + ', "x": ' + "[" * 2500 + "]" * 2500 + "}"
    return jwt.api_jws.PyJWS().encode(payload.encode(), p.private_key, algorithm="ES256",
                                       headers={"typ": "dpop+jwt", "jwk": p.jwk})


HOSTILE_TOKEN_ENDPOINT_PROOFS = {
    # math.isfinite(int) converts to float: OverflowError (dpop_proof.py:313)
    "iat an integer beyond float range": lambda p: p.proof("POST", TOKEN_URI, iat=10**400),
    # quote(..., errors="surrogateescape") cannot encode U+D800: UnicodeEncodeError
    # (dpop_proof.py:139, reached from normalise_uri at dpop_proof.py:310)
    "htu with a lone surrogate": lambda p: p.proof("POST", TOKEN_URI + "\ud800"),
    # json.loads raised RecursionError on Python < 3.13 (and parsed it on 3.13): refused by
    # depth now, the same on every version (dpop_proof.MAX_NESTING)
    "payload nested 2,500 deep": lambda p: _nested_payload_proof(p, "POST", TOKEN_URI),
}


@pytest.mark.parametrize("case", list(HOSTILE_TOKEN_ENDPOINT_PROOFS))
def test_hostile_signed_proof_is_invalid_dpop_proof_not_500_DPOP_12_DPOP_07_DPOP_06(
        reader, prover, case):
    """DPOP-12 (an invalid proof is 400 invalid_dpop_proof), DPOP-04/06/07: a proof whose
    iat, htu or payload is absurd, but which is signed by its own key, is refused like any
    other invalid proof."""
    http = lenient_http()
    response = token_request(http, *reader, HOSTILE_TOKEN_ENDPOINT_PROOFS[case](prover))
    assert_error(response, "invalid_dpop_proof")


@pytest.mark.parametrize("case", ["iat", "htu", "nested"])
def test_hostile_signed_proof_at_the_resource_is_401_DPOP_16_DPOP_18(
        client, reader, prover, case):
    """DPOP-16, DPOP-18: with a valid DPoP-bound token, a hostile proof by the token's own
    key is 401 invalid_dpop_proof in the DPoP challenge, never a 500."""
    token = bound_token(client, reader, prover)
    uri = resource_uri(WHOAMI)
    proof = {
        "iat": lambda: prover.proof("GET", uri, access_token=token, iat=10**400),
        "htu": lambda: prover.proof("GET", uri + "\ud800", access_token=token),
        "nested": lambda: _nested_payload_proof(prover, "GET", uri, token),
    }[case]()
    response = get(lenient_http(), WHOAMI, token, proof)
    assert response.status_code == 401, response.status_code
    assert response.json()["error"] == "invalid_dpop_proof"


def test_absurd_but_representable_proof_values_are_refused_DPOP_07(client, reader, prover):
    """DPOP-07: other absurd values are refused cleanly too: iat as a float beyond range
    (JSON 1e400 is infinity), NaN, far past."""
    for iat in (float("inf"), float("nan"), 1e300, -1e300, 0):
        response = token_request(client, *reader, prover.proof("POST", TOKEN_URI, iat=iat))
        assert_error(response, "invalid_dpop_proof")


# === DPoP: htu normalisation and binding ====================================================

@pytest.mark.parametrize("htu", [
    "HTTPS://TESTSERVER/oauth/token",           # scheme and host are case-insensitive
    "https://testserver:443/oauth/token",       # default port
    "https://testserver/oauth/%74oken",         # an encoded unreserved character
    "https://testserver/oauth/./token",         # a dot segment
    "https://testserver/oauth/token?x=1#frag",  # query and fragment are ignored
])
def test_equivalent_htu_spellings_are_accepted_DPOP_06(client, reader, prover, htu):
    """DPOP-06 SHOULD: both sides normalised per RFC 3986 §6.2.2-6.2.3."""
    response = token_request(client, *reader, prover.proof("POST", htu))
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("htu", [
    "https://testserver/oauth/token/",          # trailing slash: another resource
    "https://testserver/oauth/token%2F",        # the same, encoded
    "https://testserver/OAUTH/token",           # the path is case-sensitive
    "https://testserver:8443/oauth/token",      # another port
    "https://localhost/oauth/token",            # another (allowed) host
    "https://user@testserver/oauth/token",      # user information
    "https://testserver/oauth/token/..",        # dot segments leave the endpoint
])
def test_htu_of_another_resource_is_refused_DPOP_06(client, reader, prover, htu):
    """DPOP-06: no normalisation turns a proof for another URI into one for this one."""
    assert_error(token_request(client, *reader, prover.proof("POST", htu)),
                 "invalid_dpop_proof")


def test_host_header_of_another_allowed_host_does_not_match_DPOP_06(client, reader, prover):
    """DPOP-06 REC: the target URI's host is the request's (ALLOWED_HOSTS), so a proof for
    testserver is refused on a request addressed to localhost, and vice versa."""
    proof = prover.proof("POST", TOKEN_URI)
    assert_error(token_request(client, *reader, proof, HTTP_HOST="localhost"),
                 "invalid_dpop_proof")
    moved = prover.proof("POST", "https://localhost/oauth/token")
    assert token_request(client, *reader, moved, HTTP_HOST="localhost").status_code == 200


def test_jwk_with_kid_and_x5c_binds_to_the_rfc7638_thumbprint_DPOP_02_THUMB_03(
        client, reader, prover, billing):
    """DPOP-02, THUMB-03: a proof key that also carries kid, alg, use and an x5c of some other
    certificate is bound by its RFC 7638 thumbprint (the extra members change nothing); the
    x5c is never used as a key."""
    decorated = {**prover.jwk, "kid": "attacker-kid", "use": "sig", "alg": "ES256",
                 "x5c": [base64.b64encode(billing.der).decode()]}
    response = token_request(client, *reader,
                             prover.proof("POST", TOKEN_URI, header={"jwk": decorated}))
    assert response.status_code == 200, response.content
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": prover.jkt}


def test_ath_of_another_token_and_another_key_are_refused_DPOP_10(client, reader, prover):
    """DPOP-10: a proof by the right key with the ath of another token of the same client is
    invalid_dpop_proof; a thief's proof with the right ath is invalid_token (the token is
    bound to another key)."""
    token = bound_token(client, reader, prover)
    second = bound_token(client, reader, prover)
    uri = resource_uri(WHOAMI)
    wrong_ath = get(client, WHOAMI, token, prover.proof("GET", uri, access_token=second))
    assert wrong_ath.status_code == 401
    assert wrong_ath.json()["error"] == "invalid_dpop_proof"
    thief = Prover("ES256", fresh=True)
    stolen = get(client, WHOAMI, token, thief.proof("GET", uri, access_token=token))
    assert stolen.status_code == 401
    assert stolen.json()["error"] == "invalid_token"


@pytest.mark.parametrize("scheme", ["dpop", "DPOP", "dPoP"])
def test_dpop_scheme_is_case_insensitive_DPOP_16_GEN_08(client, reader, prover, scheme):
    """GEN-08: auth-scheme names are case-insensitive; the bound token still needs its
    proof under any spelling."""
    token = bound_token(client, reader, prover)
    proof = prover.proof("GET", resource_uri(WHOAMI), access_token=token)
    ok = client.get(WHOAMI, secure=True, HTTP_AUTHORIZATION=f"{scheme} {token}",
                    HTTP_DPOP=proof)
    assert ok.status_code == 200, ok.content
    missing = client.get(WHOAMI, secure=True, HTTP_AUTHORIZATION=f"{scheme} {token}")
    assert missing.status_code == 401
    assert missing.json()["error"] == "invalid_dpop_proof"


def test_bound_token_under_lowercase_bearer_is_refused_DPOP_17_RSV_08(client, reader, prover):
    """DPOP-17, RSV-08: a DPoP-bound token under "bearer" (any case) is 401 invalid_token."""
    token = bound_token(client, reader, prover)
    response = client.get(WHOAMI, secure=True, HTTP_AUTHORIZATION=f"bearer {token}",
                          HTTP_DPOP=prover.proof("GET", resource_uri(WHOAMI),
                                                 access_token=token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_dpop_resource_request_makes_no_query(client, reader, prover,
                                              django_assert_num_queries):
    """The hot path: a DPoP-protected call with a cached token reads no database row (the
    replay record is a cache add())."""
    token = bound_token(client, reader, prover)
    uri = resource_uri(WHOAMI)
    assert get(client, WHOAMI, token, prover.proof("GET", uri, access_token=token)
               ).status_code == 200
    with django_assert_num_queries(0):
        response = get(client, WHOAMI, token, prover.proof("GET", uri, access_token=token))
    assert response.status_code == 200


def test_dpop_token_request_costs_one_query(client, reader, prover,
                                            django_assert_num_queries):
    """The DPoP binding adds no query to a token request (client_secret_basic: one)."""
    token_request(client, *reader, prover.proof("POST", TOKEN_URI))  # warm the caches
    with django_assert_num_queries(1):
        response = token_request(client, *reader, prover.proof("POST", TOKEN_URI))
    assert response.status_code == 200


# === JWT client assertions ===================================================================

def test_assertion_used_at_the_token_endpoint_is_refused_at_introspection_JWTCA_07(
        client, key_client):
    """JWTCA-07: the jti is recorded per client, not per endpoint: an assertion spent at
    /oauth/token cannot be replayed at /oauth/introspect or /oauth/revoke."""
    c = key_client(can_introspect=True)
    assertion = sign(c.client_id, client_private_key("RS256"), "RS256")
    assert post_token(client, body(assertion)).status_code == 200
    for url in (INTROSPECT_URL, REVOKE_URL):
        params = {"client_assertion_type": client_assertion.ASSERTION_TYPE,
                  "client_assertion": assertion, "token": "x"}
        assert_error(post_token(client, params, url=url), "invalid_client")


def test_assertion_used_at_introspection_is_refused_at_the_token_endpoint_JWTCA_07(
        client, key_client):
    """JWTCA-07: the other direction."""
    c = key_client(can_introspect=True)
    assertion = sign(c.client_id, client_private_key("RS256"), "RS256")
    params = {"client_assertion_type": client_assertion.ASSERTION_TYPE,
              "client_assertion": assertion, "token": "x"}
    first = post_token(client, params, url=INTROSPECT_URL)
    assert first.status_code == 200, first.content
    assert_error(post_token(client, body(assertion)), "invalid_client")


def test_same_jti_for_two_clients_is_not_a_replay_JWTCA_07(client, key_client):
    """JWTCA-07: the replay cache is keyed by (client_id, jti): one client's jti never locks
    another client out."""
    first, second = key_client(), key_client()
    for c in (first, second):
        assertion = sign(c.client_id, client_private_key("RS256"), "RS256", jti="shared-jti")
        assert post_token(client, body(assertion)).status_code == 200


def _public_pem() -> bytes:
    return client_private_key("RS256").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("mac_key", ["pem", "jwk-json", "n"])
def test_hmac_keyed_with_the_public_key_is_refused_JWTCA_08(client, key_client, mac_key):
    """JWTCA-08 (RFC 8725 §3.1, algorithm confusion): an HS256 assertion whose MAC key is the
    client's public key (its PEM, its JWK as JSON, its modulus) is checked as
    client_secret_jwt against the client's secrets, never against its public key."""
    c = key_client()
    jwk = public_jwk(client_private_key("RS256"), "RS256", "k1")
    key = {"pem": _public_pem(), "jwk-json": json.dumps(jwk).encode(),
           "n": jwk["n"].encode()}[mac_key]
    forged = jwt.api_jws.PyJWS().encode(
        json.dumps({"iss": c.client_id, "sub": c.client_id, "aud": "https://as.example.test",
                    "exp": int(time.time()) + 60, "jti": secrets.token_urlsafe(8)}).encode(),
        b"x" * 32, algorithm="HS256", headers={"kid": "k1"})
    # PyJWT refuses to sign HS256 with a PEM; forge the MAC by hand.
    import hashlib
    import hmac as hmac_module
    signing_input = forged.rsplit(".", 1)[0].encode()
    mac = hmac_module.new(key, signing_input, hashlib.sha256).digest()
    forged = signing_input.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert_error(post_token(client, body(forged)), "invalid_client")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_unsigned_assertion_is_refused_JWTCA_08(client, key_client, alg):
    """JWTCA-08: alg none in any spelling (and an empty alg) is refused."""
    c = key_client()
    header = base64.urlsafe_b64encode(json.dumps({"alg": alg, "kid": "k1"}).encode())
    claims = {"iss": c.client_id, "sub": c.client_id, "aud": "https://as.example.test",
              "exp": int(time.time()) + 60, "jti": secrets.token_urlsafe(8)}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode())
    unsigned = header.rstrip(b"=").decode() + "." + payload.rstrip(b"=").decode() + "."
    assert_error(post_token(client, body(unsigned)), "invalid_client")


@pytest.mark.parametrize("injected", ["jwk", "jku", "x5u", "x5c", "kid-of-the-client"])
def test_header_key_injection_is_ignored_JWTCA_08_RSV_09(client, key_client, injected):
    """JWTCA-08, RSV-09 (RFC 8725 §3.10): an assertion signed by an attacker's key is refused
    whatever the header says about keys: an embedded jwk or x5c, a jku or x5u to fetch (never
    followed), or the kid of the client's registered key."""
    c = key_client()
    attacker = client_private_key("RS256", which=1)
    attacker_jwk = public_jwk(attacker, "RS256")
    header: dict[str, Any] = {
        "jwk": {"jwk": attacker_jwk},
        "jku": {"jku": "https://attacker.example/jwks.json"},
        "x5u": {"x5u": "https://attacker.example/cert.pem"},
        "x5c": {"x5c": ["MIIB"]},
        "kid-of-the-client": {},
    }[injected]
    kid = None if injected == "jwk" else "k1"
    assertion = sign(c.client_id, attacker, "RS256", kid=kid, header=header)
    assert_error(post_token(client, body(assertion)), "invalid_client")


def test_assertion_expiry_edges_with_the_leeway_JWTCA_05(client, key_client, fake_clock):
    """JWTCA-05: refused once now >= exp + CLOCK_LEEWAY (30 s), accepted a second before; a
    lifetime (exp - iat) of exactly CLIENT_ASSERTION_MAX_LIFETIME passes, one more fails."""
    c = key_client()
    key = client_private_key("RS256")
    now = int(fake_clock.now)
    fake_clock.now = float(now)
    assert_error(post_token(client, body(sign(c.client_id, key, "RS256", exp=now - 30,
                                              iat=now - 60))), "invalid_client")
    assert post_token(client, body(sign(c.client_id, key, "RS256", exp=now - 29,
                                        iat=now - 60))).status_code == 200
    assert post_token(client, body(sign(c.client_id, key, "RS256", exp=now + 200,
                                        iat=now - 100))).status_code == 200
    assert_error(post_token(client, body(sign(c.client_id, key, "RS256", exp=now + 200,
                                              iat=now - 101))), "invalid_client")
    assert_error(post_token(client, body(sign(c.client_id, key, "RS256", iat=None,
                                              exp=now + 331))), "invalid_client")


@pytest.mark.parametrize("claims", [
    {"exp": 10**400}, {"iat": 10**400}, {"nbf": 10**400}, {"exp": float("inf")},
    {"iat": float("nan")}, {"aud": [1]}, {"aud": {"a": 1}}, {"jti": 10**400},
    {"sub": ["x"]}, {"exp": "9999999999"},
])
def test_absurd_assertion_claims_are_invalid_client_not_500_JWTCA_10(client, key_client,
                                                                     claims):
    """JWTCA-10: correctly signed assertions with absurd claim values are invalid_client
    (unlike the DPoP proofs above, the assertion path survives all of these)."""
    c = key_client()
    assertion = sign(c.client_id, client_private_key("RS256"), "RS256", **claims)
    assert_error(post_token(lenient_http(), body(assertion)), "invalid_client")


def test_unknown_client_costs_one_signature_check_like_a_known_one_CAUTH_07(
        client, key_client, monkeypatch):
    """CAUTH-07 (timing): an unknown client_id makes the server verify the signature once
    (with a dummy key), as a known client with a wrong signature does."""
    calls: list[str] = []
    original = client_assertion._AssertionMethod._decode

    def counting(assertion: str, key: Any, algorithm: str, client_id: str) -> Any:
        calls.append(client_id)
        return original(assertion, key, algorithm, client_id)

    monkeypatch.setattr(client_assertion._AssertionMethod, "_decode", staticmethod(counting))
    c = key_client()
    attacker = client_private_key("RS256", which=1)
    assert_error(post_token(client, body(sign(c.client_id, attacker, "RS256"))),
                 "invalid_client")
    assert_error(post_token(client, body(sign("no-such-client", attacker, "RS256"))),
                 "invalid_client")
    assert calls == [c.client_id, "no-such-client"]


def test_assertion_token_requests_cost_one_query(client, key_client, secret_client,
                                                 django_assert_num_queries):
    """The hot path: private_key_jwt (inline JWKS, parsed once) and client_secret_jwt each
    read one row set; an unknown client costs the same one query."""
    c = key_client("ES256")
    post_token(client, body(sign(c.client_id, client_private_key("ES256"), "ES256")))
    with django_assert_num_queries(1):
        ok = post_token(client, body(sign(c.client_id, client_private_key("ES256"), "ES256")))
    assert ok.status_code == 200
    with django_assert_num_queries(1):
        unknown = post_token(client, body(sign("nobody", client_private_key("ES256"),
                                               "ES256")))
    assert unknown.status_code == 400
    secret_holder, secret = secret_client
    with django_assert_num_queries(1):
        mac = post_token(client, body(sign(secret_holder.client_id, secret, "HS256",
                                           kid=None)))
    assert mac.status_code == 200


# === mTLS ====================================================================================

def _asgi_token_request(headers: list[tuple[bytes, bytes]], form: dict[str, str]
                        ) -> tuple[int, dict[str, Any]]:
    """POST to the token endpoint through Django's ASGI handler, with raw header names (as
    uvicorn or daphne would pass them), from the trusted proxy's address."""
    from django.core.handlers.asgi import ASGIHandler

    payload = urlencode(form).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "https", "path": TOKEN_URL, "raw_path": TOKEN_URL.encode(),
        "query_string": b"", "root_path": "", "client": (PROXY, 40000),
        "server": ("testserver", 443),
        "headers": [(b"host", b"testserver"), (b"content-type", FORM.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-forwarded-proto", b"https"), *headers],
    }
    messages: list[dict[str, Any]] = []

    sent = []

    async def receive() -> dict[str, Any]:
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the handler cancels this wait
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    request_started.disconnect(close_old_connections)  # keep the test database connection
    try:
        async_to_sync(ASGIHandler())(scope, receive, send)
    finally:
        request_started.connect(close_old_connections)
    start = next(m for m in messages if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], json.loads(content)


@pytest.mark.django_db(transaction=True)
def test_underscore_certificate_header_is_not_the_proxys_MTLS_08(self_signed_client):
    """MTLS-08: X-SSL-Client-Cert and X_SSL_Client_Cert map to the same META key. A proxy
    that strips the dashed header but forwards the client's underscore spelling must not let
    a client name someone else's (public) self-signed certificate. Django's ASGI handler drops
    header names with underscores (as runserver and gunicorn >= 22 do), so only the dashed
    header set by the proxy counts."""
    mine = self_signed()
    registered = self_signed_client(mine)
    form = {**GRANT, "client_id": registered.client_id}
    status, answer = _asgi_token_request([(b"x-ssl-client-cert", mine.escaped().encode())],
                                         form)
    assert status == 200, answer  # the harness works: the proxy's header authenticates
    status, answer = _asgi_token_request([(b"x_ssl_client_cert", mine.escaped().encode())],
                                         form)
    assert (status, answer["error"]) == (401, "invalid_client")
    connection.close()


def test_certificate_bound_token_without_a_proxy_is_refused_MTLS_05_MTLS_08(
        client, bound_secret_client, billing):
    """MTLS-05, MTLS-08: the bound token with the right certificate header, but not from the
    trusted proxy (a client forging the header), is 401 invalid_token."""
    c, secret = bound_secret_client
    response = post_token(client, GRANT, auth=(c.client_id, secret), **via_proxy(billing))
    token = response.json()["access_token"]
    forged = {**via_proxy(billing), "REMOTE_ADDR": "192.0.2.99"}
    refused = client.get(WHOAMI, secure=True, **bearer(token), **forged)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    accepted = client.get(WHOAMI, secure=True, **bearer(token), **via_proxy(billing))
    assert accepted.status_code == 200, accepted.content


def test_certificate_paths_cost_one_query_and_none_at_the_resource(
        client, tls_client, billing, bound_secret_client, django_assert_num_queries):
    """The hot path: tls_client_auth reads the client once (detection and authentication
    share the row); a certificate-bound call at the resource reads nothing."""
    registered = tls_client(subject_dn="CN=billing,O=Example")
    form = {**GRANT, "client_id": registered.client_id}
    post_token(client, form, **via_proxy(billing))
    with django_assert_num_queries(1):
        assert post_token(client, form, **via_proxy(billing)).status_code == 200
    c, secret = bound_secret_client
    token = post_token(client, GRANT, auth=(c.client_id, secret),
                       **via_proxy(billing)).json()["access_token"]
    client.get(WHOAMI, secure=True, **bearer(token), **via_proxy(billing))
    with django_assert_num_queries(0):
        response = client.get(WHOAMI, secure=True, **bearer(token), **via_proxy(billing))
    assert response.status_code == 200


def test_metadata_lists_every_new_member_META_06_META_07_META_09_MTLS_07_DPOP_15(
        client, db, mtls):
    """META-06/07: the signing algorithms are published for all three endpoints, without
    none; META-09, MTLS-07, DPOP-15: the extension members."""
    document = client.get("/.well-known/oauth-authorization-server", secure=True).json()
    methods = set(document["token_endpoint_auth_methods_supported"])
    assert {"private_key_jwt", "client_secret_jwt", "tls_client_auth",
            "self_signed_tls_client_auth"} <= methods
    for endpoint in ("token", "introspection", "revocation"):
        assert set(document[f"{endpoint}_endpoint_auth_methods_supported"]) == methods
        algorithms = document[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert "RS256" in algorithms and "none" not in algorithms
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256",
                                                             "EdDSA"]


# === logs ====================================================================================

def test_logs_never_hold_assertions_proofs_certificates_or_tokens_BEARER_10_GEN_05(
        client, key_client, reader, prover, tls_client, billing, other, caplog):
    """BEARER-10, GEN-05: failed and successful requests of each new kind log no assertion,
    proof, certificate or access token (nor a recognisable piece of one)."""
    caplog.set_level(logging.DEBUG)
    c = key_client()
    wrong = sign(c.client_id, client_private_key("RS256", which=1), "RS256")
    right = sign(c.client_id, client_private_key("RS256"), "RS256")
    post_token(client, body(wrong))
    issued = post_token(client, body(right)).json()["access_token"]
    bad_proof = prover.proof("POST", "https://testserver/elsewhere")
    good_proof = prover.proof("POST", TOKEN_URI)
    token_request(client, *reader, bad_proof)
    bound = token_request(client, *reader, good_proof).json()["access_token"]
    registered = tls_client(subject_dn="CN=billing,O=Example")
    post_token(client, {**GRANT, "client_id": registered.client_id}, **via_proxy(other))
    post_token(client, {**GRANT, "client_id": registered.client_id}, **via_proxy(billing))
    secrets_seen = [wrong, right, issued, bad_proof, good_proof, bound,
                    billing.escaped(), other.escaped()]
    pieces = {value[i:i + 24] for value in secrets_seen for i in range(0, len(value) - 24, 97)}
    pieces |= {base64.b64encode(cert.der).decode()[40:64] for cert in (billing, other)}
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "client authentication failed" in text  # the failures were logged
    leaked = [piece for piece in pieces if piece in text]
    assert not leaked


# === DOT import ==============================================================================

def _dot_table(rows: list[tuple[str, str, str]]) -> None:
    """A DOT 2.x application table (the columns importdot reads) in the test database."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE review_dot_application (client_id varchar(100), "
                       "name varchar(255), client_type varchar(32), "
                       "authorization_grant_type varchar(32), client_secret varchar(255), "
                       "hash_client_secret bool)")
        for client_id, name, secret in rows:
            cursor.execute("INSERT INTO review_dot_application VALUES (%s, %s, %s, %s, %s, %s)",
                           [client_id, name, "confidential", "client-credentials", secret,
                            False])


def test_importdot_with_a_shared_plain_secret_is_a_clear_error(db):
    """Two DOT applications sharing one plaintext secret (hash_client_secret off) cannot both
    keep it as a digest: the command should say so, not crash."""
    shared = "dot-plain-secret-" + secrets.token_urlsafe(16)
    _dot_table([("dot-one", "One", shared), ("dot-two", "Two", shared)])
    with pytest.raises(CommandError):
        call_command("importdot", "--table", "review_dot_application", "--scopes", "read")
    assert not Client.objects.filter(client_id__in=["dot-one", "dot-two"]).exists()


def test_importdot_plain_secret_shaped_like_a_hash_is_kept_as_dot_compared_it(db):
    """DOT compares a stored value that is no known hash as plaintext (identify_hasher fails),
    whatever it looks like; importdot keeps such a value (hash_client_secret off) as the
    digest of that very string, so the client's secret is unchanged."""
    from oauth_cc import credentials
    from oauth_cc.models import ClientSecret

    value = "md5_legacy$abc$def"
    _dot_table([("dot-shape", "Shape", value)])
    call_command("importdot", "--table", "review_dot_application", "--scopes", "read",
                 stdout=__import__("io").StringIO())
    row = ClientSecret.objects.get(client__client_id="dot-shape")
    assert (row.digest, row.legacy_hash) == (credentials.digest(value), "")
