"""Standard client libraries authenticate with JWT assertions against a real HTTP server,
then call a protected view with the token they got (JWTCA-01..09, CAUTH-08).

- Authlib: ``OAuth2Session`` with ``authlib.oauth2.rfc7523.PrivateKeyJWT`` /
  ``ClientSecretJWT``.
- requests-oauth2client: ``OAuth2Client`` with ``PrivateKeyJwt`` / ``ClientSecretJwt``.

Both libraries put the token endpoint URL in ``aud`` unless told otherwise; both can be
told to use the issuer (JWTCA-04, X-06), so the legacy audience setting stays off here.
Authlib signs assertions valid for an hour, more than ``CLIENT_ASSERTION_MAX_LIFETIME``
(300 s): it is given a shorter ``exp`` (see ``ShortLived``), or the server's cap is raised.

The live server speaks plain HTTP on 127.0.0.1; the requests say ``X-Forwarded-Proto:
https`` as a TLS-terminating proxy would (``SECURE_PROXY_SSL_HEADER``), and the issuer stays
``https://as.example.test``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms

from oauth_cc.models import Client
from tests.conftest import ISSUER
from tests.test_client_assertions import client_private_key, jwks_text, public_jwk

authlib_client = pytest.importorskip("authlib.integrations.requests_client")
rfc7523 = pytest.importorskip("authlib.oauth2.rfc7523")
joserfc_jwk = pytest.importorskip("joserfc.jwk")
requests_oauth2client = pytest.importorskip("requests_oauth2client")

PROTECTED = "/t/authenticated"
# Connection: close, so that no kept-alive connection outlives the test (the live server's
# request thread would then close the test's shared SQLite connection from another thread).
FORWARDED = {"X-Forwarded-Proto": "https", "Connection": "close"}


@pytest.fixture
def live(live_server: Any, settings: Any, signing_key: Any) -> str:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return str(live_server.url)


def call_protected(base: str, access_token: str, client: Client) -> None:
    """The token opens a protected DRF view as the client (RSV, BEARER)."""
    response = requests.get(f"{base}{PROTECTED}", timeout=10, headers={
        **FORWARDED, "Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == client.client_id


def pem(private_key: Any) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def private_jwk(algorithm: str, kid: str = "k1") -> dict[str, Any]:
    jwk = get_default_algorithms()[algorithm].to_jwk(client_private_key(algorithm),
                                                      as_dict=True)
    return {**jwk, "kid": kid, "alg": algorithm}


@pytest.fixture
def key_client(make_client: Callable[..., tuple[Client, str]]) -> Callable[[str], Client]:
    def make(algorithm: str) -> Client:
        client, _ = make_client(
            token_endpoint_auth_method="private_key_jwt",
            jwks=jwks_text(public_jwk(client_private_key(algorithm), algorithm, "k1")))
        return client

    return make


@pytest.fixture
def secret_client(make_client: Callable[..., tuple[Client, str]]) -> tuple[Client, str]:
    return make_client(token_endpoint_auth_method="client_secret_jwt")


# --- Authlib ----------------------------------------------------------------------------------

class ShortLived:
    """Authlib signs with ``exp = iat + 3600`` and offers no lifetime option; extra claims
    override it. A new ``claims`` dict per assertion matters: Authlib writes the ``jti``
    it generates into the dict it is given, so a shared dict would repeat the jti."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        self.claims = {"exp": int(time.time()) + 60}
        return super().sign(auth, token_endpoint)  # type: ignore[misc]


class ShortLivedPrivateKeyJWT(ShortLived, rfc7523.PrivateKeyJWT):
    pass


class ShortLivedClientSecretJWT(ShortLived, rfc7523.ClientSecretJWT):
    pass


def authlib_session(client_id: str, key: Any, method: Any) -> Any:
    session = authlib_client.OAuth2Session(
        client_id, key, token_endpoint_auth_method=method.name)
    session.register_client_auth_method(method)
    session.headers.update(FORWARDED)
    return session


