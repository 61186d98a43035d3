"""Hostile input at every endpoint: hypothesis-generated requests (issue 9, item 7).

Each endpoint (token, introspection, revocation, JWKS, metadata, and the demo's protected
APIs: a DRF function view, a DRF viewset and a plain Django view) gets requests with any
HTTP method, Authorization header (Basic and Bearer with real and broken credentials, other
schemes, repeated spaces, latin-1 and mojibake octets, huge values), Content-Type (form,
JSON, multipart, charset variants, garbage), body (random octets, form bodies with repeated
parameters, percent-encoding errors, invalid UTF-8, values up to 64 KiB), query string
(credentials and tokens in the URL, many parameters), Content-Length, Accept, Cookie and
DPoP headers, over HTTPS and plain HTTP.

Every answer is checked:

- never a 5xx (no fault is injected here), never a traceback in the body, always valid
  JSON when it says JSON (no ``NaN``), never a client secret or token of ours echoed back;
- GEN-05, GEN-09: an authorization-server 4xx is the RFC 6749 §5.2 JSON error with
  ``no-store``; a 405 has ``Allow``; a 401 has a challenge (``Basic`` there, ``Bearer`` at the
  APIs: BEARER-05, BEARER-06, BEARER-08);
- GEN-01, CAUTH-01, BEARER-03: a token comes only over HTTPS to a request that carried a real
  secret; a protected API answers 2xx only to a request whose Authorization header carried
  one of our valid tokens; introspection and revocation answer 2xx only to a client with a
  real secret;
- BEARER-10 (and GEN-05's "never echo"): no log record of the ``oauth_cc`` and ``django``
  loggers, captured at DEBUG, contains a real client secret, a real access token (those
  made by the fixture and every one issued during the run) or the Authorization header value
  of the request; and no ``oauth_cc`` record is an error (an unexpected exception).

``OAUTH_CC_FUZZ_EXAMPLES`` sets the examples per endpoint (default small: the file runs in
seconds; ``make fuzz`` raises it). Run with ``-s`` to see the summary line.
"""

from __future__ import annotations

import base64
import codecs
import io
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import pytest
from django.core.cache import cache
from django.test import Client as HttpClient
from django.utils.http import parse_header_parameters
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import (
    AUDIENCE,
    FORM,
    NO_TOKEN_CHALLENGE,
    TOKEN_URL,
    basic,
    bearer_form,
    forge,
    get_token,
    valid_claims,
)

EXAMPLES = int(os.environ.get("OAUTH_CC_FUZZ_EXAMPLES", "50"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.large_base_example],
)

READ, WRITE = "inventory:read", "inventory:write"
#: name: (path, the method that works, whether it is an authorization-server endpoint)
ENDPOINTS: dict[str, tuple[str, str, bool]] = {
    "token": (TOKEN_URL, "POST", True),
    "introspect": ("/oauth/introspect", "POST", True),
    "revoke": ("/oauth/revoke", "POST", True),
    "jwks": ("/oauth/jwks", "GET", True),
    "metadata": ("/.well-known/oauth-authorization-server", "GET", True),
    "whoami": ("/api/whoami", "GET", False),
    "items": ("/api/items/", "POST", False),
    "plain": ("/api/plain/stock", "GET", False),
}
ALLOW = {"token": "POST", "introspect": "POST", "revoke": "POST", "jwks": "GET, HEAD",
         "metadata": "GET, HEAD"}
#: Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (default).
MAX_FIELDS = 1000
#: RFC 6749 §5.2 / RFC 6750 §3: error and error_description characters.
ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
BEARER_CHALLENGE = re.compile(
    r'Bearer realm="api"(?:, error="(invalid_request|invalid_token|insufficient_scope)"'
    r'(?:, error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*")?'
    r'(?:, scope="[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")?)?')
#: Requests between two resets of Django's cache, which holds the failed-authentication
#: counters (throttling): the throttle answers 429 at times, and the endpoints stay reachable.
THROTTLE_RESET = 50
#: Strings shorter than this may occur in a log line by chance (a method, a path...).
MIN_SENSITIVE = 16

#: Counted over the session; printed at the end of the module (``pytest -s``).
STATS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary() -> Any:
    yield
    print(f"\nfuzz: {STATS['requests']} requests, {STATS['server_errors']} server errors, "
          f"{STATS['log_lines']} log lines scanned, {STATS['secrets_found']} secrets found")


