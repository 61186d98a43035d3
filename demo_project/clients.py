"""Get tokens from the running demo with standard client libraries, then call its API.

    .venv/bin/python -m demo_project.clients private_key_jwt-authlib
    .venv/bin/python -m demo_project.clients private_key_jwt-requests-oauth2client
    .venv/bin/python -m demo_project.clients client_secret_jwt-authlib
    .venv/bin/python -m demo_project.clients client_secret_jwt-requests-oauth2client
    .venv/bin/python -m demo_project.clients dpop-requests-oauth2client

Authlib and requests-oauth2client come with the demo extra. The client_ids, this run's
secrets and the private JWK are read from the files ``manage.py demo_setup`` writes to
``DEMO_STATE_DIR`` (``demo_project/.state/``); the server from ``DEMO_PORT`` (8000).

What each example shows:

- the assertion's ``aud`` is the issuer from the server's metadata (RFC 8414), not the token
  endpoint URL, which the server refuses by default (docs/howto/client-assertions.md);
- Authlib signs assertions valid for an hour, over the server's 300 s cap
  (``CLIENT_ASSERTION_MAX_LIFETIME``): ``ShortLived`` gives them a shorter ``exp``;
- requests-oauth2client refuses an ``http`` token endpoint unless ``testing=True``: the demo
  runs on plain HTTP on loopback (with ``DEBUG``); against a real server, leave it out;
- DPoP: the library makes a key pair, a proof for the token request and a new proof for
  every API call; the same token sent as a Bearer token is refused. Authlib's OAuth 2
  clients make no DPoP proofs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import requests

PORT = os.environ.get("DEMO_PORT", "8000")
BASE_URL = f"http://127.0.0.1:{PORT}"
STATE_DIR = Path(os.environ.get("DEMO_STATE_DIR", Path(__file__).resolve().parent / ".state"))
# The names demo_setup uses (not imported from it: that would import Django).
CLIENTS_FILE = "clients.json"
PRIVATE_JWK_FILE = "demo-key-client.jwk.json"
SCOPE = "inventory:read"
TIMEOUT = 10


class Demo:
    """The running demo server and the credentials demo_setup saved for these examples."""

    def __init__(self, base_url: str, state_dir: Path) -> None:
        self.base_url = base_url
        self.state_dir = state_dir
        clients_file = state_dir / CLIENTS_FILE
        if not clients_file.exists():
            raise SystemExit(f"{clients_file} is missing: run 'make demo' (manage.py "
                             "demo_setup) first, or set DEMO_STATE_DIR.")
        self.clients: dict[str, dict[str, str]] = json.loads(clients_file.read_text())
        print(f"credentials: {clients_file} (written by manage.py demo_setup, mode 0600; "
              "its secrets are replaced on every run)")
        try:
            response = requests.get(f"{base_url}/.well-known/oauth-authorization-server",
                                    timeout=TIMEOUT)
        except requests.ConnectionError:
            raise SystemExit(f"no demo server at {base_url}: start it with 'make demo' "
                             "(and set DEMO_PORT if it runs on another port)") from None
        response.raise_for_status()
        metadata = response.json()
        #: The issuer identifier: the ``aud`` of every client assertion.
        self.issuer: str = metadata["issuer"]
        self.token_endpoint: str = metadata["token_endpoint"]
        self.api_url = f"{base_url}/api/items/"

    def client_id(self, name: str) -> str:
        return self.clients[name]["client_id"]

    def client_secret(self, name: str) -> str:
        return self.clients[name]["client_secret"]

    def private_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads((self.state_dir / PRIVATE_JWK_FILE).read_text())
        return jwk


def show_token(token_type: str, scope: str | None, expires_in: int | None) -> None:
    """The token response, without the token itself."""
    print(f"token response: token_type={token_type} scope={scope} expires_in={expires_in}")


def show_response(label: str, response: requests.Response) -> None:
    print(f"{label}: GET {response.request.url} -> {response.status_code}")
    challenge = response.headers.get("WWW-Authenticate")
    if challenge:
        print(f"  WWW-Authenticate: {challenge}")
    try:
        print(f"  {json.dumps(response.json())}")
    except ValueError:
        print(f"  {response.text[:200]}")


# --- Authlib ---------------------------------------------------------------------------------

def authlib_short_lived(base: type) -> type:
    """``base`` (Authlib's ``PrivateKeyJWT`` or ``ClientSecretJWT``) with assertions valid
    for 60 s. Authlib signs with ``exp = iat + 3600`` and has no lifetime option; extra
    claims override it. A new dict per assertion: Authlib writes the ``jti`` it makes into
    the dict it is given, so a shared one would repeat the ``jti``."""

    class ShortLived(base):  # type: ignore[valid-type,misc]
        def sign(self, auth: Any, token_endpoint: str) -> Any:
            self.claims = {"exp": int(time.time()) + 60}
            return super().sign(auth, token_endpoint)

    ShortLived.__name__ = f"ShortLived{base.__name__}"
    return ShortLived


def authlib_private_key(private_jwk: dict[str, Any]) -> Any:
    """Authlib 1.7 and later sign with joserfc and take a joserfc key; 1.6 took the JWK."""
    major, minor = (int(part) for part in version("authlib").split(".")[:2])
    if (major, minor) < (1, 7):
        return private_jwk
    from joserfc.jwk import import_key

    return import_key(private_jwk)


def authlib_example(demo: Demo, client_name: str, credential: Any, method: Any) -> None:
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(demo.client_id(client_name), credential, scope=SCOPE,
                            token_endpoint_auth_method=method.name)
    session.register_client_auth_method(method)
    with session:
        token = session.fetch_token(demo.token_endpoint, grant_type="client_credentials")
        show_token(token["token_type"], token.get("scope"), token.get("expires_in"))
        # The session sends the token it fetched: Authorization: Bearer ...
        show_response("API call with the token", session.get(demo.api_url, timeout=TIMEOUT))


def private_key_jwt_authlib(demo: Demo) -> None:
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

    jwk = demo.private_jwk()
    # token_endpoint=issuer: Authlib puts this argument in aud.
    method = authlib_short_lived(PrivateKeyJWT)(demo.issuer, alg=jwk["alg"])
    authlib_example(demo, "demo-key-client", authlib_private_key(jwk), method)


def client_secret_jwt_authlib(demo: Demo) -> None:
    from authlib.oauth2.rfc7523 import ClientSecretJWT

    method = authlib_short_lived(ClientSecretJWT)(demo.issuer, alg="HS256")
    authlib_example(demo, "demo-jwt-secret-client",
                    demo.client_secret("demo-jwt-secret-client"), method)


# --- requests-oauth2client -------------------------------------------------------------------

def oauth2_client(demo: Demo, auth: Any, **options: Any) -> Any:
    from requests_oauth2client import OAuth2Client

    # testing=True: the library accepts only https endpoints otherwise; the demo is http.
    return OAuth2Client(token_endpoint=demo.token_endpoint, auth=auth, testing=True, **options)


def requests_oauth2client_example(demo: Demo, auth: Any) -> None:
    token = oauth2_client(demo, auth).client_credentials(scope=SCOPE)
    show_token(token.token_type, token.scope, token.expires_in)
    # The token is a requests auth handler: Authorization: Bearer ...
    show_response("API call with the token",
                  requests.get(demo.api_url, auth=token, timeout=TIMEOUT))


def private_key_jwt_requests_oauth2client(demo: Demo) -> None:
    from requests_oauth2client import PrivateKeyJwt

    # aud=issuer: by default the library puts the token endpoint URL in aud.
    requests_oauth2client_example(demo, PrivateKeyJwt(
        demo.client_id("demo-key-client"), demo.private_jwk(), aud=demo.issuer))


def client_secret_jwt_requests_oauth2client(demo: Demo) -> None:
    from requests_oauth2client import ClientSecretJwt

    name = "demo-jwt-secret-client"
    requests_oauth2client_example(demo, ClientSecretJwt(
        demo.client_id(name), demo.client_secret(name), alg="HS256", aud=demo.issuer))


def dpop_requests_oauth2client(demo: Demo) -> None:
    from requests_oauth2client import ClientSecretBasic

    name = "demo-dpop-client"
    oauth2 = oauth2_client(demo, ClientSecretBasic(demo.client_id(name),
                                                   demo.client_secret(name)),
                           dpop_bound_access_tokens=True)
    # The library makes an ES256 key pair for this token and a proof for this request.
    token = oauth2.client_credentials(scope=SCOPE)
    show_token(token.token_type, token.scope, token.expires_in)
    with requests.Session() as session:
        for attempt in ("first", "second"):
            # Authorization: DPoP ..., and a new DPoP proof (jti, htm, htu, ath) each time.
            show_response(f"API call with the token, {attempt} proof",
                          session.get(demo.api_url, auth=token, timeout=TIMEOUT))
        # Whoever copies the token cannot use it without the key, not even as Bearer.
        show_response("the same token replayed as Bearer, no proof", session.get(
            demo.api_url, headers={"Authorization": f"Bearer {token.access_token}"},
            timeout=TIMEOUT))


EXAMPLES: dict[str, Callable[[Demo], None]] = {
    "private_key_jwt-authlib": private_key_jwt_authlib,
    "private_key_jwt-requests-oauth2client": private_key_jwt_requests_oauth2client,
    "client_secret_jwt-authlib": client_secret_jwt_authlib,
    "client_secret_jwt-requests-oauth2client": client_secret_jwt_requests_oauth2client,
    "dpop-requests-oauth2client": dpop_requests_oauth2client,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("example", choices=EXAMPLES)
    parser.add_argument("--base-url", default=BASE_URL, help=f"default: {BASE_URL}")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help=f"default: {STATE_DIR}")
    args = parser.parse_args(argv)
    demo = Demo(args.base_url.rstrip("/"), args.state_dir)
    print(f"{args.example}: issuer {demo.issuer}, token endpoint {demo.token_endpoint}")
    EXAMPLES[args.example](demo)


if __name__ == "__main__":
    main()
