"""Signing keys: the JWKS endpoint, RFC 7638 thumbprints, signing, rotation, encryption at rest.

Everything a resource server sees is checked over HTTP: tokens are verified with PyJWT using
only the JWK Set served at ``/oauth/jwks``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.core.management import call_command
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from oauth_cc import clock, jose
from oauth_cc.models import SigningKey
from oauth_cc.server import keys
from tests.conftest import AUDIENCE, ISSUER, JWKS_URL, install_key, post_token, verify
from tests.settings import TEST_KEY_ENCRYPTION_KEY

ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
GRANT = {"grant_type": "client_credentials"}

# RFC 7638 §3.1: the RSA key of RFC 7517 Appendix A.1 and its thumbprint.
RFC7638_RSA_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_RSA_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

# RFC 8037 Appendix A.1 (the Ed25519 key pair) and A.3 (its thumbprint).
RFC8037_ED25519_JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_ED25519_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


# --- helpers ----------------------------------------------------------------------------------

def b64url_decode(value: str) -> bytes:
    assert "=" not in value, "base64url values in a JWK are unpadded"
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def get_jwks(http: HttpClient) -> dict[str, Any]:
    response = http.get(JWKS_URL, secure=True)
    assert response.status_code == 200
    return response.json()


def served_kids(http: HttpClient) -> list[str]:
    return [jwk["kid"] for jwk in get_jwks(http)["keys"]]


def request_token(http: HttpClient, client_id: str, secret: str) -> str:
    response = post_token(http, GRANT, auth=(client_id, secret))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def store_private_key(private_key: Any, algorithm: str) -> SigningKey:
    """Store a given private key as a pending key, the way keys.create_key() does."""
    jwk = jose.public_jwk(private_key, algorithm)
    return SigningKey.objects.create(
        kid=jwk["kid"], algorithm=algorithm, state=SigningKey.State.PENDING,
        encrypted_private_key=keys.encrypt_private_key(private_key),
        public_jwk_json=json.dumps(jwk),
    )


def with_oauth_settings(settings: Any, **changes: Any) -> None:
    settings.OAUTH_CC = {**settings.OAUTH_CC, **changes}


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    body = response.json()
    assert body["error"] == "temporarily_unavailable"
    assert "access_token" not in body


@pytest.fixture
def published(db: Any) -> dict[str, SigningKey]:
    """One active RS256 key and pending PS256, ES256 and EdDSA keys: all four published."""
    return {
        "RS256": install_key("RS256"),
        **{alg: install_key(alg, state=SigningKey.State.PENDING) for alg in ALGORITHMS[1:]},
    }


# --- the JWK Set document ---------------------------------------------------------------------

def test_jwks_is_a_json_object_with_a_keys_array_JWKS_01(client, published):
    # JWKS-01
    response = client.get(JWKS_URL, secure=True)
    assert response.status_code == 200
    assert response["Content-Type"] in ("application/json", "application/jwk-set+json")
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body["keys"], list)
    assert len(body["keys"]) == len(published)
    assert jwt.PyJWKSet.from_dict(body)  # a JWK Set a standard client library accepts


def test_jwks_without_keys_is_an_empty_keys_array_JWKS_01(client, db):
    # JWKS-01
    assert get_jwks(client) == {"keys": []}


def test_jwks_has_only_public_members_JWKS_02(client, published):
    # JWKS-02
    for jwk in get_jwks(client)["keys"]:
        assert jwk["kty"] in ("RSA", "EC", "OKP")
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        assert set(jwk) <= {"kty", "n", "e", "crv", "x", "y", "kid", "use", "alg"}


def test_jwks_rsa_keys_have_n_and_e_as_minimal_base64urluint_JWKS_03(client, published):
    # JWKS-03
    rsa_keys = [jwk for jwk in get_jwks(client)["keys"] if jwk["kty"] == "RSA"]
    assert {jwk["alg"] for jwk in rsa_keys} == {"RS256", "PS256"}
    for jwk in rsa_keys:
        assert jwk["e"] == "AQAB"  # 65537 in the fewest octets
        modulus = b64url_decode(jwk["n"])
        assert modulus[0] != 0  # no leading zero octet
        assert int.from_bytes(modulus, "big").bit_length() >= 2048


def test_jwks_ec_p256_coordinates_have_full_length_JWKS_03(client, db):
    # A coordinate below 2**248 would lose its leading zero octet under a minimal encoding;
    # generate keys until one has such a coordinate (about one key in 128 does).
    # JWKS-03
    for _ in range(10_000):
        private_key = ec.generate_private_key(ec.SECP256R1())
        numbers = private_key.public_key().public_numbers()
        if numbers.x < 2**248 or numbers.y < 2**248:
            break
    else:  # pragma: no cover - probability about 1e-34
        pytest.fail("no key with a short coordinate found")
    stored = store_private_key(private_key, "ES256")
    (jwk,) = get_jwks(client)["keys"]
    assert jwk["kid"] == stored.kid
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-256", "ES256")
    x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
    assert len(x) == len(y) == 32
    assert (int.from_bytes(x, "big"), int.from_bytes(y, "big")) == (numbers.x, numbers.y)


def test_jwks_okp_key_is_ed25519_JWKS_03(client, published):
    # JWKS-03
    (jwk,) = [jwk for jwk in get_jwks(client)["keys"] if jwk["kty"] == "OKP"]
    assert jwk["crv"] == "Ed25519"
    assert jwk["alg"] == "EdDSA"
    assert len(b64url_decode(jwk["x"])) == 32
    assert "y" not in jwk


def test_jwks_keys_carry_use_sig_alg_and_distinct_kids_JWKS_04_JWKS_05(client, published):
    # JWKS-04, JWKS-05
    served = get_jwks(client)["keys"]
    assert {jwk["alg"] for jwk in served} == set(ALGORITHMS)
    for jwk in served:
        assert jwk["use"] == "sig"
        assert "key_ops" not in jwk
    kids = [jwk["kid"] for jwk in served]
    assert len(set(kids)) == len(kids)
    assert set(kids) == {key.kid for key in published.values()}


def rfc7638(jwk: dict[str, Any]) -> str:
    """An independent RFC 7638 §3 computation, to compare the server's kids with."""
    required = {
        "RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"),
    }
    members = ",".join(f'"{name}":"{jwk[name]}"' for name in required[jwk["kty"]])
    digest = hashlib.sha256(("{" + members + "}").encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def test_jwks_kid_is_the_rfc7638_thumbprint_THUMB_01_THUMB_02(client, published):
    # THUMB-01, THUMB-02
    for jwk in get_jwks(client)["keys"]:
        assert jwk["kid"] == rfc7638(jwk) == jose.thumbprint(jwk)


def test_thumbprint_matches_rfc7638_rsa_vector_THUMB_04_THUMB_03():
    # THUMB-04, THUMB-03
    assert rfc7638(RFC7638_RSA_JWK) == RFC7638_RSA_THUMBPRINT  # the vector itself
    # ``alg`` and ``kid`` are in the input and must not change the result.
    assert jose.thumbprint(RFC7638_RSA_JWK) == RFC7638_RSA_THUMBPRINT
    public_only = {name: RFC7638_RSA_JWK[name] for name in ("n", "kty", "e")}
    assert jose.thumbprint(public_only) == RFC7638_RSA_THUMBPRINT


def test_thumbprint_matches_rfc8037_ed25519_vector_THUMB_04_THUMB_03():
    # The private member ``d`` is ignored: a private key's thumbprint is its public key's.
    # THUMB-04, THUMB-03
    assert jose.thumbprint(RFC8037_ED25519_JWK) == RFC8037_ED25519_THUMBPRINT
    public = {k: v for k, v in RFC8037_ED25519_JWK.items() if k != "d"}
    assert jose.thumbprint(public) == RFC8037_ED25519_THUMBPRINT
    assert jose.thumbprint({**public, "kid": "x", "use": "sig"}) == RFC8037_ED25519_THUMBPRINT


def test_public_jwk_of_rfc8037_key_has_the_rfc_thumbprint_as_kid_THUMB_04():
    # THUMB-04
    private_key = ed25519.Ed25519PrivateKey.from_private_bytes(
        b64url_decode(RFC8037_ED25519_JWK["d"])
    )
    jwk = jose.public_jwk(private_key, "EdDSA")
    assert jwk == {
        "kty": "OKP", "crv": "Ed25519", "x": RFC8037_ED25519_JWK["x"],
        "kid": RFC8037_ED25519_THUMBPRINT, "use": "sig", "alg": "EdDSA",
    }


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_jwks_refuses_other_methods_with_405_and_allow_GEN_09(client, db, method):
    # GEN-09
    response = getattr(client, method)(JWKS_URL, secure=True)
    assert response.status_code == 405
    allowed = {name.strip() for name in response["Allow"].split(",")}
    assert "GET" in allowed
    assert not {"POST", "PUT", "PATCH", "DELETE"} & allowed


def test_jwks_post_gets_405_even_with_csrf_checks_enforced_GEN_09(db):
    # GEN-09
    http = HttpClient(enforce_csrf_checks=True)
    response = http.post(JWKS_URL, secure=True)
    assert response.status_code == 405
    assert "GET" in response["Allow"]


def test_jwks_head_is_allowed_JWKS_01(client, published):
    # JWKS-01
    response = client.head(JWKS_URL, secure=True)
    assert response.status_code == 200
    assert response.content == b""


def test_jwks_is_publicly_cacheable_with_max_age(client, published):
    response = client.get(JWKS_URL, secure=True)
    directives = {d.strip() for d in response["Cache-Control"].split(",")}
    assert directives == {"public", "max-age=300"}
    assert "Pragma" not in response


# --- tokens signed with every algorithm verify with the served JWKS alone ---------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_verifies_with_served_jwks_for_each_algorithm_JWT_01_JWT_02_JWKS_04(
    client, make_client, algorithm
):
    # JWT-01, JWT-02, JWKS-04
    key = install_key(algorithm)
    oauth_client, secret = make_client()
    access_token = request_token(client, oauth_client.client_id, secret)
    header = jwt.get_unverified_header(access_token)
    assert header["alg"] == algorithm  # signed, asymmetric, never "none"
    assert header["typ"] == "at+jwt"
    assert header["kid"] == key.kid
    assert header["kid"] in served_kids(client)
    claims = verify(client, access_token)
    assert claims["client_id"] == oauth_client.client_id
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_signing_algorithm_setting_selects_the_algorithm_of_new_keys_JWT_01(
    client, make_client, settings, algorithm
):
    # JWT-01
    with_oauth_settings(settings, SIGNING_ALGORITHM=algorithm)
    keys.rotate()  # bootstrap: a fresh key of the configured algorithm
    oauth_client, secret = make_client()
    access_token = request_token(client, oauth_client.client_id, secret)
    assert jwt.get_unverified_header(access_token)["alg"] == algorithm
    assert verify(client, access_token)["sub"] == oauth_client.client_id