# --- the world: real clients, secrets and tokens --------------------------------------------

@dataclass(repr=False)
class World:
    #: role -> (client_id, secret)
    clients: dict[str, tuple[str, str]]
    #: Valid access tokens that only ever go in an Authorization header (never revoked).
    header_tokens: list[str]
    #: Valid access tokens that go in bodies (introspection, revocation may revoke them).
    body_tokens: list[str]
    #: Tokens that are not valid (expired, other audience): credentials nonetheless.
    bad_tokens: list[str]
    #: Every token the token endpoint issued during the run.
    issued: set[str] = field(default_factory=set)

    def __repr__(self) -> str:  # hypothesis prints the strategy's arguments
        return f"World({', '.join(self.clients)})"

    @property
    def client_ids(self) -> list[str]:
        return [client_id for client_id, _ in self.clients.values()]

    @property
    def secrets(self) -> list[str]:
        return [secret for _, secret in self.clients.values()]

    def basic_credentials(self) -> list[str]:
        return [basic(*pair).split()[1] for pair in self.clients.values()]

    def sensitive(self) -> set[str]:
        return {*self.secrets, *self.header_tokens, *self.body_tokens, *self.bad_tokens,
                *self.issued, *self.basic_credentials()}


def issue_post(http: HttpClient, client_id: str, secret: str) -> str:
    response = http.generic("POST", TOKEN_URL, urlencode({
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}),
        content_type=FORM, secure=True)
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


@pytest.fixture
def world(client: HttpClient, make_client: Any, signing_key: Any) -> World:
    """Three real clients (Basic and introspection; client_secret_post; opaque tokens) and
    tokens issued to them by the token endpoint."""
    basic_client, basic_secret = make_client(
        scope=f"{READ} {WRITE} read", default_scope=READ, can_introspect=True,
        name="fuzz basic")
    post_client, post_secret = make_client(
        scope=READ, default_scope=READ, token_endpoint_auth_method="client_secret_post",
        name="fuzz post")
    opaque_client, opaque_secret = make_client(
        scope=READ, default_scope=READ, token_format="opaque", name="fuzz opaque")
    clients = {"basic": (basic_client.client_id, basic_secret),
               "post": (post_client.client_id, post_secret),
               "opaque": (opaque_client.client_id, opaque_secret)}

    def tokens() -> list[str]:
        return [
            get_token(client, basic_client, basic_secret),
            get_token(client, basic_client, basic_secret, scope=f"{READ} {WRITE}"),
            issue_post(client, post_client.client_id, post_secret),
            get_token(client, opaque_client, opaque_secret),
        ]

    bad = [forge(valid_claims(scope=READ, exp=1, iat=0)),
           forge(valid_claims(scope=READ, aud="https://other.example.test"))]
    return World(clients, header_tokens=tokens(), body_tokens=tokens(), bad_tokens=bad)


@pytest.fixture
def http() -> HttpClient:
    """A test client that returns 500s instead of raising, and enforces CSRF (the
    endpoints and protected views must not depend on the test client skipping it)."""
    return HttpClient(raise_request_exception=False, enforce_csrf_checks=True)


# --- strategies -----------------------------------------------------------------------------

#: Header values as a WSGI server delivers them: latin-1 characters, no CR or LF.
LATIN1 = st.characters(min_codepoint=0, max_codepoint=0xFF, exclude_characters="\r\n")
TCHAR = st.sampled_from("!#$%&'*+-.^_`|~0123456789"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def latin1(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(LATIN1, min_size=min_size, max_size=max_size)


def mojibake(max_size: int) -> st.SearchStrategy[str]:
    """Any text, UTF-8 encoded, as a WSGI server hands non-ASCII octets over (latin-1)."""
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size).map(
        lambda s: s.encode("utf-8").decode("latin-1"))


def huge(character: str = "A", low: int = 1000, high: int = 70_000) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: character * n)


METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
           "PROPFIND", "MKCOL", "QUERY", "M-SEARCH", "BREW", "get", "Post", "X"]


def methods(preferred: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(preferred), st.just(preferred), st.sampled_from(METHODS),
                     st.text(TCHAR, min_size=1, max_size=10))


SCHEMES = ["Basic", "basic", "BASIC", "Bearer", "bearer", "BEARER", "DPoP", "Digest",
           "Negotiate", "MAC", "Token", "OAuth", "Bearer,", "Basic,", "", "Bearer\x00"]
