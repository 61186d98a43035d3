"""Test-only extensions, written as a project would write its own: outside the package,
through the public base classes and registries only.

- ``HeaderKeyAuth``: a client authentication method that reads ``X-Test-Client-Id`` and
  ``X-Test-Client-Secret`` headers (checked against the client's usable secrets).
- ``FixedScopeGrant``: a grant type that issues the client's default scopes.
- ``TestProofToken``: a proof-of-possession token type. At the token endpoint, a request with
  ``X-Test-Pop-Key`` gets a token bound to that key's SHA-256 (``cnf``). At the resource, the
  token is presented as ``Authorization: TestPoP <token>`` with ``X-Test-Pop-Proof`` = the
  hex SHA-256 of "<key> <method> <absolute URI>": a proof bound to the one request, as DPoP
  binds ``htm`` and ``htu``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import HttpRequest

from oauth_cc.errors import InvalidToken
from oauth_cc.models import Client
from oauth_cc.resource.token_types import RequestContext, TokenType
from oauth_cc.resource.verification import AccessToken
from oauth_cc.server import issuing
from oauth_cc.server.client_auth import ClientAuthMethod, report
from oauth_cc.server.client_secret import verify_secret
from oauth_cc.server.grants import Grant
from oauth_cc.server.http import FormParameters


class HeaderKeyAuth(ClientAuthMethod):
    name = "test_header_key"
    label = "test only: client id and secret in X-Test-* headers"

    def detect(self, request: HttpRequest, params: FormParameters) -> bool:
        return "HTTP_X_TEST_CLIENT_ID" in request.META

    def authenticate(self, request: HttpRequest, params: FormParameters) -> Client:
        client_id = request.META["HTTP_X_TEST_CLIENT_ID"]
        client = verify_secret(client_id, request.META.get("HTTP_X_TEST_CLIENT_SECRET", ""))
        if client is None:
            report(request, None, "unknown client or wrong secret", client_id)
            raise self.failure()
        return client


class FixedScopeGrant(Grant):
    name = "urn:example:params:oauth:grant-type:fixed-scope"
    parameters = frozenset({"note"})

    def issue(self, request: HttpRequest, params: FormParameters, client: Client
              ) -> issuing.IssuedToken:
        return issuing.issue(request, client, client.default_scope_set,
                             "https://api.example.test")


CNF_MEMBER = "x-test#S256"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def proof(key: str, method: str, uri: str) -> str:
    return hashlib.sha256(f"{key} {method} {uri}".encode()).hexdigest()


class TestProofToken(TokenType):
    name = "TestPoP"

    def bind(self, request: HttpRequest, client: Any) -> dict[str, Any] | None:
        key = request.META.get("HTTP_X_TEST_POP_KEY")
        return {CNF_MEMBER: key_digest(key)} if key else None

    def describes(self, claims: Any) -> bool:
        return CNF_MEMBER in (claims.get("cnf") or {})

    def confirm(self, token: AccessToken, context: RequestContext) -> None:
        bound = (token.claims.get("cnf") or {}).get(CNF_MEMBER)
        if not bound:
            raise InvalidToken("The access token is not bound to a key.")
        key = context.headers.get("X-Test-Pop-Key", "")
        presented = context.headers.get("X-Test-Pop-Proof", "")
        if key_digest(key) != bound or presented != proof(key, context.method, context.uri):
            raise InvalidToken("The proof of possession is missing or wrong.")
