"""Mutual TLS (RFC 8705) behind a TLS-terminating proxy, through HTTP with Django's test
client: the proxy is played by requests from a ``TRUSTED_PROXIES`` address that carry the
certificate headers. ``tests/test_mtls_nginx.py`` does the same through a real nginx.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from django.core.exceptions import ValidationError

from oauth_cc import caches, jose, network, registry
from oauth_cc.models import Client
from tests.conftest import assert_error, bearer, forge, post_token, valid_claims, verify
from tests.extensions import CNF_MEMBER, TestProofToken, key_digest, proof
from tests.mtls_nginx.certificates import Issued, issue, make_ca, name, san, self_signed

PROXY = "10.9.8.7"
CERT_HEADER = "X-SSL-Client-Cert"
VERIFY_HEADER = "X-SSL-Client-Verify"
GRANT = {"grant_type": "client_credentials"}
WHOAMI = "/api/whoami"
READ = "inventory:read"
TLS = "tls_client_auth"
SELF_SIGNED = "self_signed_tls_client_auth"
X5T = "x5t#S256"


@pytest.fixture
def mtls(settings: Any) -> None:
    """A proxy at PROXY passes the client certificate and its verdict (nginx's names)."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": [PROXY],
                         "CLIENT_CERTIFICATE_HEADER": CERT_HEADER,
                         "CLIENT_CERTIFICATE_VERIFY_HEADER": VERIFY_HEADER}


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


@pytest.fixture(scope="module")
def billing(ca: Issued) -> Issued:
    """CN=billing,O=Example with one SAN of each kind."""
    return issue(ca, name("billing"), san(dns="billing.example.test",
                                          uri="https://billing.example.test/client",
                                          ip="2001:db8::7", email="billing@example.test"))


@pytest.fixture(scope="module")
def other(ca: Issued) -> Issued:
    return issue(ca, name("shipping"), san(dns="shipping.example.test",
                                           uri="https://shipping.example.test/client",
                                           ip="192.0.2.7", email="shipping@example.test"))


def via_proxy(certificate: Issued | None, verify: str | None = "SUCCESS",
              value: str | None = None) -> dict[str, str]:
    """What the proxy adds: the request comes from it, with the certificate headers."""
    headers = {"REMOTE_ADDR": PROXY}
    if certificate is not None or value is not None:
        headers["HTTP_X_SSL_CLIENT_CERT"] = value if value is not None else (
            certificate.escaped() if certificate else "")
    if verify is not None:
        headers["HTTP_X_SSL_CLIENT_VERIFY"] = verify
    return headers


def request_token(http: Any, client: Client, certificate: Issued | None, **extra: Any) -> Any:
    body = {**GRANT, "client_id": client.client_id, "scope": READ}
    return post_token(http, body, **{**via_proxy(certificate), **extra})


def claims_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    return jwt.decode(response.json()["access_token"], options={"verify_signature": False})


@pytest.fixture
def tls_client(make_client: Any, signing_key: Any, mtls: None) -> Any:
    """A factory of tls_client_auth clients registered with ``subject`` fields."""

    def make(**subject: str) -> Client:
        fields = {f"tls_client_auth_{k}": v for k, v in subject.items()}
        client, _ = make_client(scope=f"{READ} read", default_scope=READ,
                                token_endpoint_auth_method=TLS, **fields)
        client.full_clean()
        return client

    return make


# --- the certificate header (MTLS-08) ----------------------------------------------------------

def test_proxy_header_forms_parse_to_the_same_certificate_MTLS_08(billing):
    # MTLS-08: nginx's URL-encoded PEM, PEM with its line breaks turned into spaces, bare
    # base64 DER: the one certificate.
    pem_with_spaces = " ".join(billing.pem.splitlines())
    bare = base64.b64encode(billing.der).decode()
    for value in (billing.escaped(), billing.pem, pem_with_spaces, bare):
        parsed = network.parse_certificate_header(value)
        assert parsed is not None and parsed == billing.certificate


@pytest.mark.parametrize("value", [
    "", "(null)", "garbage", "%ZZ", "%C3%28", "-----BEGIN CERTIFICATE-----\nAAAA\n"
    "-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE----- not base64 ***",
    "A" * (network.MAX_CERTIFICATE_HEADER_LENGTH + 1),
])
def test_malformed_certificate_header_is_no_certificate_MTLS_08(value):
    # MTLS-08: a malformed, empty or oversized value is no certificate, never an exception.
    assert network.parse_certificate_header(value) is None