SEPARATORS = [" ", " ", "  ", "   ", "\t", "", " \t ", ",", " , ", "\xa0", "\x0b"]


def token_variants(token: str) -> list[str]:
    return [token, token + "=", token[:-1], token.upper(), token + " " + token,
            token + ", Bearer " + token, token + "," + token, token.replace(".", " "),
            token + "\x00", "  " + token, token + "~"]


def credentials(world: World) -> st.SearchStrategy[str]:
    tokens = world.header_tokens + world.bad_tokens
    pairs = [*world.clients.values()]
    cid, secret = world.clients["basic"]
    wrong = [(cid, "wrong"), (secret, secret), ("unknown-client", secret), (cid, secret + "x"),
             (cid, secret[:-1]), (cid, ""), ("", secret), (cid + "\x00", secret),
             (cid, secret + "\u00e9")]
    return st.one_of(
        st.sampled_from(tokens),
        st.sampled_from(tokens).flatmap(lambda t: st.sampled_from(token_variants(t))),
        st.sampled_from(pairs + wrong).map(lambda p: basic(*p).split()[1]),
        st.sampled_from(pairs).map(lambda p: base64.b64encode(f"{p[0]}:{p[1]}".encode(
            )).decode()),  # not form-encoded first: the same here (alphanumeric)
        st.sampled_from(pairs).map(lambda p: base64.b64encode(f"{p[0]}:{p[1]}:{p[1]}".encode(
            )).decode()),
        st.sampled_from(pairs).map(lambda p: f"{p[0]}:{p[1]}"),  # not base64 at all
        st.sampled_from(world.secrets),
        st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()),
        st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode()),
        latin1(200),
        mojibake(80),
        huge("A"),
        huge("a.", 100, 40_000),
        st.sampled_from(["occat_", "occat_" + "A" * 43, "eyJhbGciOiJub25lIn0.e30.", "..",
                         "=", "null", "undefined", "%00", "\\", '"', "Bearer"]),
    )


def authorizations(world: World) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.none(),
        st.sampled_from(list(world.clients.values())).map(lambda p: basic(*p)),
        st.sampled_from(world.header_tokens).map(lambda t: f"Bearer {t}"),
        st.builds(lambda scheme, separator, credential: scheme + separator + credential,
                  st.sampled_from(SCHEMES), st.sampled_from(SEPARATORS), credentials(world)),
        st.lists(st.sampled_from(world.header_tokens).map(lambda t: f"Bearer {t}")
                 | st.sampled_from(list(world.clients.values())).map(lambda p: basic(*p)),
                 min_size=2, max_size=3).map(", ".join),  # two headers, joined by a server
        latin1(300),
        mojibake(100),
        huge("B"),
    )


FORM_TYPES = [
    FORM, f"{FORM}; charset=utf-8", f"{FORM}; charset=UTF-8", f"{FORM};charset=utf8",
    f'{FORM}; charset="utf-8"', f"{FORM}; charset=latin-1", f"{FORM}; charset=utf-16",
    f"{FORM}; charset=ascii", f"{FORM}; charset=x-unknown", f"{FORM}; charset=",
    f"{FORM}; charset=utf-8; charset=latin-1", f"{FORM}; boundary=x", FORM.upper(),
    f" {FORM}", f"{FORM} ", f"{FORM}, application/json", f"{FORM}x",
    "application/json", "application/json; charset=utf-8", "application/jwt",
    "multipart/form-data; boundary=BOUNDARY", "multipart/form-data", "multipart/mixed",
    "text/plain", "text/html", "application/octet-stream", "application/xml", "*/*", "", ";",
    "application/", "/", "charset=utf-8",
]


def django_builds(request: HostileRequest) -> bool:
    """False for a request Django itself cannot build: ``WSGIRequest.__init__`` raises
    TooManyFieldsSent before any middleware or view runs (see sets_encoding)."""
    return not (sets_encoding(request.content_type) and query_fields(request) > MAX_FIELDS)


def sets_encoding(content_type: str | None) -> bool:
    """Whether Django takes the request's encoding from this Content-Type's charset, which
    makes ``WSGIRequest.__init__`` parse the query string at once (``HttpRequest.encoding``'s
    setter asks ``hasattr(self, "GET")``, which computes the cached property)."""
    if content_type is None:
        return False
    charset = parse_header_parameters(content_type)[1].get("charset")
    try:
        return charset is not None and bool(codecs.lookup(charset))
    except (LookupError, ValueError):
        return False