def test_token_signed_by_an_unpublished_key_does_not_verify_JWKS_04(client, make_client):
    # The check that verify() relies on the JWKS only: a token whose kid is not served fails.
    # JWKS-04
    key = install_key("ES256")
    oauth_client, secret = make_client()
    access_token = request_token(client, oauth_client.client_id, secret)
    SigningKey.objects.filter(pk=key.pk).update(state=SigningKey.State.REMOVED)
    install_key("EdDSA", state=SigningKey.State.PENDING)  # the JWKS is not empty
    assert jwt.get_unverified_header(access_token)["kid"] not in served_kids(client)
    with pytest.raises(KeyError):
        verify(client, access_token)


# --- rotation without downtime (JWKS-07) ------------------------------------------------------

def test_rotation_keeps_old_tokens_verifiable_JWKS_07(client, make_client, monkeypatch, settings):
    # JWKS-07
    start = float(int(time.time())) - 300  # so that the promotion below happens "now"
    now = [start]
    monkeypatch.setattr(clock, "source", lambda: now[0])
    old = install_key("RS256")
    oauth_client, secret = make_client()
    before = request_token(client, oauth_client.client_id, secret)

    # Step 1: a pending key is published but does not sign.
    keys.rotate(algorithm="ES256")
    pending = SigningKey.objects.get(state=SigningKey.State.PENDING)
    assert served_kids(client) == [old.kid, pending.kid]
    during = request_token(client, oauth_client.client_id, secret)
    assert jwt.get_unverified_header(during)["kid"] == old.kid
    assert verify(client, during)["jti"] != verify(client, before)["jti"]

    # Step 2, after resource servers had time to fetch the JWKS: promote.
    now[0] = start + 300
    keys.rotate()
    after = request_token(client, oauth_client.client_id, secret)
    assert jwt.get_unverified_header(after)["kid"] == pending.kid
    assert set(served_kids(client)) == {old.kid, pending.kid}
    for access_token in (before, during, after):
        assert verify(client, access_token)["client_id"] == oauth_client.client_id

    # The retired key stays published until every token it signed has expired, including
    # those a process signed from its key cache just after the promotion.
    old.refresh_from_db()
    assert old.state == SigningKey.State.RETIRED
    last_signature = start + 300 + settings.OAUTH_CC.get("KEY_CACHE_SECONDS", 60)
    assert old.publish_until.timestamp() >= last_signature + 3600  # MAX_ACCESS_TOKEN_LIFETIME

    now[0] = old.publish_until.timestamp() - 1
    assert keys.prune() == []
    assert old.kid in served_kids(client)

    now[0] = old.publish_until.timestamp()
    assert served_kids(client) == [pending.kid]
    assert keys.prune() == [old.kid]
    old.refresh_from_db()
    assert old.state == SigningKey.State.REMOVED
    assert bytes(old.encrypted_private_key) == b""
    assert served_kids(client) == [pending.kid]
    with pytest.raises(KeyError):
        verify(client, before)
    assert verify(client, after)["client_id"] == oauth_client.client_id