def test_two_certificates_in_the_header_are_none_MTLS_08(billing, other):
    assert network.parse_certificate_header(billing.pem + other.pem) is None


def test_x5t_s256_is_unpadded_base64url_sha256_of_der_MTLS_04(billing):
    # MTLS-04: base64url(SHA-256(DER)), no padding, no whitespace.
    value = jose.certificate_thumbprint(billing.der)
    expected = base64.urlsafe_b64encode(hashlib.sha256(billing.der).digest()).rstrip(b"=")
    assert value == expected.decode() == billing.thumbprint
    assert len(value) == 43 and "=" not in value


# --- tls_client_auth (MTLS-01, MTLS-02) ---------------------------------------------------------

@pytest.mark.parametrize("subject", [
    {"subject_dn": "CN=billing,O=Example"},
    {"subject_dn": "cn=Billing, o=EXAMPLE"},          # DN matching: names and case
    {"san_dns": "Billing.Example.TEST"},              # DNS names ignore case
    {"san_uri": "https://billing.example.test/client"},
    {"san_ip": "2001:0db8:0:0:0:0:0:7"},              # compared in binary
    {"san_email": "billing@example.test"},
])
def test_tls_client_auth_with_the_registered_subject_MTLS_01_MTLS_02(
        client, tls_client, billing, subject):
    # MTLS-01, MTLS-02: client_id and a CA-issued certificate with the one registered subject.
    registered = tls_client(**subject)
    claims = claims_of(request_token(client, registered, billing))
    assert claims["client_id"] == registered.client_id
    assert "cnf" not in claims  # not registered for bound tokens


@pytest.mark.parametrize("subject", [
    {"subject_dn": "CN=billing,O=Other"},
    {"subject_dn": "O=Example,CN=billing"},           # RDN order matters
    {"subject_dn": "CN=billing"},
    {"san_dns": "shipping.example.test"},
    {"san_dns": "example.test"},
    {"san_uri": "https://billing.example.test/CLIENT"},  # URIs are exact
    {"san_ip": "192.0.2.7"},
    {"san_ip": "::ffff:192.0.2.7"},
    {"san_email": "Billing@example.test"},             # exact
])
def test_tls_client_auth_with_another_subject_is_invalid_client_MTLS_01_MTLS_02(
        client, tls_client, billing, subject):
    # MTLS-01, MTLS-02: a certificate without the registered subject is invalid_client (400:
    # no Authorization header was used).
    registered = tls_client(**subject)
    body = assert_error(request_token(client, registered, billing), "invalid_client")
    assert body["error_description"] == "Client authentication failed."


def test_another_clients_certificate_is_invalid_client_MTLS_02(client, tls_client, other):
    registered = tls_client(subject_dn="CN=billing,O=Example")
    assert_error(request_token(client, registered, other), "invalid_client")


@pytest.mark.parametrize("verdict", [None, "NONE", "FAILED:unable to get issuer certificate",
                                     "success", "SUCCESS "])
def test_tls_client_auth_needs_the_proxys_chain_verification_MTLS_02(
        client, tls_client, billing, verdict):
    # MTLS-02: the chain is validated (by the proxy, which says exactly SUCCESS); the right
    # subject on an unverified certificate is refused.
    registered = tls_client(subject_dn="CN=billing,O=Example")
    body = {**GRANT, "client_id": registered.client_id}
    response = post_token(client, body, **via_proxy(billing, verify=verdict))
    assert_error(response, "invalid_client")


def test_no_certificate_is_invalid_client_MTLS_01(client, tls_client):
    # MTLS-01: client_id alone (no certificate) never authenticates: the usual "client
    # authentication required" (401 with the Basic challenge, CAUTH-01).
    registered = tls_client(subject_dn="CN=billing,O=Example")
    body = assert_error(request_token(client, registered, None), "invalid_client", 401)
    assert body["error_description"] == "Client authentication is required."


def test_certificate_without_client_id_is_invalid_client_MTLS_01(client, tls_client, billing):
    tls_client(subject_dn="CN=billing,O=Example")
    response = post_token(client, {**GRANT}, **via_proxy(billing))
    assert_error(response, "invalid_client", 401)