def usable_content_type(value: str) -> bool:
    """Whether Django can build a request with this Content-Type at all: a ``charset`` naming
    a codec that is not a text encoding (rot13, base64, zlib...) or that decodes nothing
    ("undefined"), or holding a NUL, makes
    ``WSGIRequest.__init__`` raise before any view runs (a Django problem, not ours)."""
    charset = parse_header_parameters(value)[1].get("charset")
    if charset is None:
        return True
    try:
        if not codecs.lookup(charset)._is_text_encoding:  # type: ignore[attr-defined]
            return False
    except LookupError:
        return True
    except ValueError:
        return False
    try:  # a text codec that cannot decode at all ("undefined") fails the same way
        b"a=b".decode(charset)
    except (UnicodeError, LookupError, ValueError):
        return False
    return True


CONTENT_TYPES = st.one_of(
    st.none(), st.sampled_from(FORM_TYPES), st.sampled_from(FORM_TYPES),
    st.builds(lambda charset: f"{FORM}; charset={charset}", latin1(20)),
    latin1(80),
).filter(lambda value: value is None or usable_content_type(value))

NAMES = ["grant_type", "scope", "resource", "client_id", "client_secret", "client_assertion",
         "client_assertion_type", "token", "token_type_hint", "access_token", "audience",
         "username", "password", "refresh_token", "code", "redirect_uri", "", "GRANT_TYPE",
         "grant_type[]", "scope ", "client_id\x00"]
WORDS = ["client_credentials", "password", "authorization_code", "refresh_token",
         "urn:ietf:params:oauth:grant-type:jwt-bearer", READ, WRITE, f"{READ} {WRITE}", "read",
         "read  write", " read", "openid", "\x00", AUDIENCE, AUDIENCE + "#frag",
         "https://evil.example", "relative/path", "access_token", "refresh_token",
         "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "eyJhbGciOiJub25lIn0.e30."]
PERCENT_ERRORS = ["%", "%G1", "%C3%28", "%FF", "%00", "%E2%82", "%%", "%2", "+%2B", "%u0041",
                  "%C0%AF", "%ED%A0%80", "&&", "=", "==&=", ";"]


def values(world: World) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(WORDS),
        st.sampled_from(world.client_ids + world.secrets + world.body_tokens),
        latin1(40), mojibake(40), huge("x", 100, 66_000),
    )


def pairs(world: World) -> st.SearchStrategy[list[tuple[str, str]]]:
    name = st.one_of(st.sampled_from(NAMES), st.sampled_from(NAMES), latin1(12))
    return st.lists(st.tuples(name, values(world)), max_size=6)