def test_immediate_rotation_signs_with_the_new_key_at_once_JWKS_07(client, make_client):
    # JWKS-07
    old = install_key("EdDSA")
    oauth_client, secret = make_client()
    before = request_token(client, oauth_client.client_id, secret)
    keys.rotate(immediate=True, algorithm="ES256")
    after = request_token(client, oauth_client.client_id, secret)
    new_kid = jwt.get_unverified_header(after)["kid"]
    assert new_kid != old.kid
    assert set(served_kids(client)) == {old.kid, new_kid}
    assert verify(client, before)["client_id"] == verify(client, after)["client_id"]


# --- encryption at rest -----------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_private_key_is_encrypted_at_rest_GEN_07(db, algorithm):
    # GEN-07
    created = keys.create_key(algorithm)
    blob = bytes(SigningKey.objects.get(pk=created.pk).encrypted_private_key)

    der = Fernet(TEST_KEY_ENCRYPTION_KEY).decrypt(blob)
    private_key = serialization.load_der_private_key(der, password=None)
    assert jose.public_jwk(private_key, algorithm)["kid"] == created.kid

    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if algorithm == "ES256":
        raw = private_key.private_numbers().private_value.to_bytes(32, "big")
    else:
        raw = private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    for plaintext in (der, pem, raw, base64.b64encode(raw), b"PRIVATE KEY"):
        assert plaintext not in blob
    with pytest.raises(InvalidToken):
        Fernet(Fernet.generate_key()).decrypt(blob)