def test_unknown_client_with_a_certificate_is_invalid_client_MTLS_01(client, mtls, billing, db):
    response = post_token(client, {**GRANT, "client_id": "nobody"}, **via_proxy(billing))
    body = assert_error(response, "invalid_client")
    assert body["error_description"] == "Client authentication failed."


def test_inactive_client_is_invalid_client_MTLS_01(client, tls_client, billing):
    registered = tls_client(subject_dn="CN=billing,O=Example")
    Client.objects.filter(pk=registered.pk).update(is_active=False)
    assert_error(request_token(client, registered, billing), "invalid_client")


def test_secret_client_with_only_a_certificate_is_invalid_client_CAUTH_07(
        client, make_client, signing_key, mtls, billing):
    # CAUTH-07: a client registered for a secret cannot authenticate with a certificate, even
    # one that carries a subject it has on record.
    registered, _ = make_client(tls_client_auth_subject_dn="CN=billing,O=Example")
    assert_error(request_token(client, registered, billing), "invalid_client")


def test_malformed_certificate_header_is_invalid_client_not_500_MTLS_01(
        client, tls_client):
    registered = tls_client(subject_dn="CN=billing,O=Example")
    for value in ("%%%", "-----BEGIN CERTIFICATE-----%0AAAAA", "A" * 20000):
        response = post_token(client, {**GRANT, "client_id": registered.client_id},
                              **via_proxy(None, value=value))
        assert_error(response, "invalid_client", 401)


def test_secret_and_certificate_methods_do_not_collide_CAUTH_05(
        client, make_client, signing_key, mtls, billing):
    # CAUTH-05: a certificate next to a client secret (body or Basic) is not a second method:
    # the certificate is then only what a bound token is bound to.
    registered, secret = make_client(scope=READ, default_scope=READ,
                                     token_endpoint_auth_method="client_secret_post")
    body = {**GRANT, "client_id": registered.client_id, "client_secret": secret}
    assert post_token(client, body, **via_proxy(billing)).status_code == 200
    registered, secret = make_client(scope=READ, default_scope=READ)
    response = post_token(client, GRANT, auth=(registered.client_id, secret),
                          **via_proxy(billing))
    assert response.status_code == 200


@pytest.mark.parametrize("subject", [
    {},
    {"tls_client_auth_subject_dn": "CN=a", "tls_client_auth_san_dns": "a.example.test"},
    {"tls_client_auth_san_uri": "https://a.example/", "tls_client_auth_san_ip": "192.0.2.1",
     "tls_client_auth_san_email": "a@example.test"},
])
def test_registration_needs_exactly_one_subject_MTLS_02(db, subject):
    # MTLS-02: exactly one registered subject; none, or two, is refused at registration.
    candidate = Client(name="mtls", token_endpoint_auth_method=TLS, **subject)
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    fields = set(refused.value.message_dict)
    assert fields == (set(subject) if subject else {"tls_client_auth_subject_dn"})


@pytest.mark.parametrize("subject", [{"tls_client_auth_subject_dn": "CN billing"},
                                     {"tls_client_auth_san_ip": "192.0.2.300"}])
def test_registration_refuses_a_malformed_subject_MTLS_02(db, subject):
    candidate = Client(name="mtls", token_endpoint_auth_method=TLS, **subject)
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    assert set(refused.value.message_dict) == set(subject)


# --- self_signed_tls_client_auth (MTLS-03) -----------------------------------------------------

@pytest.fixture
def self_signed_client(make_client: Any, signing_key: Any, mtls: None) -> Any:
    def make(certificate: Issued, **fields: Any) -> Client:
        client, _ = make_client(scope=READ, default_scope=READ,
                                token_endpoint_auth_method=SELF_SIGNED,
                                jwks=certificate.jwks(), **fields)
        client.full_clean()
        return client

    return make


@pytest.mark.parametrize("verdict", ["FAILED:self-signed certificate", "SUCCESS", None])
def test_self_signed_certificate_in_the_jwks_MTLS_03(client, self_signed_client, verdict):
    # MTLS-03: no chain validation (whatever the proxy says); the certificate is the one the
    # client registered in its JWK Set.
    mine = self_signed()
    registered = self_signed_client(mine)
    body = {**GRANT, "client_id": registered.client_id}
    claims = claims_of(post_token(client, body, **via_proxy(mine, verify=verdict)))
    assert claims["client_id"] == registered.client_id