def valid_pairs(world: World, endpoint: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A request that would succeed, for the endpoints with a form body: the fuzzing then
    changes it a little (a parameter repeated, added or dropped)."""
    post_id, post_secret = world.clients["post"]
    creds = st.sampled_from([[], [("client_id", post_id), ("client_secret", post_secret)]])
    if endpoint == "token":
        head = st.sampled_from([[("grant_type", "client_credentials")],
                                [("grant_type", "client_credentials"), ("scope", READ)],
                                [("grant_type", "client_credentials"), ("resource", AUDIENCE)]])
    else:
        head = st.sampled_from(world.body_tokens).flatmap(lambda t: st.sampled_from(
            [[("token", t)], [("token", t), ("token_type_hint", "access_token")]]))
    return st.builds(lambda h, c, extra, repeat: h + c + extra + (h[:1] if repeat else []),
                     head, creds, pairs(world).map(lambda p: p[:1]), st.booleans())


def encode_pairs(items: list[tuple[str, str]], style: str, separator: str) -> str:
    if style == "plus":
        return separator.join(f"{quote_plus(n)}={quote_plus(v)}" for n, v in items)
    if style == "percent":
        return separator.join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in items)
    return separator.join(f"{n}={v}" for n, v in items)  # raw: & and = inside stay


def multipart(items: list[tuple[str, str]], boundary: str = "BOUNDARY") -> str:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'
             for n, v in items]
    return "".join(parts) + f"--{boundary}--\r\n"


@st.composite
def form_text(draw: Any, world: World, endpoint: str) -> str:
    items = draw(st.one_of(valid_pairs(world, endpoint), pairs(world)))
    text = encode_pairs(items, draw(st.sampled_from(["plus", "percent", "raw"])),
                        draw(st.sampled_from(["&", "&", ";", "&&"])))
    if draw(st.booleans()):
        error = draw(st.sampled_from(PERCENT_ERRORS))
        at = draw(st.integers(0, len(text)))
        text = text[:at] + error + text[at:]
    return text


def encoded(text: str, encoding: str) -> bytes:
    return text.encode(encoding, "replace")


def sized(n: int) -> bytes:
    prefix = b"grant_type=client_credentials&scope="
    return prefix + b"x" * max(0, n - len(prefix))


def bodies(world: World, endpoint: str) -> st.SearchStrategy[bytes]:
    form = form_text(world, endpoint)
    return st.one_of(
        st.just(b""),
        st.builds(encoded, form, st.sampled_from(["utf-8", "latin-1", "utf-16"])),
        st.builds(encoded, form, st.just("utf-8")),
        st.builds(lambda t, junk: t.encode() + junk, form,
                  st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x80abc", b"\xfe\xff"])),
        st.binary(max_size=1024),
        pairs(world).map(lambda p: json.dumps(dict(p)).encode()),
        st.sampled_from([b"{", b"[]", b"null", b'{"grant_type": "client_credentials"}', b"\x00"]),
        pairs(world).map(lambda p: multipart(p).encode("utf-8", "replace")),
        st.sampled_from([16383, 16384, 16385, 32768, 65536]).map(sized),
        st.integers(90, 2000).map(lambda n: "&".join(f"a{i}=1" for i in range(n)).encode()),
    )


@st.composite
def query_strings(draw: Any, world: World) -> str | None:
    kind = draw(st.sampled_from(["none", "none", "pairs", "credentials", "text", "many"]))
    if kind == "none":
        return None
    if kind == "text":
        return draw(latin1(200))
    if kind == "many":  # around Django's DATA_UPLOAD_MAX_NUMBER_FIELDS
        n = draw(st.one_of(st.integers(1, 120), st.integers(MAX_FIELDS - 5, MAX_FIELDS + 5)))
        return "&".join(f"q{i}=1" for i in range(n))
    if kind == "credentials":
        name = draw(st.sampled_from(["access_token", "client_secret", "client_id", "token",
                                     "client_assertion", "code"]))
        value = draw(st.sampled_from(world.header_tokens + world.secrets + world.client_ids))
        text = f"{name}={quote_plus(value)}"
        return text + draw(st.sampled_from(["", "&" + text, "&x=1"]))
    return encode_pairs(draw(pairs(world)), draw(st.sampled_from(["plus", "raw"])), "&")


CONTENT_LENGTHS = st.one_of(
    st.none(), st.none(), st.none(),
    st.sampled_from(["", "abc", "-1", "0", " 5", "1e3", "99999999999999999999", "+10", "0x10",
                     "1_0", "17000", "2621441"]),
    st.integers(0, 70_000).map(str),
)
ACCEPTS = st.one_of(st.none(), st.none(), st.none(), st.sampled_from([
    "*/*", "application/json", "text/html", "application/xml", "application/json; q=0", "",
    ";;;", "application/*", "text/*;q=0.1, application/json", "application/json; indent=4"]),
    latin1(40))


@dataclass
class HostileRequest:
    endpoint: str
    method: str
    query: str | None
    authorization: str | None
    content_type: str | None
    body: bytes
    content_length: str | None
    secure: bool
    headers: dict[str, str]

    @property
    def verb(self) -> str:
        return self.method.upper()  # as Django sees it

    def environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = {**self.headers, "wsgi.input": io.BytesIO(self.body)}
        if self.query is not None:
            environ["QUERY_STRING"] = self.query
        if self.authorization is not None:
            environ["HTTP_AUTHORIZATION"] = self.authorization
        if self.content_type is not None:
            environ["CONTENT_TYPE"] = self.content_type
        environ["CONTENT_LENGTH"] = (str(len(self.body)) if self.content_length is None
                                     else self.content_length)
        return environ

    def send(self, http: HttpClient) -> Any:
        path = ENDPOINTS[self.endpoint][0]
        # wsgi.input is a plain stream: a Content-Length larger than the body is a short
        # read, as from a real server, not the test client's assertion.
        return http.generic(self.method, path, self.body, secure=self.secure,
                            content_type=self.content_type or "application/octet-stream",
                            **self.environ())

    def text(self) -> str:
        """Everything the client sent, for "did it carry a real credential?" checks."""
        return " ".join([self.authorization or "", self.body.decode("latin-1"),
                         self.query or ""])


@st.composite
def headers(draw: Any) -> dict[str, str]:
    extra: dict[str, str] = {}
    accept = draw(ACCEPTS)
    if accept is not None:
        extra["HTTP_ACCEPT"] = accept
    if draw(st.integers(0, 5)) == 0:
        extra["HTTP_DPOP"] = draw(latin1(100))
    if draw(st.integers(0, 5)) == 0:
        extra["HTTP_COOKIE"] = draw(st.sampled_from(
            ["sessionid=abc", "csrftoken=x; sessionid=" + "a" * 5000, "a=b=c;;; ;"]))
    if draw(st.integers(0, 5)) == 0:
        extra["HTTP_X_FORWARDED_PROTO"] = "https"
    return extra


@st.composite
def valid_request(draw: Any, world: World, endpoint: str) -> dict[str, Any]:
    """What a well-behaved client sends to ``endpoint``, with real credentials."""
    request: dict[str, Any] = {
        "method": ENDPOINTS[endpoint][1], "query": None, "authorization": None,
        "content_type": None, "body": b"", "content_length": None, "secure": True,
        "headers": {}}
    if endpoint in ("token", "introspect", "revoke"):
        if endpoint == "token":
            extra = draw(st.sampled_from([[], [("scope", READ)], [("resource", AUDIENCE)]]))
            params = [("grant_type", "client_credentials"), *extra]
            role = draw(st.sampled_from(sorted(world.clients)))
        else:
            params = [("token", draw(st.sampled_from(world.body_tokens)))]
            role = "basic" if endpoint == "introspect" else draw(st.sampled_from(["basic",
                                                                                    "post"]))
        client_id, secret = world.clients[role]
        if role == "post":
            params += [("client_id", client_id), ("client_secret", secret)]
        else:
            request["authorization"] = basic(client_id, secret)
        request.update(content_type=FORM, body=urlencode(params).encode())
    elif endpoint == "items" and draw(st.booleans()):
        request.update(
            method="POST", authorization=f"Bearer {world.header_tokens[1]}",  # read + write
            content_type="application/json",
            body=json.dumps({"name": draw(latin1(20)), "quantity": draw(st.integers())}
                            ).encode())
    elif endpoint in ("whoami", "items", "plain"):
        request.update(method="GET", authorization="Bearer " + draw(
            st.sampled_from(world.header_tokens)))
    return request


#: What may differ from a valid request.
DIMENSIONS = ["method", "query", "authorization", "content_type", "body", "content_length",
              "secure", "headers"]


@st.composite
def hostile_requests(draw: Any, world: World, endpoint: str) -> HostileRequest:
    """A valid request with one to three things changed, or anything at all."""
    valid = draw(valid_request(world, endpoint))
    if draw(st.integers(0, 2)):
        changed = draw(st.sets(st.sampled_from(DIMENSIONS), min_size=1, max_size=3))
    else:
        changed = set(DIMENSIONS)
    strategies = {
        "method": methods(ENDPOINTS[endpoint][1]),
        "query": query_strings(world),
        "authorization": authorizations(world),
        "content_type": CONTENT_TYPES,
        "body": bodies(world, endpoint),
        "content_length": CONTENT_LENGTHS,
        "secure": st.booleans(),
        "headers": headers(),
    }
    values = {name: draw(strategies[name]) if name in changed else valid[name]
              for name in DIMENSIONS}
    return HostileRequest(endpoint=endpoint, **values)


# --- the checks -----------------------------------------------------------------------------

def query_fields(request: HostileRequest) -> int:
    """How many fields Django counts in the query string (``parse_qsl``'s rule)."""
    query = request.query or ""
    return query.count("&") + 1 if query else 0


def strict_json(content: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(content, parse_constant=refuse)


def carries_any(text: str, candidates: list[str]) -> bool:
    return any(candidate in text for candidate in candidates)


def check_response(request: HostileRequest, response: Any, world: World) -> None:
    status = response.status_code
    server = ENDPOINTS[request.endpoint][2]
    if status >= 500:
        STATS["server_errors"] += 1
    assert status < 500, (status, response.content[:300])
    content = response.content
    assert b"Traceback" not in content and b'File "/' not in content, content[:300]
    for secret in [*world.secrets, *world.header_tokens, *world.body_tokens]:
        assert secret.encode() not in content, "a credential is echoed in the response"
    is_json = response.get("Content-Type", "").startswith("application/json")
    body = strict_json(content) if is_json and content else None
    if status == 405:
        assert response.has_header("Allow"), "GEN-09: 405 without Allow"
    if status == 401:
        assert response.has_header("WWW-Authenticate"), "GEN-09: 401 without a challenge"
    if server:
        check_server_answer(request, response, body, world)
    else:
        check_api_answer(request, response, body, world)


def check_server_answer(request: HostileRequest, response: Any, body: Any,
                        world: World) -> None:
    status = response.status_code
    endpoint = request.endpoint
    allowed = ALLOW[endpoint].split(", ")
    if request.verb not in allowed:
        assert status == 405, (status, response.content[:300])  # TOK-01, GEN-09
        assert response["Allow"] == ALLOW[endpoint]
    if 400 <= status < 500:
        # GEN-02, GEN-03, GEN-05: the RFC 6749 §5.2 JSON error, no-store
        assert response["Content-Type"] == "application/json", response.content[:300]
        assert response["Cache-Control"] == "no-store"
        if request.verb != "HEAD":
            assert isinstance(body, dict) and isinstance(body.get("error"), str), body
            assert set(body) <= {"error", "error_description", "error_uri"}, body
            assert all(isinstance(v, str) and ERROR_TEXT.fullmatch(v) for v in body.values())
        if status == 401:
            assert response["WWW-Authenticate"].startswith('Basic realm="'), response.headers
    if 200 <= status < 300 and endpoint in ("token", "introspect", "revoke"):
        # GEN-01, CAUTH-01: only over HTTPS, only for a client with a real secret
        assert request.secure, "a plain-HTTP request was served"
        assert carries_any(request.text(), world.secrets + world.basic_credentials()), \
            "served without a real client secret"
        if endpoint == "introspect":  # INTRO-02: only the client allowed to introspect
            assert carries_any(request.text(), [world.clients["basic"][1],
                                                basic(*world.clients["basic"]).split()[1]])
        assert response["Cache-Control"] == "no-store"
        if endpoint == "token" and request.verb != "HEAD":
            world.issued.add(body["access_token"])
        if endpoint == "introspect" and request.verb != "HEAD":
            assert isinstance(body.get("active"), bool)


def check_api_answer(request: HostileRequest, response: Any, body: Any, world: World) -> None:
    status = response.status_code
    authorization = request.authorization or ""
    authenticated = carries_any(authorization, world.header_tokens)
    if 200 <= status < 300:
        # BEARER-03: never a token from the query string or the body; only a valid one
        assert authenticated, ("a protected API answered a request without a valid token",
                               status, response.content[:300])
        return
    if status < 400:
        return
    challenge = response.get("WWW-Authenticate")
    if challenge is not None:
        # oauth_cc's answer: BEARER-05..09
        # Without credentials, the DPoP scheme is offered next to Bearer (DPOP-20).
        as_bearer, dpop = bearer_form(challenge)
        match = BEARER_CHALLENGE.fullmatch(as_bearer.removesuffix(
            NO_TOKEN_CHALLENGE.removeprefix('Bearer realm="api"')))
        assert match, challenge
        error = match[1]
        assert not dpop or error is not None, challenge
        assert {400: error == "invalid_request", 401: error in (None, "invalid_token"),
                403: error == "insufficient_scope"}.get(status, False), (status, challenge)
        assert response["Content-Type"].startswith("application/json")
        if request.verb != "HEAD":
            assert isinstance(body, dict), body
            assert set(body) <= {"error", "error_description", "scope"}, body
            assert body.get("error") == error, (body, challenge)
            assert error is not None or set(body) == {"error_description"}, body
        if error is None:
            assert challenge == NO_TOKEN_CHALLENGE  # BEARER-08: no credentials
        return
    # No challenge: only the application's own answer to an authenticated request (DRF's
    # 400, 404, 405, 415...), DRF's content negotiation (406, before authentication), or
    # Django's 400 for a query string over DATA_UPLOAD_MAX_NUMBER_FIELDS.
    assert status not in (401, 403), ("BEARER-05: refused without a challenge", status)
    assert (authenticated or (status == 406 and request.endpoint in ("whoami", "items"))
            or (status == 400 and query_fields(request) > MAX_FIELDS)), (
        "an unauthenticated request got an answer without a Bearer challenge",
        status, response.content[:300])


def scan_logs(caplog: pytest.LogCaptureFixture, request: HostileRequest, world: World,
              stats: Counter[str] = STATS) -> None:
    """BEARER-10, GEN-05: no credential of ours, nor the request's Authorization value, in
    any log line; no unexpected exception logged by oauth_cc."""
    sensitive = world.sensitive()
    authorization = request.authorization or ""
    for candidate in (authorization, authorization.partition(" ")[2].strip()):
        if len(candidate) >= MIN_SENSITIVE and not any(
                candidate in client_id for client_id in world.client_ids):
            sensitive.add(candidate)
    for record in caplog.records:
        text = caplog.handler.format(record)
        stats["log_lines"] += text.count("\n") + 1
        found = [s for s in sensitive if s in text]
        if found:
            stats["secrets_found"] += 1
        assert not found, f"a credential in the log: {text!r}"
        if record.name.startswith("oauth_cc"):
            assert record.levelno < logging.ERROR, text
    caplog.clear()


# --- the tests ------------------------------------------------------------------------------

def test_caplog_sees_oauth_cc_records_through_propagation(client, api_client, caplog):
    """tests/settings.py gives ``oauth_cc`` a NullHandler, but with ``propagate`` on its
    records still reach caplog's handler on the root logger: the scans below see them."""
    logger = logging.getLogger("oauth_cc")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    assert logger.propagate
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    c, secret = api_client
    response = client.generic("POST", TOKEN_URL, "grant_type=client_credentials",
                              content_type=FORM, secure=True,
                              HTTP_AUTHORIZATION=basic(c.client_id, secret + "x"))
    assert response.status_code == 401
    names = {record.name for record in caplog.records}
    assert "oauth_cc.client_auth" in names
    assert secret not in caplog.text


def test_the_log_scan_finds_a_planted_credential(world, caplog):
    """The scan is not vacuous: a secret, a token, or the request's Authorization value in
    any record of any logger is found."""
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    request = HostileRequest("whoami", "GET", None, "Bearer " + "x" * 40, None, b"", None,
                             True, {})
    for planted in (world.secrets[0], world.header_tokens[0], "x" * 40):
        logging.getLogger("oauth_cc.validation").debug("leak %s!", planted)
        with pytest.raises(AssertionError, match="a credential in the log"):
            scan_logs(caplog, request, world, stats=Counter())
        caplog.clear()
    logging.getLogger("oauth_cc.views").error("an unexpected error")
    with pytest.raises(AssertionError):
        scan_logs(caplog, request, world, stats=Counter())


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_hostile_requests_GEN_01_GEN_05_GEN_09_BEARER_05_BEARER_10(
        endpoint, http, world, caplog):
    # GEN-01, GEN-02, GEN-03, GEN-05, GEN-09, CAUTH-01, TOK-01, BEARER-03, BEARER-05,
    # BEARER-06, BEARER-08, BEARER-09, BEARER-10
    caplog.set_level(logging.DEBUG, logger="oauth_cc")
    caplog.set_level(logging.DEBUG, logger="django")
    statuses: Counter[int] = Counter()

    @FUZZ_SETTINGS
    @given(data=st.data())
    def run(data: Any) -> None:
        request = data.draw(hostile_requests(world, endpoint), label="request")
        assume(django_builds(request))
        caplog.clear()
        if sum(statuses.values()) % THROTTLE_RESET == THROTTLE_RESET - 1:
            cache.clear()  # the throttling counters: 429s now and then, not from then on
        response = request.send(http)
        STATS["requests"] += 1
        statuses[response.status_code] += 1
        check_response(request, response, world)
        scan_logs(caplog, request, world)

    run()
    print(f"\nfuzz[{endpoint}]: {sum(statuses.values())} requests, "
          f"statuses {dict(sorted(statuses.items()))}")


# --- found by the fuzzing, and fixed ----------------------------------------------------------
# A POST whose query string has more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1000) parameters
# made request.GET raise TooManyFieldsSent, which the endpoints answered as a 500.

@pytest.mark.parametrize("endpoint", ["token", "introspect", "revoke"])
def test_too_many_query_parameters_is_a_400_GEN_05(endpoint, http, world):
    # GEN-05
    query = "&".join(f"q{i}=1" for i in range(MAX_FIELDS + 1))
    response = http.generic("POST", ENDPOINTS[endpoint][0], "grant_type=client_credentials",
                            content_type=FORM, secure=True, QUERY_STRING=query)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
