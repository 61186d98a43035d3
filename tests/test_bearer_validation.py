"""The resource server through HTTP: RFC 6750 token extraction and challenges, RFC 9068 access
token validation (BEARER-01..10, RSV-01..07, X-05, X-08, X-09).

Every case runs against the demo API: DRF views (``/api/whoami``, ``/api/stats``,
``/api/items/``) and the plain Django view ``/api/plain/stock`` protected by
``@scopes_required``. Each answer is checked on the wire: the status, the exact
``WWW-Authenticate`` challenge (``realm="api"`` always, ``error`` only when a token was sent and
failed, each parameter at most once, only the characters RFC 6750 §3 allows) and the JSON body.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from demo_project.models import Item
from oauth_cc import jose
from oauth_cc.server import keys
from tests.conftest import (
    AUDIENCE,
    FORM,
    ISSUER,
    JWKS_URL,
    NO_TOKEN_CHALLENGE,
    _private_key,
    bearer,
    forge,
    get_token,
    install_key,
    valid_claims,
)

READ, WRITE = "inventory:read", "inventory:write"
WHOAMI, STATS, ITEMS, PLAIN = "/api/whoami", "/api/stats", "/api/items/", "/api/plain/stock"
#: A DRF function view and the plain Django view: the main cases run against both.
VIEWS = [WHOAMI, PLAIN]
#: Views that take a POST: the DRF viewset (``create`` needs inventory:write) and the plain view.
POST_VIEWS = [ITEMS, PLAIN]

# RFC 6750 §3 (BEARER-07): error / error_description characters, and NQCHAR scope tokens.
ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
SCOPE_VALUE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
# auth-param = token "=" quoted-string; values here never need a quoted-pair.
AUTH_PARAM = re.compile(r'([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)="([^"\\]*)"')
NO_CREDENTIALS = NO_TOKEN_CHALLENGE


@pytest.fixture(autouse=True)
def published(signing_key):
    """The shared RS256 key, published: ``forge()`` tokens with good claims verify."""
    return signing_key


def read_token(**claims: Any) -> str:
    """A token with scope inventory:read and good claims, but for ``claims``."""
    return forge(valid_claims(**{"scope": READ, **claims}))


def signed(claims: dict[str, Any], **header: Any) -> str:
    """An RS256 token by the published key, built by hand (PyJWT refuses some claims)."""
    return compact({"alg": "RS256", "typ": "at+jwt", "kid": real_kid(), **header}, claims,
                   rs256)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(header: dict[str, Any], claims: dict[str, Any], sign=None) -> str:
    """A JWS compact serialization built by hand; ``sign(signing_input) -> bytes``."""
    signing_input = (b64url(json.dumps(header).encode()) + "."
                     + b64url(json.dumps(claims).encode()))
    signature = sign(signing_input.encode("ascii")) if sign else b""
    return f"{signing_input}.{b64url(signature)}"


def rs256(data: bytes) -> bytes:
    """An RS256 signature by the published key, for hand-built tokens."""
    return keys_private().sign(data, padding.PKCS1v15(), hashes.SHA256())


def parse_challenge(value: str) -> dict[str, str]:
    """The auth-params of one ``Bearer`` challenge (BEARER-06, BEARER-07).

    Fails on another scheme, a second challenge, a malformed or repeated parameter, or a
    character RFC 6750 §3 does not allow in ``error``, ``error_description`` or ``scope``.
    """
    if value == NO_TOKEN_CHALLENGE:  # DPOP-20: Bearer, then DPoP, neither with an error
        value = 'Bearer realm="api"'
    scheme, space, rest = value.partition(" ")
    assert scheme == "Bearer" and space, value
    params: dict[str, str] = {}
    position = 0
    while True:
        match = AUTH_PARAM.match(rest, position)
        assert match, f"malformed challenge {value!r}"
        name, param_value = match.groups()
        assert name not in params, f"{name} repeated in {value!r}"  # BEARER-06
        params[name] = param_value
        position = match.end()
        if position == len(rest):
            break
        assert rest.startswith(", ", position), f"malformed challenge {value!r}"
        position += 2
    for name in ("error", "error_description"):
        if name in params:
            assert ERROR_TEXT.fullmatch(params[name]), value  # BEARER-07
    if "scope" in params:
        assert SCOPE_VALUE.fullmatch(params["scope"]), value  # BEARER-07
    return params


def assert_refused(response, status: int, error: str | None = None,
                   scope: str | None = None) -> dict[str, Any]:
    """An RFC 6750 §3 refusal: status, challenge and JSON body (BEARER-05/06/07/08/09, X-05).

    ``error`` None means the request carried no credentials: the challenge is then exactly
    ``Bearer realm="api"`` followed by the DPoP challenge (DPOP-20), and the body names no
    error.
    """
    assert response.status_code == status, (response.status_code, response.content)
    challenge = response["WWW-Authenticate"]
    params = parse_challenge(challenge)
    description = params.pop("error_description", None)
    expected = {"realm": "api"}  # realm is always sent
    if error is not None:
        expected["error"] = error
    if scope is not None:
        expected["scope"] = scope
    assert params == expected, challenge
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    if error is None:
        assert challenge == NO_CREDENTIALS  # BEARER-08: no error details
        assert description is None
        assert "error" not in body
    else:
        assert body["error"] == error
        assert body.get("error_description") == description
        assert body.get("scope") == scope
    return body


def assert_invalid_token(response) -> None:
    assert_refused(response, 401, "invalid_token")  # BEARER-09, X-08


def assert_invalid_request(response) -> None:
    assert_refused(response, 400, "invalid_request")  # BEARER-09


def assert_accepted(response, client_id: str = "forged-client") -> None:
    assert response.status_code == 200, (response.status_code, response.content)
    assert response.json()["client_id"] == client_id


def form_post(http, url: str, data: dict[str, str] | list[tuple[str, str]], **extra: Any):
    return http.generic("POST", url, urlencode(data), content_type=FORM, **extra)


@pytest.fixture
def form_body_tokens(settings):
    """``ACCEPT_FORM_BODY_TOKEN`` on (BEARER-02 MAY)."""
    settings.OAUTH_CC = {**settings.OAUTH_CC, "ACCEPT_FORM_BODY_TOKEN": True}


def keys_private() -> Any:
    """The private key ``forge`` signs with (the published key)."""
    return _private_key("RS256")


def real_kid() -> str:
    return jose.public_jwk(keys_private(), "RS256")["kid"]


# --- baseline: good tokens are accepted --------------------------------------------------------

@pytest.mark.parametrize("url", [WHOAMI, STATS, ITEMS, PLAIN])
def test_forged_token_with_good_claims_is_accepted_RSV_05(client, url):
    # RSV-05: RS256 from the allow-list, key chosen by kid. Baseline for the refusals below.
    # RSV-05
    response = client.get(url, **bearer(read_token()))
    assert response.status_code == 200, response.content
    assert "WWW-Authenticate" not in response


@pytest.mark.parametrize("url", VIEWS)
def test_token_from_the_token_endpoint_is_accepted_RSV_03_RSV_04(client, make_client, url):
    # JWT-02, JWT-03, RSV-01..06: a token the AS issues passes every RS check.
    # RSV-03, RSV-04
    c, secret = make_client(scope=f"{READ} {WRITE}", default_scope=READ)
    token = get_token(client, c, secret, scope=READ)
    assert_accepted(client.get(url, **bearer(token)), client_id=c.client_id)


def test_es256_key_is_accepted_RSV_05(client):
    # RSV-05: every alg of the allow-list works with its own key.
    # RSV-05
    install_key("ES256")
    token = forge(valid_claims(scope=READ), algorithm="ES256")
    for url in VIEWS:
        assert_accepted(client.get(url, **bearer(token)))


# --- BEARER-08: no credentials -----------------------------------------------------------------

@pytest.mark.parametrize("url", [WHOAMI, STATS, ITEMS, PLAIN])
def test_no_credentials_bare_challenge_BEARER_08_X_05(client, url):
    # BEARER-08, BEARER-05, GEN-09, X-05
    # BEARER-08, X-05
    body = assert_refused(client.get(url), 401)
    # The body has the shape of every oauth_cc error, with no error code (RFC 6750 §3.1),
    # on DRF views and plain views alike.
    assert body == {"error_description": "An access token is required."}


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("authorization", [
    "Basic " + base64.b64encode(b"client:secret").decode(),
    "Basic",
    "Digest username=\"x\"",
    "Bearerx abc",
])
def test_other_scheme_is_no_credentials_BEARER_08(client, url, authorization):
    # BEARER-08: an unsupported scheme gets the bare challenge, no error details.
    # BEARER-08
    assert_refused(client.get(url, HTTP_AUTHORIZATION=authorization), 401)


# --- BEARER-01: the Authorization header -------------------------------------------------------

@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive_BEARER_01(client, url, scheme):
    # BEARER-01: 9110 §11.1, the auth-scheme is case-insensitive.
    # BEARER-01
    assert_accepted(client.get(url, HTTP_AUTHORIZATION=f"{scheme} {read_token()}"))


@pytest.mark.parametrize("url", VIEWS)
def test_several_spaces_after_scheme_BEARER_01(client, url):
    # BEARER-01: credentials = "Bearer" 1*SP b64token
    # BEARER-01
    assert_accepted(client.get(url, HTTP_AUTHORIZATION=f"Bearer    {read_token()}"))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("authorization", [
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Bearer a b",
    "Bearer a,b",
    "Bearer a=b",
    "Bearer =abc",
    "Bearer x, Bearer y",
    "Bearer tök.én.x",
    "Bearer \u20ac",
    'Bearer "abc"',
], ids=repr)
def test_malformed_header_is_invalid_request_BEARER_09(client, url, authorization):
    # BEARER-01, BEARER-09: not exactly "Bearer" 1*SP b64token -> 400 invalid_request.
    # BEARER-09
    assert_invalid_request(client.get(url, HTTP_AUTHORIZATION=authorization))


@pytest.mark.parametrize("url", VIEWS)
def test_two_authorization_headers_joined_BEARER_04(client, url):
    # BEARER-04: two Authorization headers, as the server joins them, are ambiguous.
    # BEARER-04
    joined = f"Bearer {read_token()}, Bearer {read_token()}"
    assert_invalid_request(client.get(url, HTTP_AUTHORIZATION=joined))


@pytest.mark.parametrize("url", VIEWS)
def test_trailing_garbage_after_a_good_token_BEARER_09(client, url):
    # BEARER-09: a good token followed by a second credential or junk is malformed.
    # BEARER-09
    assert_invalid_request(client.get(url, HTTP_AUTHORIZATION=f"Bearer {read_token()} x"))
    assert_invalid_request(client.get(url, HTTP_AUTHORIZATION=f"Bearer {read_token()},"))


# --- BEARER-02/03/04: other ways of sending the token ------------------------------------------

@pytest.mark.parametrize("url", VIEWS)
def test_query_token_alone_is_no_credentials_BEARER_03(client, url):
    # BEARER-03 DEC: query tokens are off, so a (valid) query token is no credentials at all.
    # BEARER-03
    assert_refused(client.get(url, {"access_token": read_token()}), 401)


@pytest.mark.parametrize("url", VIEWS)
def test_header_and_query_token_is_invalid_request_BEARER_04(client, url):
    # BEARER-04: header + query -> 400, even when both are the same good token.
    # BEARER-04
    token = read_token()
    assert_invalid_request(client.get(url, {"access_token": token}, **bearer(token)))
    assert_invalid_request(client.get(url, {"access_token": "x"}, **bearer(read_token())))


@pytest.mark.parametrize("url", POST_VIEWS)
def test_header_and_body_token_is_invalid_request_BEARER_04(client, url):
    # BEARER-04: header + form body -> 400 (body tokens off: still ambiguous).
    # BEARER-04
    token = forge(valid_claims(scope=f"{READ} {WRITE}"))
    data = {"access_token": token, "name": "bolt", "quantity": "1"}
    assert_invalid_request(form_post(client, url, data, **bearer(token)))
    assert not Item.objects.exists()


@pytest.mark.parametrize("url", POST_VIEWS)
def test_header_and_body_token_with_body_tokens_on_BEARER_04(client, url, form_body_tokens):
    # BEARER-04 with ACCEPT_FORM_BODY_TOKEN on.
    # BEARER-04
    token = forge(valid_claims(scope=f"{READ} {WRITE}"))
    data = {"access_token": token, "name": "bolt", "quantity": "1"}
    assert_invalid_request(form_post(client, url, data, **bearer(token)))
    assert not Item.objects.exists()


@pytest.mark.parametrize("url", POST_VIEWS)
def test_body_and_query_token_is_invalid_request_BEARER_04(client, url):
    # BEARER-04: body + query -> 400.
    # BEARER-04
    token = forge(valid_claims(scope=f"{READ} {WRITE}"))
    response = form_post(client, f"{url}?access_token={token}", {"access_token": token})
    assert_invalid_request(response)


@pytest.mark.parametrize("url", POST_VIEWS)
def test_body_token_alone_is_no_credentials_by_default_BEARER_02(client, url):
    # BEARER-02 DEC: body tokens are off by default, so the request has no credentials.
    # BEARER-02
    token = forge(valid_claims(scope=f"{READ} {WRITE}"))
    assert_refused(form_post(client, url, {"access_token": token, "name": "bolt",
                                           "quantity": "1"}), 401)
    assert not Item.objects.exists()


def test_body_token_accepted_on_post_when_enabled_BEARER_02(client, form_body_tokens):
    # BEARER-02 MAY: form-encoded POST body, setting on.
    # BEARER-02
    assert_accepted(form_post(client, PLAIN, {"access_token": read_token()}))
    token = forge(valid_claims(scope=WRITE))
    response = form_post(client, ITEMS, {"access_token": token, "name": "bolt",
                                         "quantity": "3"})
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "bolt"
    assert Item.objects.get().quantity == 3


def test_body_token_with_charset_parameter_accepted_BEARER_02(client, form_body_tokens):
    # BEARER-02: the media type is application/x-www-form-urlencoded; a charset parameter is
    # not another media type.
    # BEARER-02
    response = client.generic("POST", PLAIN, urlencode({"access_token": read_token()}),
                              content_type=f"{FORM}; charset=utf-8")
    assert_accepted(response)


@pytest.mark.parametrize("url", VIEWS)
def test_body_token_never_on_get_BEARER_02(client, url, form_body_tokens):
    # BEARER-02: "the method has body semantics (never GET)".
    # BEARER-02
    response = client.generic("GET", url, urlencode({"access_token": read_token()}),
                              content_type=FORM)
    assert_refused(response, 401)


@pytest.mark.parametrize("url", POST_VIEWS)
def test_multipart_body_token_is_no_credentials_BEARER_02(client, url, form_body_tokens):
    # BEARER-02: only a form-urlencoded single-part body may carry the token.
    # BEARER-02
    response = client.post(url, {"access_token": forge(valid_claims(scope=f"{READ} {WRITE}"))})
    assert_refused(response, 401)


def test_bad_body_tokens_when_enabled_BEARER_09(client, form_body_tokens):
    # BEARER-09: a malformed body token is invalid_request; a bad JWT is invalid_token.
    # BEARER-09
    assert_invalid_request(form_post(client, PLAIN, {"access_token": "a b"}))
    assert_invalid_request(form_post(client, PLAIN, {"access_token": ""}))
    assert_invalid_token(form_post(client, PLAIN, {"access_token": "garbage"}))
    assert_invalid_token(form_post(client, PLAIN, {"access_token": "a" * 8193}))
    expired = read_token(exp=int(time.time()) - 3600)
    assert_invalid_token(form_post(client, PLAIN, {"access_token": expired}))


# --- malformed tokens -> invalid_token ---------------------------------------------------------

def _malformed_tokens() -> dict[str, str]:
    good = read_token()
    header, payload, signature = good.split(".")
    return {
        "garbage": "garbage",
        "truncated": good[: len(good) - 20],
        "no signature": f"{header}.{payload}.",
        "two segments": f"{header}.{payload}",
        "five segments (JWE shape)": f"{header}.{payload}.{signature}.{payload}.{signature}",
        "four segments": f"{good}.{signature}",
        "not base64 json": "abc.def.ghi",
        "payload not json": f"{header}.{b64url(b'not json')}.{signature}",
        "payload a json array": f"{header}.{b64url(b'[1,2]')}.{signature}",
        "oversized": "a" * 8193,
    }


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("name", [
    "garbage", "truncated", "no signature", "two segments", "five segments (JWE shape)",
    "four segments", "not base64 json", "payload not json", "payload a json array",
    "oversized",
])
def test_malformed_token_is_invalid_token_BEARER_09(client, url, name):
    # BEARER-09, X-08: a malformed token -> 401 invalid_token.
    # BEARER-09
    assert_invalid_token(client.get(url, **bearer(_malformed_tokens()[name])))


@pytest.mark.parametrize("url", VIEWS)
def test_oversized_signed_token_is_invalid_token_BEARER_09(client, url):
    # BEARER-09: over MAX_ACCESS_TOKEN_LENGTH (8192) even when the signature is good.
    # BEARER-09
    token = read_token(padding="x" * 8200)
    assert len(token) > 8192
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
def test_altered_payload_is_invalid_token_RSV_05(client, url):
    # RSV-05, GEN-06: a token cannot be altered (scope widened, signature kept).
    # RSV-05
    header, _, signature = forge(valid_claims(scope="other")).split(".")
    payload = b64url(json.dumps(valid_claims(scope=READ)).encode())
    assert_invalid_token(client.get(url, **bearer(f"{header}.{payload}.{signature}")))


# --- RSV-05: algorithms and keys ---------------------------------------------------------------

@pytest.mark.parametrize("url", VIEWS)
def test_alg_none_is_refused_RSV_05(client, url):
    # RSV-05: never alg none, even with a real kid and good claims.
    # RSV-05
    header = {"alg": "none", "typ": "at+jwt", "kid": real_kid()}
    token = compact(header, valid_claims(scope=READ))
    assert_invalid_token(client.get(url, **bearer(token)))
    # PyJWT's own encoding of the same, for good measure.
    token = jwt.encode(valid_claims(scope=READ), None, algorithm="none",
                       headers={"typ": "at+jwt", "kid": real_kid()})
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_with_the_public_key_is_refused_RSV_05(client, url, alg):
    # RSV-05: alg confusion, the published RSA public key (from the JWKS) as the HMAC secret.
    # RSV-05
    jwk = next(k for k in client.get(JWKS_URL, secure=True).json()["keys"]
               if k["kid"] == real_kid())
    pem = jwt.PyJWK(jwk).key.public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = {"alg": alg, "typ": "at+jwt", "kid": jwk["kid"]}
    token = compact(header, valid_claims(scope=READ),
                    lambda data: hmac.new(pem, data, digest).digest())
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("alg", ["RS512", "RS384", "PS512"])
def test_alg_outside_the_allow_list_is_refused_RSV_05(client, url, alg):
    # RSV-05: alg allow-list (RS256, PS256, ES256, EdDSA), here with the published RSA key.
    # RSV-05
    token = jwt.encode(valid_claims(scope=READ), keys_private(), algorithm=alg,
                       headers={"typ": "at+jwt", "kid": real_kid()})
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
def test_key_used_with_another_allowed_alg_is_refused_RSV_05(client, url):
    # RSV-05: the key chosen by kid is used with its one alg (RS256), not PS256.
    # RSV-05
    token = jwt.encode(valid_claims(scope=READ), keys_private(), algorithm="PS256",
                       headers={"typ": "at+jwt", "kid": real_kid()})
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
def test_hand_built_token_is_accepted_RSV_05(client, url):
    # Baseline for the hand-built refusals below: the same construction with a good header.
    # RSV-05
    header = {"alg": "RS256", "typ": "at+jwt", "kid": real_kid()}
    assert_accepted(client.get(url, **bearer(compact(header, valid_claims(scope=READ),
                                                     rs256))))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("kid", ["unknown-kid", None, ""], ids=["unknown", "absent", "empty"])
def test_unknown_or_missing_kid_is_refused_RSV_05(client, url, kid):
    # RSV-05: the key is chosen by kid; no match, no key.
    # RSV-05
    token = forge(valid_claims(scope=READ), header={"kid": kid})
    if kid is None:
        assert "kid" not in jwt.get_unverified_header(token)
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
def test_token_signed_by_an_unpublished_key_is_refused_RSV_05(client, url):
    # RSV-05: a fresh key claiming the published key's kid; and with its own kid.
    # RSV-05
    fresh = keys.generate_private_key("RS256")
    token = forge(valid_claims(scope=READ), key=fresh, header={"kid": real_kid()})
    assert_invalid_token(client.get(url, **bearer(token)))
    own_kid = jose.public_jwk(fresh, "RS256")["kid"]
    token = forge(valid_claims(scope=READ), key=fresh, header={"kid": own_kid})
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("crit", [["exp"], ["urn:example:unknown"]])
def test_crit_header_is_refused_RSV_05(client, url, crit):
    # RSV-05: an unknown crit entry means refusal (7515 §4.1.11).
    # RSV-05
    header = {"alg": "RS256", "typ": "at+jwt", "kid": real_kid(), "crit": crit}
    if crit[0] != "exp":
        header[crit[0]] = True
    token = compact(header, valid_claims(scope=READ), rs256)
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("kid", [123, ["x"], {"k": "v"}], ids=["int", "list", "object"])
def test_non_string_kid_is_refused_RSV_05(client, url, kid):
    # RSV-05, RSV-09: kid is untrusted input; a malformed one is invalid_token, never a 500.
    # RSV-05
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
    token = compact(header, valid_claims(scope=READ), rs256)
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("alg", [["RS256"], {"RS256": 1}], ids=["list", "object"])
def test_non_string_alg_is_refused_RSV_05(client, url, alg):
    # RSV-05: the alg comes from the allow-list; anything else is invalid_token.
    # RSV-05
    header = {"alg": alg, "typ": "at+jwt", "kid": real_kid()}
    token = compact(header, valid_claims(scope=READ), rs256)
    assert_invalid_token(client.get(url, **bearer(token)))


# --- RSV-01: typ -------------------------------------------------------------------------------

@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "dpop+jwt", "", "at+jwt+x",
                                 "application/jwt", "client-authentication+jwt"],
                         ids=repr)
def test_wrong_typ_is_refused_RSV_01(client, url, typ):
    # RSV-01: missing, JWT or any other value is refused.
    # RSV-01
    header = {"alg": "RS256", "kid": real_kid()}
    if typ is not None:
        header["typ"] = typ
    token = compact(header, valid_claims(scope=READ), rs256)
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("typ", ["at+jwt", "at+JWT", "AT+JWT", "application/at+jwt",
                                 "Application/AT+JWT"])
def test_at_jwt_typ_compared_case_insensitively_RSV_01_X_09(client, url, typ):
    # RSV-01, X-09: at+jwt or application/at+jwt, compared case-insensitively.
    # RSV-01, X-09
    assert_accepted(client.get(url, **bearer(forge(valid_claims(scope=READ),
                                                   header={"typ": typ}))))


# --- RSV-03 / RSV-04: issuer and audience ------------------------------------------------------

@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("iss", [
    "https://other.example.test",
    ISSUER + "/",
    "https://AS.example.test",
    "HTTPS://as.example.test",
    "https://as.example",
    "as.example.test",
    ISSUER + " ",
    "http://as.example.test",
], ids=repr)
def test_issuer_compared_exactly_RSV_03(client, url, iss):
    # RSV-03: code point by code point; no trailing-slash, case or substring leniency.
    # RSV-03
    assert_invalid_token(client.get(url, **bearer(read_token(iss=iss))))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("iss", [["https://as.example.test"], 1], ids=["array", "number"])
def test_non_string_issuer_is_refused_RSV_03(client, url, iss):
    # RSV-03: iss is a string; never a 500.
    # RSV-03
    token = signed(valid_claims(scope=READ, iss=iss))
    assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("aud", [
    "https://other.example.test",
    AUDIENCE + "/",
    "https://API.example.test",
    "https://api.example",
    [],
    ["https://other.example.test"],
    [AUDIENCE + "/"],
    [AUDIENCE, 7],
    7,
], ids=repr)
def test_audience_without_this_api_is_refused_RSV_04(client, url, aud):
    # RSV-04, BCP-02: aud must contain this RS's identifier.
    # RSV-04
    assert_invalid_token(client.get(url, **bearer(read_token(aud=aud))))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("aud", [[AUDIENCE], ["https://other.example.test", AUDIENCE]],
                         ids=["sole", "among others"])
def test_audience_array_containing_this_api_is_accepted_RSV_04(client, url, aud):
    # RSV-04: aud may be an array.
    # RSV-04
    assert_accepted(client.get(url, **bearer(read_token(aud=aud))))


# --- RSV-06: time ------------------------------------------------------------------------------

@pytest.mark.parametrize("url", VIEWS)
def test_expired_token_is_refused_RSV_06(client, url):
    # RSV-06: now < exp, leeway 30 s; an hour ago and two minutes ago are both too old.
    # RSV-06
    now = int(time.time())
    for exp in (now - 3600, now - 120):
        token = read_token(exp=exp, iat=exp - 600)
        assert_invalid_token(client.get(url, **bearer(token)))


@pytest.mark.parametrize("url", VIEWS)
def test_exp_within_leeway_is_accepted_RSV_06(client, url):
    # RSV-06: a few seconds of clock skew are tolerated (CLOCK_LEEWAY 30 s).
    # RSV-06
    now = int(time.time())
    assert_accepted(client.get(url, **bearer(read_token(exp=now - 5, iat=now - 600))))


@pytest.mark.parametrize("url", VIEWS)
def test_nbf_in_the_future_is_refused_RSV_06(client, url):
    # RSV-06: if nbf is present, now >= nbf (beyond the leeway).
    # RSV-06
    now = int(time.time())
    assert_invalid_token(client.get(url, **bearer(read_token(nbf=now + 600))))
    assert_accepted(client.get(url, **bearer(read_token(nbf=now - 60))))


@pytest.mark.parametrize("url", VIEWS)
def test_iat_far_in_the_future_is_refused_RSV_06(client, url):
    # RSV-06 / JWT-03: a token issued an hour from now is not valid yet.
    # RSV-06
    now = int(time.time())
    assert_invalid_token(client.get(url, **bearer(read_token(iat=now + 3600,
                                                             exp=now + 4200))))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_non_numeric_time_claim_is_refused_RSV_06(client, url, name):
    # RSV-06, JWT-03: times are NumericDate; a non-number is invalid_token.
    # RSV-06
    assert_invalid_token(client.get(url, **bearer(read_token(**{name: "soon"}))))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("exp", ["9999999999", 10**20], ids=["numeric string", "huge"])
def test_malformed_exp_is_invalid_token_not_500_RSV_06(client, url, exp):
    # RSV-06, JWT-03: exp is a NumericDate; anything else is invalid_token (even when signed
    # by the trusted key), never a 500.
    # RSV-06
    assert_invalid_token(client.get(url, **bearer(read_token(exp=exp))))


# --- RSV-06 REC: required claims (JWT-03) ------------------------------------------------------

@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"])
def test_missing_required_claim_is_refused_RSV_06(client, url, claim):
    # RSV-06 REC, JWT-03: every JWT-03 claim is required.
    # RSV-06
    claims = valid_claims(scope=READ)
    del claims[claim]
    assert_invalid_token(client.get(url, **bearer(forge(claims))))


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("overrides", [
    {"client_id": 7}, {"client_id": ""}, {"sub": 7}, {"jti": 7}, {"scope": [READ]},
], ids=repr)
def test_malformed_claim_is_refused_JWT_03(client, url, overrides):
    # JWT-03, SCOPE-06: string claims are strings; scope is one space-delimited string.
    # JWT-03
    assert_invalid_token(client.get(url, **bearer(read_token(**overrides))))


# --- RSV-07 / BEARER-05: scope -----------------------------------------------------------------

@pytest.mark.parametrize("url", [WHOAMI, STATS, ITEMS, PLAIN])
@pytest.mark.parametrize("scope", [WRITE, None, "inventory:readx", "INVENTORY:READ",
                                   "inventory"], ids=repr)
def test_insufficient_scope_is_403_with_challenge_BEARER_05_RSV_07(client, url, scope):
    # BEARER-05, BEARER-09, RSV-07, GEN-08 (scopes are case-sensitive).
    # BEARER-05, RSV-07
    token = forge(valid_claims(scope=scope))
    assert_refused(client.get(url, **bearer(token)), 403, "insufficient_scope", scope=READ)


def test_insufficient_scope_names_the_action_scope_BEARER_09(client):
    # BEARER-09: scope="..." names what the action needs (create needs inventory:write).
    # BEARER-09
    response = form_post(client, ITEMS, {"name": "bolt", "quantity": "1"},
                         **bearer(read_token()))
    assert_refused(response, 403, "insufficient_scope", scope=WRITE)
    assert not Item.objects.exists()


# --- BEARER-10: no token in the logs -----------------------------------------------------------

def test_no_token_in_any_log_record_BEARER_10(client, caplog, form_body_tokens):
    # BEARER-10: tokens are never written in clear to logs (9700 §4.9.3).
    # BEARER-10
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    now = int(time.time())
    expired = read_token(exp=now - 3600, iat=now - 4000)
    tokens = {
        "expired": expired,
        "wrong scope": forge(valid_claims(scope="other")),
        "wrong iss": read_token(iss="https://evil.example.test"),
        "wrong typ": forge(valid_claims(scope=READ), header={"typ": "JWT"}),
        "unpublished key": forge(valid_claims(scope=READ),
                                 key=keys.generate_private_key("RS256"),
                                 header={"kid": real_kid()}),
        "truncated": read_token()[:-7],
        "good": read_token(),
    }
    for url in VIEWS:
        for token in tokens.values():
            client.get(url, **bearer(token))
            client.get(url, {"access_token": token}, **bearer(token))  # BEARER-04, 400
            client.get(url, {"access_token": token})  # query only, 401
            client.get(url, HTTP_AUTHORIZATION=f"Bearer {token} x")  # malformed, 400
            form_post(client, url, {"access_token": token})
            form_post(client, url, {"access_token": token}, **bearer(token))
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    secrets = set()
    for token in tokens.values():
        secrets.add(token)
        secrets.update(segment for segment in token.split(".") if len(segment) > 8)
    text = caplog.text
    for record in caplog.records:
        rendered = [record.getMessage(), str(record.args), record.exc_text or "",
                    record.stack_info or ""]
        for secret in secrets:
            assert all(secret not in part for part in rendered), record
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("url", VIEWS)
def test_padded_copy_of_a_token_is_refused_RSV_05(client, url):
    # RSV-05: JWS compact segments are unpadded base64url; a padded copy is not the token.
    # RSV-05
    token = read_token()
    assert client.get(url, **bearer(token)).status_code == 200
    assert_invalid_token(client.get(url, **bearer(token + "==")))


@pytest.mark.parametrize("url", VIEWS)
def test_tab_after_scheme_is_malformed_BEARER_01(client, url):
    # BEARER-01: credentials = "Bearer" 1*SP b64token; a tab is not SP.
    # BEARER-01
    response = client.get(url, HTTP_AUTHORIZATION="Bearer\t" + read_token())
    assert response.status_code == 400
    assert 'error="invalid_request"' in response["WWW-Authenticate"]