def test_another_self_signed_certificate_is_invalid_client_MTLS_03(client, self_signed_client):
    # MTLS-03: same subject, other key: not the registered certificate.
    registered = self_signed_client(self_signed("self-signed client"))
    impostor = self_signed("self-signed client")
    body = assert_error(request_token(client, registered, impostor), "invalid_client")
    assert body["error_description"] == "Client authentication failed."


def test_self_signed_only_the_first_x5c_certificate_counts_MTLS_03(
        client, self_signed_client, ca, billing):
    # MTLS-03: x5c[0] holds the key (RFC 7517 §4.7); the rest is a chain, whose CA is not
    # the client.
    chained = Issued(billing.certificate, billing.key)
    registered = self_signed_client(chained)
    document = json.loads(registered.jwks)
    document["keys"][0]["x5c"].append(base64.b64encode(ca.der).decode())
    registered.jwks = json.dumps(document)
    registered.save()
    assert request_token(client, registered, billing).status_code == 200
    assert_error(request_token(client, registered, ca), "invalid_client")


def test_self_signed_registration_needs_an_x5c_certificate_MTLS_03(db):
    candidate = Client(name="mtls", token_endpoint_auth_method=SELF_SIGNED,
                       jwks='{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}')
    with pytest.raises(ValidationError) as refused:
        candidate.full_clean()
    assert set(refused.value.message_dict) == {"jwks"}


def test_self_signed_client_with_a_ca_issued_certificate_is_invalid_client_MTLS_03(
        client, self_signed_client, billing):
    registered = self_signed_client(self_signed())
    assert_error(request_token(client, registered, billing), "invalid_client")


# --- forged headers (MTLS-08) ------------------------------------------------------------------

@pytest.mark.parametrize("remote", ["127.0.0.1", "10.9.8.8", ""])
def test_certificate_header_from_a_non_proxy_is_ignored_MTLS_08(
        client, tls_client, billing, remote):
    # MTLS-08: a certificate header that does not come from a trusted proxy is ignored: the
    # request has no certificate, so no client authentication.
    registered = tls_client(subject_dn="CN=billing,O=Example")
    headers = {**via_proxy(billing), "REMOTE_ADDR": remote}
    response = post_token(client, {**GRANT, "client_id": registered.client_id}, **headers)
    assert_error(response, "invalid_client", 401)


def test_certificate_header_ignored_when_mtls_is_off_MTLS_08(
        client, make_client, signing_key, settings, billing):
    # MTLS-08: no CLIENT_CERTIFICATE_HEADER, no certificate, even from a trusted proxy.
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": [PROXY]}
    registered, _ = make_client(token_endpoint_auth_method=TLS,
                                tls_client_auth_subject_dn="CN=billing,O=Example")
    response = post_token(client, {**GRANT, "client_id": registered.client_id},
                          **via_proxy(billing))
    assert_error(response, "invalid_client", 401)


# --- certificate-bound tokens (MTLS-04, MTLS-05, MTLS-06) --------------------------------------

@pytest.fixture
def bound_secret_client(make_client: Any, signing_key: Any, mtls: None) -> tuple[Client, str]:
    """A client_secret_basic client registered for certificate-bound tokens."""
    return make_client(scope=READ, default_scope=READ,
                       tls_client_certificate_bound_access_tokens=True)


def bound_token(http: Any, registered: tuple[Client, str], certificate: Issued) -> str:
    c, secret = registered
    response = post_token(http, GRANT, auth=(c.client_id, secret), **via_proxy(certificate))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"  # RFC 8705 §3: still a Bearer token
    return str(body["access_token"])


def test_bound_token_carries_x5t_s256_MTLS_04(client, bound_secret_client, billing):
    # MTLS-04: cnf {"x5t#S256": base64url(SHA-256(DER))}, in the signed JWT.
    token = bound_token(client, bound_secret_client, billing)
    assert verify(client, token)["cnf"] == {X5T: billing.thumbprint}


def test_bound_token_with_the_tls_client_auth_method_MTLS_04(client, tls_client, billing):
    registered = tls_client(subject_dn="CN=billing,O=Example")
    Client.objects.filter(pk=registered.pk).update(
        tls_client_certificate_bound_access_tokens=True)
    claims = claims_of(request_token(client, registered, billing))
    assert claims["cnf"] == {X5T: billing.thumbprint}


