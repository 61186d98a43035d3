"""Mutual TLS end to end: a real nginx on 127.0.0.1 terminates TLS, asks for a client
certificate and passes it (``$ssl_client_escaped_cert``, ``$ssl_client_verify``) to the live
Django server; ``requests`` presents real client certificates in the TLS handshake.

Skipped when nginx is not installed, except under ``CI=true``, where it fails instead
(``make test-mtls``).

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from oauth_cc.models import Client
from tests.mtls_nginx import proxy
from tests.mtls_nginx.certificates import Issued, issue, make_ca, name, san, self_signed

GRANT = {"grant_type": "client_credentials"}
READ = "inventory:read"
X5T = "x5t#S256"

if proxy.binary() is None:
    if os.environ.get("CI") == "true":
        pytest.fail("nginx is required for the mTLS end-to-end test in CI "
                    "(apt-get install nginx)", pytrace=False)
    pytest.skip("nginx is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


@pytest.fixture(scope="module")
def made(ca: Issued) -> dict[str, Issued]:
    """billing and shipping from the CA, a self-signed one, and a self-signed impostor with
    billing's subject."""
    return {
        "billing": issue(ca, name("billing"), san(dns="billing.example.test")),
        "shipping": issue(ca, name("shipping")),
        "self_signed": self_signed("robot"),
        "impostor": self_signed("billing"),
    }


@pytest.fixture(scope="module")
def certificates(made: dict[str, Issued], tmp_path_factory: Any
                 ) -> dict[str, tuple[str, str]]:
    """(certificate, key) files of each, for ``requests``' ``cert``."""
    folder: Path = tmp_path_factory.mktemp("mtls-clients")
    return {label: each.write(folder, label) for label, each in made.items()}


@pytest.fixture(scope="module")
def nginx(live_server: Any, ca: Issued) -> Iterator[proxy.Proxy]:
    upstream = urlsplit(live_server.url).port
    assert upstream is not None
    running = proxy.start(upstream, ca.pem)
    yield running
    running.stop()


@pytest.fixture
def mtls(settings: Any, nginx: proxy.Proxy, signing_key: Any) -> proxy.Proxy:
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": ["127.0.0.1"],
                         "CLIENT_CERTIFICATE_HEADER": proxy.CERT_HEADER,
                         "CLIENT_CERTIFICATE_VERIFY_HEADER": proxy.VERIFY_HEADER}
    return nginx


def post(nginx: proxy.Proxy, path: str, data: dict[str, str], cert: tuple[str, str] | None,
         **kwargs: Any) -> requests.Response:
    return requests.post(f"{nginx.url}{path}", data=data, cert=cert, verify=nginx.ca,
                         timeout=10, **kwargs)


def get(nginx: proxy.Proxy, path: str, token: str, cert: tuple[str, str] | None,
        headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{nginx.url}{path}", cert=cert, verify=nginx.ca, timeout=10,
                        headers={"Authorization": f"Bearer {token}", **(headers or {})})


@pytest.fixture
def tls_client(make_client: Any, mtls: proxy.Proxy) -> Client:
    client, _ = make_client(scope=READ, default_scope=READ,
                            token_endpoint_auth_method="tls_client_auth",
                            tls_client_auth_subject_dn="CN=billing,O=Example",
                            tls_client_certificate_bound_access_tokens=True)
    return client


def test_tls_client_auth_and_bound_token_through_nginx_MTLS_01_02_04_05(
        mtls, tls_client, certificates, made):
    # MTLS-01, MTLS-02: client_id and a CA-issued certificate with the registered DN;
    # MTLS-04: the token is bound to that certificate; MTLS-05: accepted with it, refused
    # without a certificate or with another one.
    response = post(mtls, "/oauth/token", {**GRANT, "client_id": tls_client.client_id},
                    certificates["billing"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    token = body["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {X5T: made["billing"].thumbprint}

    ok = get(mtls, "/api/whoami", token, certificates["billing"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["client_id"] == tls_client.client_id
    for cert in (None, certificates["shipping"], certificates["self_signed"]):
        refused = get(mtls, "/api/whoami", token, cert)
        assert refused.status_code == 401, cert
        assert refused.headers["WWW-Authenticate"].startswith(
            'Bearer realm="api", error="invalid_token"')


def test_tls_client_auth_refuses_an_unverified_certificate_through_nginx_MTLS_02(
        mtls, tls_client, certificates):
    # MTLS-02: a self-signed certificate with the registered subject: nginx says its chain
    # failed, so it does not authenticate.
    response = post(mtls, "/oauth/token", {**GRANT, "client_id": tls_client.client_id},
                    certificates["impostor"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"
    response = post(mtls, "/oauth/token", {**GRANT, "client_id": tls_client.client_id},
                    certificates["shipping"])
    assert response.status_code == 400


def test_self_signed_tls_client_auth_through_nginx_MTLS_03(mtls, make_client, certificates,
                                                        made):
    # MTLS-03: the self-signed certificate registered in the client's JWKS authenticates.
    registered, _ = make_client(scope=READ, default_scope=READ,
                                token_endpoint_auth_method="self_signed_tls_client_auth",
                                jwks=made["self_signed"].jwks())
    data = {**GRANT, "client_id": registered.client_id}
    response = post(mtls, "/oauth/token", data, certificates["self_signed"])
    assert response.status_code == 200, response.text
    assert post(mtls, "/oauth/token", data, certificates["impostor"]).status_code == 400


def test_forged_certificate_headers_are_replaced_by_nginx_MTLS_08(
        mtls, tls_client, certificates, made):
    # MTLS-08: headers a client sends under the proxy's names never reach Django: without a
    # TLS certificate the request has none, with another certificate it is that one.
    billing = made["billing"]
    forged = {proxy.CERT_HEADER: billing.escaped(), proxy.VERIFY_HEADER: "SUCCESS"}
    data = {**GRANT, "client_id": tls_client.client_id}
    response = post(mtls, "/oauth/token", data, None, headers=forged)
    assert response.status_code == 401  # no certificate: no client authentication
    assert response.json()["error"] == "invalid_client"
    response = post(mtls, "/oauth/token", data, certificates["shipping"], headers=forged)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"

    token = post(mtls, "/oauth/token", data, certificates["billing"]).json()["access_token"]
    for cert in (None, certificates["shipping"]):
        response = get(mtls, "/api/whoami", token, cert, headers=forged)
        assert response.status_code == 401, cert