@pytest.fixture
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Authlib refuses http token endpoints unless told; the "proxy" header says https."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_authlib_private_key_jwt_JWTCA_08_JWTCA_09(live, key_client, insecure_transport,
                                                   algorithm):
    """JWTCA-08, JWTCA-09: Authlib's PrivateKeyJWT with aud = the issuer."""
    client = key_client(algorithm)
    key = joserfc_jwk.import_key(private_jwk(algorithm))
    session = authlib_session(client.client_id, key,
                              ShortLivedPrivateKeyJWT(ISSUER, alg=algorithm))
    for _ in range(2):  # a fresh jti each time
        token = session.fetch_token(f"{live}/oauth/token", grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        call_protected(live, token["access_token"], client)


def test_authlib_client_secret_jwt_JWTCA_08(live, secret_client, insecure_transport):
    """JWTCA-08: Authlib's ClientSecretJWT (HS256) with aud = the issuer."""
    client, secret = secret_client
    session = authlib_session(client.client_id, secret,
                              ShortLivedClientSecretJWT(ISSUER, alg="HS256"))
    token = session.fetch_token(f"{live}/oauth/token", grant_type="client_credentials")
    call_protected(live, token["access_token"], client)


def test_authlib_default_lifetime_needs_a_higher_cap_JWTCA_05(live, key_client,
                                                              insecure_transport, settings):
    """JWTCA-05: Authlib's own one-hour assertions are refused under the default 300 s cap,
    and accepted when CLIENT_ASSERTION_MAX_LIFETIME allows an hour."""
    from authlib.integrations.base_client.errors import OAuthError

    client = key_client("RS256")
    session = authlib_session(client.client_id, pem(client_private_key("RS256")),
                              rfc7523.PrivateKeyJWT(ISSUER))
    with pytest.raises(OAuthError) as caught:
        session.fetch_token(f"{live}/oauth/token", grant_type="client_credentials")
    assert caught.value.error == "invalid_client"
    settings.OAUTH_CC = {**settings.OAUTH_CC, "CLIENT_ASSERTION_MAX_LIFETIME": 3600}
    token = session.fetch_token(f"{live}/oauth/token", grant_type="client_credentials")
    call_protected(live, token["access_token"], client)


# --- requests-oauth2client --------------------------------------------------------------------

def oauth2_client(base: str, auth: Any) -> Any:
    session = requests.Session()
    session.headers.update(FORWARDED)
    # testing=True: the token endpoint is http on loopback (the proxy header says https).
    return requests_oauth2client.OAuth2Client(
        token_endpoint=f"{base}/oauth/token", auth=auth, session=session, testing=True)


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "EdDSA"])
def test_requests_oauth2client_private_key_jwt_JWTCA_08_JWTCA_09(live, key_client,
                                                                 algorithm):
    """JWTCA-08, JWTCA-09: requests-oauth2client's PrivateKeyJwt with aud = the issuer."""
    client = key_client(algorithm)
    auth = requests_oauth2client.PrivateKeyJwt(client.client_id, private_jwk(algorithm),
                                               aud=ISSUER)
    oauth2 = oauth2_client(live, auth)
    for _ in range(2):
        token = oauth2.client_credentials(scope="read")
        assert token.token_type.lower() == "bearer"
        call_protected(live, token.access_token, client)


def test_requests_oauth2client_client_secret_jwt_JWTCA_08(live, secret_client):
    """JWTCA-08: requests-oauth2client's ClientSecretJwt (HS256) with aud = the issuer."""
    client, secret = secret_client
    auth = requests_oauth2client.ClientSecretJwt(client.client_id, secret, alg="HS256",
                                                 aud=ISSUER)
    token = oauth2_client(live, auth).client_credentials(scope="read")
    call_protected(live, token.access_token, client)


def test_requests_oauth2client_default_audience_is_refused_X_06(live, key_client, settings):
    """X-06: without aud=, the library sends the token endpoint URL; refused by default.
    (The legacy setting accepts this server's own token endpoint URL, built from the
    issuer, not the http address of the test server, so it does not apply here.)"""
    client = key_client("ES256")
    auth = requests_oauth2client.PrivateKeyJwt(client.client_id, private_jwk("ES256"))
    with pytest.raises(requests_oauth2client.InvalidClient):
        oauth2_client(live, auth).client_credentials(scope="read")