def test_introspection_returns_the_cnf_MTLS_04(client, bound_secret_client, make_client,
                                               billing):
    # MTLS-04: introspection shows the same cnf; the token is still a Bearer token.
    token = bound_token(client, bound_secret_client, billing)
    inspector, secret = make_client(can_introspect=True)
    response = post_token(client, {"token": token}, url="/oauth/introspect",
                          auth=(inspector.client_id, secret))
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert response.json()["cnf"] == {X5T: billing.thumbprint}
    assert response.json()["token_type"] == "Bearer"


def test_bound_token_is_accepted_with_its_certificate_MTLS_05(
        client, bound_secret_client, billing):
    # MTLS-05: the TLS certificate's thumbprint equals the token's: accepted, every time
    # (the second call hits the verified-token cache; the certificate is still checked).
    token = bound_token(client, bound_secret_client, billing)
    for _ in range(2):
        response = client.get(WHOAMI, **bearer(token), **via_proxy(billing, verify=None))
        assert response.status_code == 200, response.content
        assert response.json()["client_id"] == bound_secret_client[0].client_id


@pytest.mark.parametrize("presented", ["other", "none", "forged", "malformed"])
def test_bound_token_without_its_certificate_is_invalid_token_MTLS_05_RSV_08_BCP_01(
        client, bound_secret_client, billing, other, presented):
    # MTLS-05, RSV-08, BCP-01: another certificate, none, one in a header the proxy did not set, or
    # a malformed one: 401 invalid_token (a stolen token is useless without the key).
    token = bound_token(client, bound_secret_client, billing)
    assert client.get(WHOAMI, **bearer(token), **via_proxy(billing)).status_code == 200
    headers = {
        "other": via_proxy(other),
        "none": via_proxy(None),
        "forged": {**via_proxy(billing), "REMOTE_ADDR": "127.0.0.1"},
        "malformed": via_proxy(None, value="%%%"),
    }[presented]
    response = client.get(WHOAMI, **bearer(token), **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


def test_bound_token_at_a_plain_django_view_MTLS_05(client, bound_secret_client, billing,
                                                    other):
    token = bound_token(client, bound_secret_client, billing)
    assert client.get("/api/plain/stock", **bearer(token),
                      **via_proxy(billing)).status_code == 200
    assert client.get("/api/plain/stock", **bearer(token),
                      **via_proxy(other)).status_code == 401


def test_other_cnf_members_under_bearer_are_still_refused_RSV_08(
        client, bound_secret_client, billing):
    # RSV-08: a Bearer token may carry a certificate binding only; x5t#S256 next to a key
    # binding (jkt) needs the key's own type.
    for cnf in ({X5T: billing.thumbprint, "jkt": "x"}, {}, "x5t", {X5T: 5}):
        token = forge(valid_claims(scope=READ, cnf=cnf))
        response = client.get(WHOAMI, **bearer(token), **via_proxy(billing))
        assert response.status_code == 401, cnf


def test_bound_client_without_a_certificate_is_invalid_request_MTLS_06(
        client, bound_secret_client):
    # MTLS-06 DEC: a client registered for certificate-bound tokens that connects without a
    # certificate gets 400 invalid_request, never an unbound token.
    c, secret = bound_secret_client
    response = post_token(client, GRANT, auth=(c.client_id, secret), **via_proxy(None))
    body = assert_error(response, "invalid_request")
    assert "certificate" in body["error_description"]


def test_bound_client_with_a_forged_certificate_header_is_invalid_request_MTLS_06_MTLS_08(
        client, bound_secret_client, billing):
    c, secret = bound_secret_client
    response = post_token(client, GRANT, auth=(c.client_id, secret),
                          **{**via_proxy(billing), "REMOTE_ADDR": "127.0.0.1"})
    assert_error(response, "invalid_request")


def test_unbound_client_with_a_certificate_gets_an_unbound_token_MTLS_06(
        client, make_client, signing_key, mtls, billing):
    registered, secret = make_client(scope=READ, default_scope=READ)
    response = post_token(client, GRANT, auth=(registered.client_id, secret),
                          **via_proxy(billing))
    assert "cnf" not in claims_of(response)


# --- a proof-of-possession type and a certificate together (MTLS-04, RSV-08) -------------------

@pytest.fixture
def proof_token_type() -> Iterator[TestProofToken]:
    token_type = registry.token_types.register(TestProofToken())
    yield token_type
    registry.token_types.unregister(token_type.name)
    caches.clear()


def test_key_and_certificate_bindings_together_MTLS_04_RSV_08(
        client, bound_secret_client, proof_token_type, billing, other):
    # MTLS-04, RSV-08: a token type's own binding (as DPoP's jkt) and the certificate's go
    # into one cnf; the token is of that type, and both are enforced at the resource.
    c, secret = bound_secret_client
    response = post_token(client, GRANT, auth=(c.client_id, secret),
                          HTTP_X_TEST_POP_KEY="k1", **via_proxy(billing))
    assert response.json()["token_type"] == "TestPoP"
    claims = claims_of(response)
    assert claims["cnf"] == {CNF_MEMBER: key_digest("k1"), X5T: billing.thumbprint}
    token = response.json()["access_token"]
    uri = f"http://testserver{WHOAMI}"
    pop = {"HTTP_AUTHORIZATION": f"TestPoP {token}", "HTTP_X_TEST_POP_KEY": "k1",
           "HTTP_X_TEST_POP_PROOF": proof("k1", "GET", uri)}
    assert client.get(WHOAMI, **pop, **via_proxy(billing)).status_code == 200
    refused = client.get(WHOAMI, **pop, **via_proxy(other))
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith('TestPoP realm="api", error="invalid_token"')
    assert client.get(WHOAMI, **bearer(token), **via_proxy(billing)).status_code == 401


# --- metadata (MTLS-07) ------------------------------------------------------------------------

METADATA_URL = "/.well-known/oauth-authorization-server"


def test_metadata_with_mtls_MTLS_07_META_09(client, db, mtls, settings):
    # MTLS-07, META-09: tls_client_certificate_bound_access_tokens, the two methods at every
    # endpoint, and only the aliases of known endpoints as https URLs.
    settings.OAUTH_CC = {**settings.OAUTH_CC, "MTLS_ENDPOINT_ALIASES": {
        "token_endpoint": "https://mtls.as.example.test/oauth/token",
        "revocation_endpoint": "https://mtls.as.example.test/oauth/revoke",
        "introspection_endpoint": "http://mtls.as.example.test/oauth/introspect",
        "userinfo_endpoint": "https://mtls.as.example.test/userinfo",
        "jwks_uri": "https://mtls.as.example.test/oauth/jwks",
    }}
    document = client.get(METADATA_URL, secure=True).json()
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert document["mtls_endpoint_aliases"] == {
        "token_endpoint": "https://mtls.as.example.test/oauth/token",
        "revocation_endpoint": "https://mtls.as.example.test/oauth/revoke",
    }
    for endpoint in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        methods = document[f"{endpoint}_auth_methods_supported"]
        assert TLS in methods and SELF_SIGNED in methods


def test_metadata_without_aliases_omits_them_MTLS_07(client, db, mtls):
    document = client.get(METADATA_URL, secure=True).json()
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert "mtls_endpoint_aliases" not in document


def test_metadata_without_mtls_advertises_none_of_it_MTLS_07(client, db):
    # MTLS-07: no proxy passes certificates: nothing of mTLS is advertised.
    document = client.get(METADATA_URL, secure=True).json()
    assert "tls_client_certificate_bound_access_tokens" not in document
    assert "mtls_endpoint_aliases" not in document
    assert TLS not in document["token_endpoint_auth_methods_supported"]


def test_mtls_methods_work_at_introspection_and_revocation_CAUTH_09(
        client, tls_client, billing, bound_secret_client):
    # CAUTH-09: the methods authenticate at the other endpoints too.
    registered = tls_client(subject_dn="CN=billing,O=Example")
    Client.objects.filter(pk=registered.pk).update(can_introspect=True)
    token = bound_token(client, bound_secret_client, billing)
    body = {"token": token, "client_id": registered.client_id}
    response = post_token(client, body, url="/oauth/introspect", **via_proxy(billing))
    assert response.status_code == 200, response.content
    assert response.json()["cnf"] == {X5T: billing.thumbprint}
    own = request_token(client, registered, billing).json()["access_token"]
    response = post_token(client, {"token": own, "client_id": registered.client_id},
                          url="/oauth/revoke", **via_proxy(billing))
    assert response.status_code == 200