def test_wrong_key_encryption_key_gives_clean_503(client, make_client, settings):
    install_key("ES256")
    oauth_client, secret = make_client()
    with_oauth_settings(settings, KEY_ENCRYPTION_KEYS=[Fernet.generate_key().decode()])
    client.raise_request_exception = False
    response = post_token(client, GRANT, auth=(oauth_client.client_id, secret))
    assert_unavailable(response)


def test_wrong_key_encryption_key_cannot_decrypt_the_stored_key(db, settings):
    install_key("ES256")
    with_oauth_settings(settings, KEY_ENCRYPTION_KEYS=[Fernet.generate_key().decode()])
    with pytest.raises(keys.KeyConfigurationError):
        keys.active()


def test_key_encryption_key_rotation_with_reencrypt_GEN_07(client, make_client, settings):
    # GEN-07
    key = install_key("ES256")
    oauth_client, secret = make_client()
    new_kek = Fernet.generate_key().decode()

    with_oauth_settings(settings, KEY_ENCRYPTION_KEYS=[new_kek, TEST_KEY_ENCRYPTION_KEY])
    # Both keys decrypt: tokens keep being issued during the change.
    request_token(client, oauth_client.client_id, secret)
    call_command("rotatekeys", "--reencrypt", stdout=io.StringIO())

    with_oauth_settings(settings, KEY_ENCRYPTION_KEYS=[new_kek])
    blob = bytes(SigningKey.objects.get(pk=key.pk).encrypted_private_key)
    with pytest.raises(InvalidToken):
        Fernet(TEST_KEY_ENCRYPTION_KEY).decrypt(blob)
    Fernet(new_kek).decrypt(blob)

    access_token = request_token(client, oauth_client.client_id, secret)
    assert jwt.get_unverified_header(access_token)["kid"] == key.kid
    assert verify(client, access_token)["client_id"] == oauth_client.client_id


# --- no signing key ---------------------------------------------------------------------------

@pytest.mark.parametrize("state", [None, SigningKey.State.PENDING, SigningKey.State.RETIRED])
def test_no_active_key_gives_503_temporarily_unavailable_GEN_02_GEN_03(
    client, make_client, state
):
    # GEN-02, GEN-03
    if state is not None:
        key = install_key("ES256", state=SigningKey.State.PENDING)
        if state == SigningKey.State.RETIRED:
            keys.retire(key)
    oauth_client, secret = make_client()
    client.raise_request_exception = False
    response = post_token(client, GRANT, auth=(oauth_client.client_id, secret))
    assert_unavailable(response)


# --- the hot path -----------------------------------------------------------------------------

def is_read(query: dict[str, Any]) -> bool:
    return query["sql"].lstrip().upper().startswith("SELECT")


def test_issuing_writes_nothing_and_the_warm_path_runs_one_query(
    client, api_client, django_assert_num_queries
):
    oauth_client, secret = api_client
    with CaptureQueriesContext(connection) as cold:
        request_token(client, oauth_client.client_id, secret)
    assert cold.captured_queries
    assert all(is_read(query) for query in cold.captured_queries), cold.captured_queries

    with django_assert_num_queries(1) as warm:
        access_token = request_token(client, oauth_client.client_id, secret)
    assert all(is_read(query) for query in warm.captured_queries)
    assert verify(client, access_token)["client_id"] == oauth_client.client_id
