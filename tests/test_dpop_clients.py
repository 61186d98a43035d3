"""DPoP with a standard client library over real HTTP: requests-oauth2client against the
live server (RFC 9449; DPOP-11, DPOP-13, DPOP-16, DPOP-10, DPOP-17).

The live server speaks plain HTTP; the client speaks to ``https://localhost:<port>``, and a
transport adapter stands in for the TLS-terminating proxy: it forwards each request over
HTTP with ``X-Forwarded-Proto: https`` (believed through ``SECURE_PROXY_SSL_HEADER``). So
the client's ``htu`` (its https URL) and the server's target URI (rebuilt from the proxy
headers) agree, as in a real deployment.

Authlib (installed here, 1.9) has no DPoP support in its OAuth 2 clients, so it is not
tested here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import pytest
import requests
from requests.adapters import HTTPAdapter
from requests_oauth2client import BearerToken, DPoPKey, DPoPToken, OAuth2Client
from requests_oauth2client.client_authentication import ClientSecretBasic
from requests_oauth2client.dpop import MissingDPoPNonce

from oauth_cc import jose


class TlsProxy(HTTPAdapter):
    """``https://localhost:<port>`` -> ``http://127.0.0.1:<port>`` with
    ``X-Forwarded-Proto: https``: the TLS terminator in front of the live server."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = urlunsplit(("http", f"127.0.0.1:{parts.port}", parts.path, parts.query,
                                  parts.fragment))
        request.headers["Host"] = parts.netloc
        request.headers["X-Forwarded-Proto"] = "https"
        return super().send(request, **kwargs)


@pytest.fixture
def origin(live_server: Any, settings: Any) -> str:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return f"https://localhost:{urlsplit(live_server.url).port}"


@pytest.fixture
def session(origin: str) -> Iterator[requests.Session]:
    """A requests session through the proxy; closed after the test, so that no kept-alive
    connection outlives the live server's shared database connection."""
    http = requests.Session()
    http.mount(origin + "/", TlsProxy())
    yield http
    http.close()


@pytest.fixture
def reader(make_client: Any, signing_key: Any) -> tuple[Any, str]:
    return make_client(scope="inventory:read", default_scope="inventory:read")


def oauth_client(origin: str, session: requests.Session, reader: tuple[Any, str]
                 ) -> OAuth2Client:
    client, secret = reader
    return OAuth2Client(token_endpoint=f"{origin}/oauth/token",
                        auth=ClientSecretBasic(client.client_id, secret), session=session,
                        dpop_bound_access_tokens=True)


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "EdDSA"])
def test_library_gets_a_dpop_token_and_calls_the_api_DPOP_11_DPOP_16(
        origin, session, reader, algorithm):
    """DPOP-11: client_secret_basic plus a DPoP proof from the library gets token_type
    DPoP bound to its key; DPOP-16, DPOP-10: the library's proofs (htm, htu, ath) are
    accepted at a DRF view and a plain view."""
    key = DPoPKey.generate(alg=algorithm)
    token = oauth_client(origin, session, reader).client_credentials(
        scope="inventory:read", dpop_key=key)
    assert isinstance(token, DPoPToken)
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": jose.thumbprint(key.public_jwk)}
    for path in ("/api/whoami", "/api/plain/stock"):
        for _ in range(2):  # each call with its own proof; the second hits the token cache
            response = session.get(f"{origin}{path}", auth=token, timeout=10)
            assert response.status_code == 200, response.text
            assert response.json()["client_id"] == reader[0].client_id


def test_library_follows_the_nonce_demand_DPOP_13(origin, session, reader, settings):
    """DPOP-13: with DPOP_REQUIRE_NONCE the library's first request gets use_dpop_nonce and
    a DPoP-Nonce header; it retries with the nonce and gets its token."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "DPOP_REQUIRE_NONCE": True}
    key = DPoPKey.generate(alg="ES256")
    token = oauth_client(origin, session, reader).client_credentials(
        scope="inventory:read", dpop_key=key)
    assert isinstance(token, DPoPToken)
    assert key.as_nonce  # the nonce the server demanded, kept by the library
    assert session.get(f"{origin}/api/whoami", auth=token, timeout=10).status_code == 200


def test_stolen_token_with_another_key_is_refused_DPOP_10_DPOP_17_BCP_01(origin, session, reader):
    # BCP-01: a sender-constrained token is useless to whoever steals it.
    """DPOP-10: the token replayed by a thief with its own key (valid proof, right ath,
    wrong key): 401 invalid_token in the DPoP challenge; DPOP-17: as a Bearer token: 401
    invalid_token."""
    token = oauth_client(origin, session, reader).client_credentials(
        scope="inventory:read", dpop_key=DPoPKey.generate(alg="ES256"))
    stolen = DPoPToken(token.access_token, _dpop_key=DPoPKey.generate(alg="ES256"))
    # The library reads any 401 DPoP challenge as a nonce demand, finds no nonce and raises
    # with the response: the refusal is what is asserted.
    with pytest.raises(MissingDPoPNonce) as refused:
        session.get(f"{origin}/api/whoami", auth=stolen, timeout=10)
    response = refused.value.response
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('DPoP realm="api", algs="')
    as_bearer = session.get(f"{origin}/api/whoami",
                            auth=BearerToken(token.access_token), timeout=10)
    assert as_bearer.status_code == 401
    assert as_bearer.json()["error"] == "invalid_token"
    assert as_bearer.headers["WWW-Authenticate"].startswith('Bearer realm="api", error=')


def test_library_without_dpop_gets_a_bearer_token_DPOP_11(origin, session, reader):
    """DPOP-11: the same client without DPoP gets a Bearer token, which works as one."""
    token = oauth_client(origin, session, reader).client_credentials(
        scope="inventory:read", dpop=False)
    assert type(token) is BearerToken
    assert session.get(f"{origin}/api/whoami", auth=token, timeout=10).status_code == 200
