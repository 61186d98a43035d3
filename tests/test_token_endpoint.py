"""The token endpoint, client-credentials grant (RFC 6749 §4.4), through HTTP.

Each test names the checklist item (../shared/spec/CHECKLIST.md) it checks.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import timedelta

import jwt
import pytest

from oauth_cc import clock, credentials
from oauth_cc.models import Client, ClientSecret, TokenEndpointAuthMethod
from oauth_cc.signals import client_authentication_failed, token_issued
from tests.conftest import AUDIENCE, ISSUER, TOKEN_URL, assert_error, basic, post_token, verify

GRANT = {"grant_type": "client_credentials"}
ERROR_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")




# --- success ----------------------------------------------------------------------------------

def test_success_response_members_TOK_07_TOK_08_GEN_02_GEN_03(client, api_client):
    # TOK-07, GEN-02, GEN-03
    c, secret = api_client
    response = post_token(client, GRANT, auth=(c.client_id, secret))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    body = json.loads(response.content)
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # TOK-08
    assert body["token_type"] == "Bearer"
    assert type(body["expires_in"]) is int and body["expires_in"] == 600
    assert body["scope"] == "read"


def test_access_token_is_header_safe_TOK_09(client, api_client):
    # TOK-09
    c, secret = api_client
    token = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    assert re.fullmatch(r"[\x20-\x7e]+", token)  # 1*VSCHAR
    assert re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", token)  # b64token / token68


def test_jwt_header_and_claims_JWT_01_JWT_02_JWT_03_JWT_04_JWT_08(client, api_client):
    # JWT-01, JWT-02, JWT-03, JWT-04, JWT-08
    c, secret = api_client
    token = post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"]
    claims = verify(client, token)
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}
    assert claims["iss"] == ISSUER
    assert claims["sub"] == claims["client_id"] == c.client_id
    assert claims["aud"] == AUDIENCE
    assert all(type(claims[name]) is int for name in ("exp", "iat"))
    assert claims["exp"] - claims["iat"] == 600
    assert not {"auth_time", "acr", "amr"} & set(claims)


def test_each_token_has_a_fresh_jti_JWT_03(client, api_client):
    # JWT-03
    c, secret = api_client
    tokens = [post_token(client, GRANT, auth=(c.client_id, secret)).json()["access_token"]
              for _ in range(2)]
    jtis = {jwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens}
    assert len(jtis) == 2


def test_lifetime_is_bounded_and_matches_exp_TOK_10(client, make_client, signing_key, settings):
    # TOK-10
    c, secret = make_client(access_token_lifetime=99_999)
    body = post_token(client, GRANT, auth=(c.client_id, secret)).json()
    assert body["expires_in"] == 3600
    claims = verify(client, body["access_token"])
    assert claims["exp"] - claims["iat"] == 3600
    c2, secret2 = make_client(access_token_lifetime=120)
    assert post_token(client, GRANT, auth=(c2.client_id, secret2)).json()["expires_in"] == 120


def test_issuing_writes_nothing_and_runs_one_query(client, api_client,
                                                    django_assert_num_queries):
    c, secret = api_client
    assert post_token(client, GRANT, auth=(c.client_id, secret)).status_code == 200  # warm
    with django_assert_num_queries(1):
        assert post_token(client, GRANT, auth=(c.client_id, secret)).status_code == 200


# --- HTTP method, transport, body -------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_only_post_TOK_01_GEN_09(client, api_client, method):
    # TOK-01, GEN-09
    response = client.generic(method, TOKEN_URL, secure=True)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response["Cache-Control"] == "no-store"
    if method != "HEAD":
        assert response.json()["error"] == "invalid_request"


def test_plain_http_never_yields_a_token_GEN_01(client, api_client):
    # GEN-01
    c, secret = api_client
    response = post_token(client, GRANT, auth=(c.client_id, secret), secure=False)
    body = assert_error(response, "invalid_request")
    assert "access_token" not in body


def test_https_behind_a_trusted_proxy_GEN_01(client, api_client, settings):
    # GEN-01
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    c, secret = api_client
    response = post_token(client, GRANT, auth=(c.client_id, secret), secure=False,
                          HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200


def test_plain_http_allowed_only_with_debug_GEN_01(client, api_client, settings):
    # GEN-01
    settings.DEBUG = True
    c, secret = api_client
    assert post_token(client, GRANT, auth=(c.client_id, secret), secure=False).status_code == 200


@pytest.mark.parametrize("content_type", [
    "application/json", "multipart/form-data; boundary=x", "text/plain", "",
])
def test_non_form_bodies_refused_GEN_04(client, api_client, content_type):
    # GEN-04
    c, secret = api_client
    body = json.dumps(GRANT) if content_type == "application/json" else "grant_type=x"
    response = post_token(client, body, auth=(c.client_id, secret), content_type=content_type)
    assert_error(response, "invalid_request")


def test_form_with_utf8_charset_accepted_GEN_04(client, api_client):
    # GEN-04
    c, secret = api_client
    response = post_token(client, GRANT, auth=(c.client_id, secret),
                          content_type="application/x-www-form-urlencoded; charset=UTF-8")
    assert response.status_code == 200


def test_other_charset_refused_GEN_04(client, api_client):
    # GEN-04
    c, secret = api_client
    response = post_token(client, GRANT, auth=(c.client_id, secret),
                          content_type="application/x-www-form-urlencoded; charset=latin-1")
    assert_error(response, "invalid_request")


@pytest.mark.parametrize("body", [
    b"grant_type=client_credentials&scope=%FF",  # percent-encoded invalid UTF-8
    b"grant_type=client_credentials&scope=\xff",  # raw invalid UTF-8
])
def test_invalid_utf8_refused_GEN_04(client, api_client, body):
    # GEN-04
    c, secret = api_client
    assert_error(post_token(client, body, auth=(c.client_id, secret)), "invalid_request")


def test_plus_and_percent_decoding_GEN_04(client, make_client, signing_key):
    # GEN-04
    c, secret = make_client(scope="a:b c+d")
    response = post_token(client, "grant_type=client_credentials&scope=a%3Ab+c%2Bd",
                          auth=(c.client_id, secret))
    assert response.json()["scope"] == "a:b c+d"


def test_huge_body_refused_with_json_GEN_04(client, api_client):
    # GEN-04
    c, secret = api_client
    body = "grant_type=client_credentials&pad=" + "x" * 100_000
    response = post_token(client, body, auth=(c.client_id, secret))
    assert_error(response, "invalid_request", status=413)


def test_too_many_fields_refused_GEN_04(client, api_client):
    # GEN-04
    c, secret = api_client
    body = "grant_type=client_credentials&" + "&".join(f"f{i}=1" for i in range(200))
    assert_error(post_token(client, body, auth=(c.client_id, secret)), "invalid_request")


# --- parameters -------------------------------------------------------------------------------

def test_grant_type_required_TOK_06_TOK_11(client, api_client):
    # TOK-06, TOK-11
    c, secret = api_client
    assert_error(post_token(client, {"scope": "read"}, auth=(c.client_id, secret)),
                 "invalid_request")


def test_grant_type_in_query_only_is_not_read_TOK_02(client, api_client):
    # TOK-02
    c, secret = api_client
    response = post_token(client, "", auth=(c.client_id, secret),
                          url=TOKEN_URL + "?grant_type=client_credentials")
    assert_error(response, "invalid_request")


def test_endpoint_query_is_tolerated_TOK_02(client, api_client):
    # TOK-02
    c, secret = api_client
    response = post_token(client, GRANT, auth=(c.client_id, secret), url=TOKEN_URL + "?v=1")
    assert response.status_code == 200


def test_empty_grant_type_is_absent_TOK_03(client, api_client):
    # TOK-03
    c, secret = api_client
    assert_error(post_token(client, "grant_type=", auth=(c.client_id, secret)),
                 "invalid_request")


def test_empty_scope_is_absent_TOK_03_SCOPE_03(client, api_client):
    # TOK-03, SCOPE-03
    c, secret = api_client
    response = post_token(client, "grant_type=client_credentials&scope=",
                          auth=(c.client_id, secret))
    assert response.status_code == 200
    assert response.json()["scope"] == "read"


def test_unknown_parameters_ignored_TOK_04(client, api_client):
    # TOK-04
    c, secret = api_client
    response = post_token(client, {**GRANT, "foo": "bar", "state": "x"},
                          auth=(c.client_id, secret))
    assert response.status_code == 200


def test_a_client_cannot_choose_its_identity_or_claims_BCP_06(client, api_client):
    """BCP-06: the token names the client only by the client_id the server generated (not
    editable, even in the admin), and parameters that look like claims or a user are ignored,
    so no client can pass for a resource owner or another client."""
    assert Client._meta.get_field("client_id").editable is False
    c, secret = api_client
    pretend = {"sub": "admin", "username": "admin", "user_id": "1", "iss": "https://evil.test",
               "claims": '{"sub": "admin"}', "azp": "other", "act": '{"sub": "admin"}'}
    response = post_token(client, {**GRANT, **pretend}, auth=(c.client_id, secret))
    assert response.status_code == 200, response.content
    claims = verify(client, response.json()["access_token"])
    assert set(claims) == {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"}
    assert claims["sub"] == claims["client_id"] == c.client_id
    assert claims["iss"] == ISSUER


@pytest.mark.parametrize("body", [
    "grant_type=client_credentials&grant_type=client_credentials",
    "grant_type=client_credentials&scope=read&scope=write",
    "grant_type=client_credentials&scope=&scope=read",
    "grant_type=client_credentials&client_id=a&client_id=b",
    "grant_type=client_credentials&client_secret=s1&client_secret=s2",
])
def test_repeated_parameter_refused_TOK_05(client, api_client, body):
    # TOK-05
    c, secret = api_client
    assert_error(post_token(client, body, auth=(c.client_id, secret)), "invalid_request")


@pytest.mark.parametrize("grant_type", [
    "password", "authorization_code", "refresh_token", "Client_Credentials",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
])
def test_unsupported_grant_types_TOK_11_BCP_04_GEN_08(client, api_client, grant_type):
    # TOK-11, BCP-04, GEN-08
    c, secret = api_client
    response = post_token(client, {"grant_type": grant_type}, auth=(c.client_id, secret))
    body = assert_error(response, "unsupported_grant_type")
    assert grant_type not in body.get("error_description", "")


# --- client authentication --------------------------------------------------------------------

def test_no_client_authentication_CAUTH_01_GEN_09(client, api_client):
    # CAUTH-01, GEN-09
    assert_error(post_token(client, GRANT), "invalid_client", status=401)


def test_client_id_alone_never_authenticates_CAUTH_01(client, api_client):
    # CAUTH-01
    c, _ = api_client
    response = post_token(client, {**GRANT, "client_id": c.client_id})
    assert_error(response, "invalid_client", status=401)


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_basic_scheme_is_case_insensitive_CAUTH_02(client, api_client, scheme):
    # CAUTH-02
    c, secret = api_client
    value = basic(c.client_id, secret).replace("Basic", scheme, 1)
    assert post_token(client, GRANT, authorization=value).status_code == 200


def _client_with_secret(make_client, client_id: str, secret: str) -> Client:
    client, _ = make_client(client_id=client_id)
    ClientSecret.objects.create(client=client, digest=credentials.digest(secret), hint="x")
    return client


def test_basic_credentials_are_form_urldecoded_CAUTH_02(client, make_client, signing_key):
    # CAUTH-02
    _client_with_secret(make_client, "a:b", "s p+a%ce")
    # Encoded as RFC 6749 Appendix B says: a%3Ab, s+p%2Ba%25ce.
    assert post_token(client, GRANT, auth=("a:b", "s p+a%ce")).status_code == 200
    raw = base64.b64encode(b"a%3Ab:s+p%2Ba%25ce").decode()
    assert post_token(client, GRANT, authorization=f"Basic {raw}").status_code == 200


def test_plus_in_secret_needs_percent_encoding_CAUTH_02(client, make_client, signing_key):
    # CAUTH-02
    _client_with_secret(make_client, "plus-client", "x+y")
    unencoded = base64.b64encode(b"plus-client:x+y").decode()  # "+" decodes to a space
    assert_error(post_token(client, GRANT, authorization=f"Basic {unencoded}"),
                 "invalid_client", status=401)
    encoded = base64.b64encode(b"plus-client:x%2By").decode()
    assert post_token(client, GRANT, authorization=f"Basic {encoded}").status_code == 200


def test_split_at_first_colon_CAUTH_02(client, make_client, signing_key):
    # CAUTH-02
    _client_with_secret(make_client, "colon-client", "se:cret")
    raw = base64.b64encode(b"colon-client:se:cret").decode()
    assert post_token(client, GRANT, authorization=f"Basic {raw}").status_code == 200


def test_utf8_client_id_CAUTH_02(client, make_client, signing_key):
    # CAUTH-02
    _client_with_secret(make_client, "clïent", "secret-ü")
    assert post_token(client, GRANT, auth=("clïent", "secret-ü")).status_code == 200


@pytest.mark.parametrize("authorization", [
    "Basic",
    "Basic ",
    "Basic !!!notbase64",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic " + base64.b64encode(b":only-secret").decode(),
    "Basic " + base64.b64encode(b"only-id:").decode(),
    "Basic " + base64.b64encode(b"bad\xff:utf8").decode(),
    "Basic " + base64.b64encode(b"%ZZ:x").decode(),
    "Basic " + base64.b64encode(b"abc:def")[:-2].decode(),  # bad padding
    "Basic dXNlcjpwYXNz\u00e9",  # non-ASCII in the header
    "Bearer some-token",
    "Digest username=x",
])
def test_malformed_basic_gets_401_challenge_CAUTH_03(client, api_client, authorization):
    # CAUTH-03
    assert_error(post_token(client, GRANT, authorization=authorization),
                 "invalid_client", status=401)


def test_unknown_client_and_wrong_secret_look_the_same_CAUTH_03(client, api_client):
    # CAUTH-03
    c, secret = api_client
    wrong = post_token(client, GRANT, auth=(c.client_id, secret + "x"))
    unknown = post_token(client, GRANT, auth=("no-such-client", secret))
    assert_error(wrong, "invalid_client", status=401)
    assert_error(unknown, "invalid_client", status=401)
    assert wrong.content == unknown.content
    assert wrong.headers == unknown.headers


@pytest.mark.parametrize("state", ["inactive", "expired", "revoked"])
def test_unusable_client_or_secret_refused_CAUTH_03(client, api_client, state):
    # CAUTH-03
    c, secret = api_client
    if state == "inactive":
        Client.objects.filter(pk=c.pk).update(is_active=False)
    elif state == "expired":
        c.secrets.update(expires_at=clock.now() - timedelta(seconds=1))
    else:
        c.secrets.update(revoked_at=clock.now())
    assert_error(post_token(client, GRANT, auth=(c.client_id, secret)),
                 "invalid_client", status=401)


def test_several_secrets_for_rotation(client, api_client):
    c, old = api_client
    new = c.add_secret()
    c.secrets.filter(digest=credentials.digest(old)).update(
        expires_at=clock.now() + timedelta(hours=1))
    assert post_token(client, GRANT, auth=(c.client_id, old)).status_code == 200
    assert post_token(client, GRANT, auth=(c.client_id, new)).status_code == 200


def test_client_secret_post_CAUTH_04(client, make_client, signing_key):
    # CAUTH-04
    c, secret = make_client(
        token_endpoint_auth_method=TokenEndpointAuthMethod.CLIENT_SECRET_POST)
    response = post_token(client, {**GRANT, "client_id": c.client_id, "client_secret": secret})
    assert response.status_code == 200


def test_client_secret_post_failure_is_400_X_07(client, make_client, signing_key):
    #
    c, secret = make_client(
        token_endpoint_auth_method=TokenEndpointAuthMethod.CLIENT_SECRET_POST)
    response = post_token(client, {**GRANT, "client_id": c.client_id, "client_secret": "x"})
    assert_error(response, "invalid_client", status=400)
    assert "WWW-Authenticate" not in response
    response = post_token(client, {**GRANT, "client_secret": secret})
    assert_error(response, "invalid_client", status=400)


@pytest.mark.parametrize("name", ["client_id", "client_secret", "client_assertion"])
def test_credentials_in_uri_refused_CAUTH_04(client, make_client, signing_key, name):
    # CAUTH-04
    c, secret = make_client(
        token_endpoint_auth_method=TokenEndpointAuthMethod.CLIENT_SECRET_POST)
    response = post_token(client, {**GRANT, "client_id": c.client_id},
                          url=f"{TOKEN_URL}?{name}={secret}")
    body = assert_error(response, "invalid_request")
    assert secret not in json.dumps(body)


def test_basic_plus_body_secret_refused_CAUTH_05(client, api_client):
    # CAUTH-05
    c, secret = api_client
    response = post_token(client, {**GRANT, "client_id": c.client_id, "client_secret": secret},
                          auth=(c.client_id, secret))
    assert_error(response, "invalid_request")


def test_basic_plus_assertion_is_invalid_client_CAUTH_05_X_01(client, api_client):
    # CAUTH-05, X-01
    c, secret = api_client
    body = {**GRANT, "client_assertion_type":
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "a.b.c"}
    response = post_token(client, body, auth=(c.client_id, secret))
    assert_error(response, "invalid_client", status=401)  # the header was used


def test_body_secret_plus_assertion_is_invalid_client_CAUTH_05_X_01(client, api_client):
    # CAUTH-05, X-01
    c, secret = api_client
    body = {**GRANT, "client_id": c.client_id, "client_secret": secret,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "a.b.c"}
    assert_error(post_token(client, body), "invalid_client")


def test_assertion_alone_is_refused_TOK_11_X_07(client, api_client):
    # TOK-11, X-07
    body = {**GRANT, "client_assertion_type":
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "a.b.c"}
    assert_error(post_token(client, body), "invalid_client")


def test_body_client_id_equal_to_basic_is_allowed_CAUTH_05(client, api_client):
    # CAUTH-05
    c, secret = api_client
    response = post_token(client, {**GRANT, "client_id": c.client_id},
                          auth=(c.client_id, secret))
    assert response.status_code == 200


def test_body_client_id_different_from_basic_refused_CAUTH_05(client, api_client, make_client):
    # CAUTH-05
    c, secret = api_client
    other, _ = make_client()
    response = post_token(client, {**GRANT, "client_id": other.client_id},
                          auth=(c.client_id, secret))
    assert_error(response, "invalid_request")


def test_registered_method_is_enforced_CAUTH_07(client, make_client, signing_key):
    # CAUTH-07
    basic_client, basic_secret = make_client()
    response = post_token(client, {**GRANT, "client_id": basic_client.client_id,
                                   "client_secret": basic_secret})
    assert_error(response, "invalid_client", status=400)
    post_client, post_secret = make_client(
        token_endpoint_auth_method=TokenEndpointAuthMethod.CLIENT_SECRET_POST)
    response = post_token(client, GRANT, auth=(post_client.client_id, post_secret))
    assert_error(response, "invalid_client", status=401)


def test_failures_never_use_invalid_grant_TOK_11(client, api_client):
    # TOK-11
    c, _ = api_client
    for response in (post_token(client, GRANT, auth=(c.client_id, "wrong")),
                     post_token(client, GRANT)):
        assert response.json()["error"] == "invalid_client"


# --- secrets ----------------------------------------------------------------------------------

def test_secret_entropy_and_alphabet_GEN_06_CAUTH_02(db):
    # GEN-06, CAUTH-02
    secret = credentials.generate_secret()
    assert secret.startswith("occs_")
    body = secret.removeprefix("occs_")
    assert re.fullmatch(r"[A-Za-z0-9]{44}", body)  # 44 * log2(62) > 256 bits
    assert len({credentials.generate_secret() for _ in range(50)}) == 50


def test_only_the_digest_is_stored_GEN_07(api_client):
    # GEN-07
    c, secret = api_client
    row = ClientSecret.objects.get(client=c)
    assert row.digest == credentials.digest(secret)
    for field in ClientSecret._meta.concrete_fields:
        assert secret not in str(getattr(row, field.attname))


# --- scope ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scope", [" read", "read ", "read  write", 're"ad', "re\\ad",
                                   "rëad", "read\twrite", "\x7f"])
def test_scope_syntax_SCOPE_01(client, api_client, scope):
    # SCOPE-01
    c, secret = api_client
    response = post_token(client, {**GRANT, "scope": scope}, auth=(c.client_id, secret))
    body = assert_error(response, "invalid_scope")
    assert scope not in body.get("error_description", "")


def test_scope_order_and_duplicates_SCOPE_02(client, api_client):
    # SCOPE-02
    c, secret = api_client
    response = post_token(client, {**GRANT, "scope": "write read write"},
                          auth=(c.client_id, secret))
    assert response.json()["scope"] == "read write"
    claims = verify(client, response.json()["access_token"])
    assert claims["scope"] == "read write"  # SCOPE-06: one space-delimited string


def test_scope_is_case_sensitive_SCOPE_02_GEN_08(client, api_client):
    # SCOPE-02, GEN-08
    c, secret = api_client
    response = post_token(client, {**GRANT, "scope": "READ"}, auth=(c.client_id, secret))
    assert_error(response, "invalid_scope")


def test_omitted_scope_gets_default_and_is_returned_SCOPE_03(client, make_client, signing_key):
    # SCOPE-03
    c, secret = make_client(scope="a b c", default_scope="a b")
    response = post_token(client, GRANT, auth=(c.client_id, secret))
    assert response.json()["scope"] == "a b"


def test_omitted_scope_without_default_SCOPE_03(client, make_client, signing_key):
    # SCOPE-03
    c, secret = make_client(scope="a b", default_scope="")
    assert_error(post_token(client, GRANT, auth=(c.client_id, secret)), "invalid_scope")


def test_scope_outside_allowed_set_SCOPE_04_SCOPE_05(client, api_client):
    # SCOPE-04, SCOPE-05
    c, secret = api_client
    response = post_token(client, {**GRANT, "scope": "read admin"}, auth=(c.client_id, secret))
    assert_error(response, "invalid_scope")


# --- audience / resource ----------------------------------------------------------------------

def test_resource_selects_audience_RES_02_JWT_05_X_02(client, make_client, signing_key):
    # RES-02, JWT-05; X-02: resource is the one parameter that may repeat (8707 §2)
    apis = "https://orders.example.test https://billing.example.test"
    c, secret = make_client(allowed_audiences=apis)
    response = post_token(client, {**GRANT, "resource": "https://orders.example.test"},
                          auth=(c.client_id, secret))
    claims = verify(client, response.json()["access_token"],
                    audience="https://orders.example.test")
    assert claims["aud"] == "https://orders.example.test"
    both = post_token(client, [("grant_type", "client_credentials"),
                               ("resource", "https://orders.example.test"),
                               ("resource", "https://billing.example.test")],
                      auth=(c.client_id, secret))
    claims = verify(client, both.json()["access_token"], audience="https://orders.example.test")
    assert claims["aud"] == ["https://billing.example.test", "https://orders.example.test"]


@pytest.mark.parametrize("resource", [
    "/relative", "https://api.example.test#frag", "not a uri", "https://other.example.test",
])
def test_bad_or_unknown_resource_RES_03(client, api_client, resource):
    # RES-03
    c, secret = api_client
    response = post_token(client, {**GRANT, "resource": resource}, auth=(c.client_id, secret))
    assert_error(response, "invalid_target")


def test_default_audience_without_resource_RES_04_JWT_05(client, make_client, signing_key):
    # RES-04, JWT-05
    c, secret = make_client(allowed_audiences="https://only.example.test")
    response = post_token(client, GRANT, auth=(c.client_id, secret))
    claims = verify(client, response.json()["access_token"], audience="https://only.example.test")
    assert claims["aud"] == "https://only.example.test"
    c2, secret2 = make_client(allowed_audiences="https://a.example.test https://b.example.test")
    assert_error(post_token(client, GRANT, auth=(c2.client_id, secret2)), "invalid_target")


# --- signals, logs, error reports ------------------------------------------------------------

def test_signals_and_sensitive_parameters(client, api_client):
    c, secret = api_client
    issued, failed = [], []

    def on_issued(sender, request, client, claims, **kwargs):
        issued.append((client.client_id, claims, request.sensitive_post_parameters))

    def on_failed(sender, request, client_id, reason, **kwargs):
        failed.append((client_id, reason))

    token_issued.connect(on_issued)
    client_authentication_failed.connect(on_failed)
    try:
        post_token(client, GRANT, auth=(c.client_id, secret))
        post_token(client, GRANT, auth=(c.client_id, "wrong-secret"))
    finally:
        token_issued.disconnect(on_issued)
        client_authentication_failed.disconnect(on_failed)
    assert issued[0][0] == c.client_id
    assert issued[0][1]["client_id"] == c.client_id
    assert set(issued[0][2]) == {"client_secret", "client_assertion"}
    assert failed == [(c.client_id, "unknown client or wrong secret")]


def test_no_secret_or_token_in_logs_GEN_05(client, api_client, caplog):
    # GEN-05
    c, secret = api_client
    caplog.set_level(logging.DEBUG)
    header = basic(c.client_id, secret)
    ok = post_token(client, GRANT, authorization=header)
    token = ok.json()["access_token"]
    post_token(client, GRANT, auth=(c.client_id, secret + "x"))
    post_token(client, GRANT, auth=(secret, secret))  # a secret pasted as the client_id
    post_token(client, GRANT, url=f"{TOKEN_URL}?client_secret={secret}")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # failures are logged...
    for sensitive in (secret, token, header.split()[1]):
        assert sensitive not in text  # ...without credentials


def test_no_active_key_is_a_clean_503(client, make_client):
    c, secret = make_client()
    response = post_token(client, GRANT, auth=(c.client_id, secret))
    assert_error(response, "temporarily_unavailable", status=503)


def test_deleted_scope_is_no_longer_granted_SCOPE_05(client, api_client):
    # SCOPE-05
    from oauth_cc.models import Scope

    c, secret = api_client
    Scope.objects.filter(name="write").delete()
    c.refresh_from_db()
    assert c.allowed_scopes == "read"
    response = post_token(client, {**GRANT, "scope": "write"}, auth=(c.client_id, secret))
    assert_error(response, "invalid_scope")


def test_unknown_client_and_wrong_secret_cost_the_same_queries_CAUTH_07(
        client, api_client, django_assert_num_queries):
    # CAUTH-07
    c, secret = api_client
    post_token(client, GRANT, auth=(c.client_id, secret))  # warm the key cache
    with django_assert_num_queries(2):
        post_token(client, GRANT, auth=(c.client_id, "wrong"))
    with django_assert_num_queries(2):
        post_token(client, GRANT, auth=("unknown-client", "wrong"))


@pytest.mark.parametrize("client_id", ["nul\x00id", "x" * 5000, "tab\tid"])
def test_unsearchable_client_ids_are_plain_failures_CAUTH_03(client, api_client, client_id):
    # CAUTH-03
    assert_error(post_token(client, GRANT, auth=(client_id, "secret")),
                 "invalid_client", status=401)


def test_failing_signal_receiver_changes_nothing(client, api_client):
    """A broken receiver neither breaks the endpoint nor reaches the client."""
    c, secret = api_client

    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    client_authentication_failed.connect(broken)
    token_issued.connect(broken)
    try:
        assert_error(post_token(client, GRANT, auth=(c.client_id, "wrong")),
                     "invalid_client", status=401)
        assert post_token(client, GRANT, auth=(c.client_id, secret)).status_code == 200
    finally:
        client_authentication_failed.disconnect(broken)
        token_issued.disconnect(broken)


@pytest.mark.parametrize("authorization", ["Bearer SUPERSECRETTOKEN", "basic-with-secret"])
def test_error_report_hides_credentials_GEN_05(rf, api_client, monkeypatch, caplog,
                                               authorization):
    """A failure inside client authentication (fault injected into the failure signal): the
    answer is a 500 JSON ``server_error``, never an error page; the logged traceback, and
    Django's error report built from it, show no credential in any oauth_cc frame (GEN-05)."""
    import logging

    from django.views.debug import ExceptionReporter

    from oauth_cc.server import client_auth, endpoints

    c, secret = api_client
    if authorization == "basic-with-secret":
        authorization = basic(c.client_id, secret + "-wrong")

    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    monkeypatch.setattr(client_auth.client_authentication_failed, "send_robust", broken)
    request = rf.post(TOKEN_URL, "grant_type=client_credentials", secure=True,
                      content_type="application/x-www-form-urlencoded",
                      HTTP_AUTHORIZATION=authorization)
    with caplog.at_level(logging.DEBUG, logger="oauth_cc"):
        response = endpoints.token(request)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content) == {
        "error": "server_error",
        "error_description": "The server could not answer this request."}
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert "SUPERSECRETTOKEN" not in caplog.text and secret not in caplog.text
    assert authorization.split()[1] not in caplog.text
    frames = ExceptionReporter(request, *logged[0].exc_info).get_traceback_frames()
    ours = [str(f["vars"]) for f in frames if "/oauth_cc/" in f["filename"]]
    assert len(ours) >= 2
    for text in ours:
        assert "SUPERSECRETTOKEN" not in text
        assert secret not in text
        assert authorization.split()[1] not in text
    report = ExceptionReporter(request, *logged[0].exc_info).get_traceback_text()
    assert authorization not in report and "SUPERSECRETTOKEN" not in report
