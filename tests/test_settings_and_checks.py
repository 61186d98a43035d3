"""The OAUTH_CC settings object and the system checks."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet
from django.core import checks as django_checks
from django.test import override_settings

from oauth_cc import checks
from oauth_cc.server import keys
from oauth_cc.settings import DEFAULTS, oauth_cc_settings
from tests.conftest import AUDIENCE, ISSUER, JWKS_URL, install_key, post_token, verify
from tests.settings import OAUTH_CC as TEST_OAUTH_CC

GRANT = {"grant_type": "client_credentials"}


def extra_claims(client: Any, claims: dict[str, Any]) -> dict[str, Any]:
    """An EXTRA_CLAIMS hook (imported by dotted path in a test below)."""
    return {"tenant": "acme", "iss": "https://evil.example", "sub": "someone-else"}


def configure(settings: Any, **changes: Any) -> None:
    settings.OAUTH_CC = {**settings.OAUTH_CC, **changes}


@pytest.fixture(autouse=True)
def _shared_cache(settings: Any) -> None:
    """Checks run as for a deployment with a shared cache (W002 is tested on its own)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                                   "LOCATION": "oauth_cc_cache"}}


def token_response(http: Any, oauth_client: Any, secret: str) -> dict[str, Any]:
    response = post_token(http, GRANT, auth=(oauth_client.client_id, secret))
    assert response.status_code == 200, response.content
    return response.json()


def unverified_claims(access_token: str) -> dict[str, Any]:
    return jwt.decode(access_token, options={"verify_signature": False})


def verify_for_issuer(http: Any, access_token: str, issuer: str) -> dict[str, Any]:
    served = jwt.PyJWKSet.from_dict(http.get(JWKS_URL, secure=True).json())
    key = served[jwt.get_unverified_header(access_token)["kid"]]
    return jwt.decode(access_token, key=key, algorithms=[key.algorithm_name],
                      audience=AUDIENCE, issuer=issuer)


# --- the settings object ----------------------------------------------------------------------

def test_unset_settings_have_their_defaults():
    for name, default in DEFAULTS.items():
        if name not in TEST_OAUTH_CC:
            assert getattr(oauth_cc_settings, name) == default, name
    assert oauth_cc_settings.ACCESS_TOKEN_LIFETIME == 600
    assert oauth_cc_settings.MAX_ACCESS_TOKEN_LIFETIME == 3600
    assert oauth_cc_settings.SIGNING_ALGORITHM == "RS256"
    assert oauth_cc_settings.EXTRA_CLAIMS is None


def test_user_settings_override_defaults():
    assert oauth_cc_settings.ISSUER == ISSUER
    assert oauth_cc_settings.DEFAULT_AUDIENCE == AUDIENCE
    assert oauth_cc_settings.KEY_ENCRYPTION_KEYS == TEST_OAUTH_CC["KEY_ENCRYPTION_KEYS"]


def test_unknown_setting_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="ISSUR"):
        _ = oauth_cc_settings.ISSUR
    assert not hasattr(oauth_cc_settings, "ACCESS_TOKEN_LIFE")
    assert getattr(oauth_cc_settings, "NOPE", "fallback") == "fallback"


def test_settings_fixture_changes_are_seen_at_once(settings):
    assert oauth_cc_settings.ACCESS_TOKEN_LIFETIME == 600  # cached now
    configure(settings, ACCESS_TOKEN_LIFETIME=120, ISSUER="https://other.example.test")
    assert oauth_cc_settings.ACCESS_TOKEN_LIFETIME == 120
    assert oauth_cc_settings.ISSUER == "https://other.example.test"


def test_override_settings_is_seen_and_undone():
    assert oauth_cc_settings.JWKS_MAX_AGE == 300
    with override_settings(OAUTH_CC={**TEST_OAUTH_CC, "JWKS_MAX_AGE": 30}):
        assert oauth_cc_settings.JWKS_MAX_AGE == 30
    assert oauth_cc_settings.JWKS_MAX_AGE == 300


def test_changing_issuer_changes_iss_of_the_next_token_JWT_03(client, api_client, settings):
    # JWT-03
    oauth_client, secret = api_client
    first = token_response(client, oauth_client, secret)["access_token"]
    assert verify(client, first)["iss"] == ISSUER

    configure(settings, ISSUER="https://tenant.example.test/t1")
    second = token_response(client, oauth_client, secret)["access_token"]
    claims = verify_for_issuer(client, second, "https://tenant.example.test/t1")
    assert claims["iss"] == "https://tenant.example.test/t1"


def test_changing_lifetime_changes_expires_in_TOK_07_TOK_10(client, api_client):
    # TOK-07, TOK-10
    oauth_client, secret = api_client
    assert token_response(client, oauth_client, secret)["expires_in"] == 600
    with override_settings(OAUTH_CC={**TEST_OAUTH_CC, "ACCESS_TOKEN_LIFETIME": 90}):
        body = token_response(client, oauth_client, secret)
        assert body["expires_in"] == 90
        claims = unverified_claims(body["access_token"])
        assert claims["exp"] - claims["iat"] == 90
    assert token_response(client, oauth_client, secret)["expires_in"] == 600


def test_max_lifetime_caps_the_default_lifetime_TOK_10(client, api_client, settings):
    # TOK-10
    oauth_client, secret = api_client
    configure(settings, ACCESS_TOKEN_LIFETIME=1800, MAX_ACCESS_TOKEN_LIFETIME=900)
    assert token_response(client, oauth_client, secret)["expires_in"] == 900


def test_changing_default_audience_changes_aud_JWT_05(client, api_client, settings):
    # JWT-05
    oauth_client, secret = api_client
    configure(settings, DEFAULT_AUDIENCE="https://other-api.example.test")
    access_token = token_response(client, oauth_client, secret)["access_token"]
    assert unverified_claims(access_token)["aud"] == "https://other-api.example.test"


def test_changing_realm_changes_the_basic_challenge_CAUTH_03(client, db, settings):
    # CAUTH-03
    configure(settings, REALM="tenant one")
    response = post_token(client, GRANT, auth=("unknown", "wrong"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Basic realm="tenant one"')


def test_changing_jwks_max_age_changes_cache_control(client, db, settings):
    configure(settings, JWKS_MAX_AGE=42)
    response = client.get(JWKS_URL, secure=True)
    assert "max-age=42" in response["Cache-Control"]


def test_changing_signing_algorithm_changes_new_keys_JWT_01(client, make_client, settings):
    # JWT-01
    configure(settings, SIGNING_ALGORITHM="EdDSA")
    keys.rotate()
    oauth_client, secret = make_client()
    access_token = token_response(client, oauth_client, secret)["access_token"]
    assert jwt.get_unverified_header(access_token)["alg"] == "EdDSA"
    assert verify(client, access_token)["client_id"] == oauth_client.client_id


def test_changing_client_secret_prefix_changes_new_secrets(make_client, settings):
    configure(settings, CLIENT_SECRET_PREFIX="acme_")
    _, secret = make_client()
    assert secret.startswith("acme_")


def test_extra_claims_import_string_is_resolved_and_cannot_override_JWT_03(
    client, api_client, settings
):
    # JWT-03
    configure(settings, EXTRA_CLAIMS="tests.test_settings_and_checks.extra_claims")
    assert oauth_cc_settings.EXTRA_CLAIMS is extra_claims
    oauth_client, secret = api_client
    access_token = token_response(client, oauth_client, secret)["access_token"]
    claims = verify(client, access_token)
    assert claims["tenant"] == "acme"
    assert claims["iss"] == ISSUER
    assert claims["sub"] == oauth_client.client_id


def test_changing_key_encryption_keys_rebuilds_the_cipher(db, settings):
    install_key("ES256")
    before = keys.fernet()
    new_kek = Fernet.generate_key().decode()
    configure(settings, KEY_ENCRYPTION_KEYS=[new_kek])
    assert keys.fernet() is not before
    created = keys.create_key("ES256")
    Fernet(new_kek).decrypt(bytes(created.encrypted_private_key))


# --- system checks ----------------------------------------------------------------------------

def check_ids(settings: Any, **changes: Any) -> list[str]:
    configure(settings, **changes)
    return [message.id for message in checks.check_settings()]


def ids() -> list[str]:
    return [message.id for message in checks.check_settings()]


SHARED_CACHE = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                            "LOCATION": "oauth_cc_cache"}}


def test_valid_configuration_has_no_messages(settings):
    settings.CACHES = SHARED_CACHE
    assert checks.check_settings() == []


def deploy_ids() -> list[str]:
    return [m.id for m in checks.check_deployment()]


def test_per_process_revocation_cache_warns_only_for_deployment(settings):
    """W002: with LocMemCache a revocation reaches other machines only after a delay. It is
    a deployment matter: reported by ``check --deploy``, never by every command."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "oauth_cc.W002" not in ids()
    assert "oauth_cc.W002" in deploy_ids()
    settings.OAUTH_CC = {**settings.OAUTH_CC, "CHECK_REVOCATION": False}
    assert "oauth_cc.W002" not in deploy_ids()


def test_deploy_checks_run_only_with_deploy(settings):
    from django.core import checks as django_checks

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    everyday = {m.id for m in django_checks.run_checks()}
    deploy = {m.id for m in django_checks.run_checks(include_deployment_checks=True)}
    assert "oauth_cc.W002" not in everyday
    assert {"oauth_cc.W002", "oauth_cc.W006"} <= deploy


@pytest.mark.parametrize("uri, warns", [
    ("http://as.example.com/oauth/jwks", True),
    ("http://10.0.0.5/oauth/jwks", True),
    ("http://127.0.0.1:8000/oauth/jwks", False),
    ("http://localhost/oauth/jwks", False),
    ("https://as.example.com/oauth/jwks", False),
])
def test_plain_http_remote_urls_warn_for_deployment_RSV_09(settings, uri, warns):
    # RSV-09: keys come over https only; W003 says so before the first request does.
    settings.CACHES = SHARED_CACHE
    settings.OAUTH_CC = {**settings.OAUTH_CC, "JWKS_URI": uri}
    assert ("oauth_cc.W003" in deploy_ids()) is warns
    settings.OAUTH_CC = {**settings.OAUTH_CC, "JWKS_URI": None,
                         "INTROSPECTION_ENDPOINT": uri, "INTROSPECTION_CLIENT_ID": "rs",
                         "INTROSPECTION_CLIENT_SECRET": "s"}
    assert ("oauth_cc.W003" in deploy_ids()) is warns


@pytest.mark.django_db
def test_no_active_signing_key_warns_for_deployment(settings):
    settings.CACHES = SHARED_CACHE
    assert "oauth_cc.W004" in deploy_ids()
    install_key()
    assert "oauth_cc.W004" not in deploy_ids()


def test_throttling_off_or_per_process_warns_for_deployment_CAUTH_06(settings):
    # CAUTH-06: throttling off, or counted per process, is reported.
    settings.CACHES = SHARED_CACHE
    assert not {"oauth_cc.W005", "oauth_cc.W006"} & set(deploy_ids())
    settings.OAUTH_CC = {**settings.OAUTH_CC, "THROTTLE_FAILURES_PER_CLIENT": 0,
                         "THROTTLE_FAILURES_PER_ADDRESS": 0}
    assert "oauth_cc.W005" in deploy_ids()
    settings.OAUTH_CC = {**settings.OAUTH_CC, "THROTTLE_FAILURES_PER_CLIENT": 10}
    settings.CACHES = {**SHARED_CACHE, "local": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.OAUTH_CC = {**settings.OAUTH_CC, "THROTTLE_CACHE": "local"}
    assert "oauth_cc.W006" in deploy_ids()


def test_introspection_without_credentials_and_bad_proxies_are_errors(settings):
    settings.CACHES = SHARED_CACHE
    settings.OAUTH_CC = {**settings.OAUTH_CC,
                         "INTROSPECTION_ENDPOINT": "https://as.example.com/oauth/introspect"}
    assert "oauth_cc.E012" in ids()
    settings.OAUTH_CC = {**settings.OAUTH_CC, "INTROSPECTION_ENDPOINT": None,
                         "TRUSTED_PROXIES": ["10.0.0.0/8", "not-an-address"]}
    assert "oauth_cc.E013" in ids()
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": "10.0.0.1"}
    assert "oauth_cc.E013" in ids()
    settings.OAUTH_CC = {**settings.OAUTH_CC, "TRUSTED_PROXIES": [],
                         "THROTTLE_CACHE": "nope"}
    assert "oauth_cc.E014" in ids()


def test_unknown_revocation_cache_and_token_format(settings):
    settings.CACHES = SHARED_CACHE
    settings.OAUTH_CC = {**settings.OAUTH_CC, "REVOCATION_CACHE": "nope",
                         "ACCESS_TOKEN_FORMAT": "paseto"}
    assert {"oauth_cc.E010", "oauth_cc.E011"} <= set(ids())


def test_checks_are_registered_with_django():
    with override_settings(OAUTH_CC={**TEST_OAUTH_CC, "ISSUER": None}):
        found = [m.id for m in django_checks.run_checks() if m.id.startswith("oauth_cc.")]
    assert found == ["oauth_cc.E001"]


def test_missing_issuer_is_E001(settings):
    settings.OAUTH_CC = {k: v for k, v in TEST_OAUTH_CC.items() if k != "ISSUER"}
    assert [m.id for m in checks.check_settings()] == ["oauth_cc.E001"]
    assert check_ids(settings, ISSUER="") == ["oauth_cc.E001"]


@pytest.mark.parametrize("issuer", [
    "https://as.example.test/?tenant=1",
    "https://as.example.test#top",
    "https://as.example.test?",
    "https://as.example.test/#",
    "as.example.test",
    "ftp://as.example.test",
    "https://",
])
def test_issuer_with_query_fragment_or_no_https_url_is_E002_META_03(settings, issuer):
    # META-03
    assert check_ids(settings, ISSUER=issuer) == ["oauth_cc.E002"]


def test_issuer_with_a_path_is_valid_META_01(settings):
    # META-01
    assert check_ids(settings, ISSUER="https://as.example.test/tenant/1") == []


def test_http_issuer_without_debug_is_E003_GEN_01(settings):
    # GEN-01
    settings.DEBUG = False
    assert check_ids(settings, ISSUER="http://as.example.test") == ["oauth_cc.E003"]


def test_http_issuer_with_debug_is_accepted_GEN_01(settings):
    # GEN-01
    settings.DEBUG = True
    assert check_ids(settings, ISSUER="http://localhost:8000") == []


@pytest.mark.parametrize("audience", [
    None, "", "api", "/relative/path", "https://api.example.test#frag",
    "https://api.example.test/a b", ["https://api.example.test"],
])
def test_bad_default_audience_is_E004_RES_01(settings, audience):
    # RES-01
    assert check_ids(settings, DEFAULT_AUDIENCE=audience) == ["oauth_cc.E004"]


def test_urn_default_audience_is_valid_RES_01(settings):
    # RES-01
    assert check_ids(settings, DEFAULT_AUDIENCE="urn:example:api") == []


@pytest.mark.parametrize(("lifetime", "maximum"), [
    (7200, 3600),  # lifetime above the maximum
    (0, 3600), (-1, 3600), (True, 3600), ("600", 3600), (1.5, 3600),
    (600, 0), (600, 90000),  # the maximum itself out of range
])
def test_bad_lifetimes_are_E005_TOK_10(settings, lifetime, maximum):
    # TOK-10
    ids = check_ids(settings, ACCESS_TOKEN_LIFETIME=lifetime, MAX_ACCESS_TOKEN_LIFETIME=maximum)
    assert ids == ["oauth_cc.E005"]


def test_max_lifetime_over_an_hour_is_W001_TOK_10(settings):
    # TOK-10
    configure(settings, MAX_ACCESS_TOKEN_LIFETIME=7200)
    (message,) = checks.check_settings()
    assert message.id == "oauth_cc.W001"
    assert isinstance(message, django_checks.Warning)
    assert not message.is_serious()
    assert check_ids(settings, MAX_ACCESS_TOKEN_LIFETIME=3600) == []


@pytest.mark.parametrize("algorithm", ["none", "HS256", "RS512", "rs256", "", None])
def test_unsupported_signing_algorithm_is_E006_JWT_01(settings, algorithm):
    # JWT-01
    assert check_ids(settings, SIGNING_ALGORITHM=algorithm) == ["oauth_cc.E006"]


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "EdDSA"])
def test_supported_signing_algorithms_pass_JWT_01(settings, algorithm):
    # JWT-01
    assert check_ids(settings, SIGNING_ALGORITHM=algorithm) == []


@pytest.mark.parametrize("value", [[], (), None, ["not-a-fernet-key"], [None], "", 42])
def test_empty_or_invalid_key_encryption_keys_is_E007_GEN_07(settings, value):
    # GEN-07
    assert check_ids(settings, KEY_ENCRYPTION_KEYS=value) == ["oauth_cc.E007"]


def test_missing_key_encryption_keys_is_E007_GEN_07(settings):
    # GEN-07
    settings.OAUTH_CC = {k: v for k, v in TEST_OAUTH_CC.items() if k != "KEY_ENCRYPTION_KEYS"}
    assert [m.id for m in checks.check_settings()] == ["oauth_cc.E007"]


def test_several_fernet_keys_as_text_or_bytes_are_valid(settings):
    keys_ = [Fernet.generate_key().decode(), Fernet.generate_key()]
    assert check_ids(settings, KEY_ENCRYPTION_KEYS=keys_) == []


def test_unknown_keys_are_E008_each_named(settings):
    configure(settings, ISSUR="https://typo.example", JWKS_MAXAGE=1)
    messages = checks.check_settings()
    assert [m.id for m in messages] == ["oauth_cc.E008", "oauth_cc.E008"]
    assert "'ISSUR'" in messages[0].msg + messages[1].msg
    assert "'JWKS_MAXAGE'" in messages[0].msg + messages[1].msg


def test_oauth_cc_that_is_not_a_dict_is_E009(settings):
    settings.OAUTH_CC = ["ISSUER"]
    assert [m.id for m in checks.check_settings()] == ["oauth_cc.E009"]


def test_several_problems_are_all_reported(settings):
    settings.OAUTH_CC = {"SIGNING_ALGORITHM": "none", "MAX_ACCESS_TOKEN_LIFETIME": 7200}
    ids = sorted(m.id for m in checks.check_settings())
    assert ids == ["oauth_cc.E001", "oauth_cc.E004", "oauth_cc.E006", "oauth_cc.E007",
                   "oauth_cc.W001"]


def _message_ids_in_source() -> list[str]:
    """The keys of the MESSAGES dict literal as written, duplicates included."""
    tree = ast.parse(inspect.getsource(checks))
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(getattr(t, "id", None) == "MESSAGES" for t in targets):
                return [key.value for key in node.value.keys]
    raise AssertionError("MESSAGES not found")


def test_every_check_id_is_listed_once():
    written = _message_ids_in_source()
    assert len(written) == len(set(written))
    assert set(written) == set(checks.MESSAGES)
    for check_id, (level, _msg, _hint) in checks.MESSAGES.items():
        assert check_id.startswith("oauth_cc.")
        expected = django_checks.Warning if check_id[9] == "W" else django_checks.Error
        assert level is expected, check_id


#: The setting each message is about.
SETTING_OF = {
    "oauth_cc.E001": "ISSUER", "oauth_cc.E002": "ISSUER", "oauth_cc.E003": "ISSUER",
    "oauth_cc.E004": "DEFAULT_AUDIENCE", "oauth_cc.E005": "ACCESS_TOKEN_LIFETIME",
    "oauth_cc.E006": "SIGNING_ALGORITHM", "oauth_cc.E007": "KEY_ENCRYPTION_KEYS",
    "oauth_cc.E008": "OAUTH_CC", "oauth_cc.E009": "OAUTH_CC",
    "oauth_cc.W001": "MAX_ACCESS_TOKEN_LIFETIME", "oauth_cc.W002": "REVOCATION_CACHE",
    "oauth_cc.E010": "ACCESS_TOKEN_FORMAT", "oauth_cc.E011": "REVOCATION_CACHE",
    "oauth_cc.W003": "JWKS_URI", "oauth_cc.W004": "SIGNING_ALGORITHM",
    "oauth_cc.W005": "THROTTLE_FAILURES_PER_CLIENT", "oauth_cc.W006": "THROTTLE_CACHE",
    "oauth_cc.E012": "INTROSPECTION_ENDPOINT", "oauth_cc.E013": "TRUSTED_PROXIES",
    "oauth_cc.E014": "THROTTLE_CACHE", "oauth_cc.E015": "REPLAY_CACHE",
    "oauth_cc.E016": "PRIVATE_KEY_JWT_ALGORITHMS", "oauth_cc.E017": "MTLS_ENDPOINT_ALIASES",
    "oauth_cc.W007": "CLIENT_CERTIFICATE_HEADER", "oauth_cc.W008": "REPLAY_CACHE",
}


def test_every_check_message_names_its_setting_and_has_a_hint():
    assert set(SETTING_OF) == set(checks.MESSAGES)
    for check_id, (_level, msg, hint) in checks.MESSAGES.items():
        assert hint.strip(), check_id
        assert "OAUTH_CC" in msg and SETTING_OF[check_id] in msg, check_id


def test_every_check_hint_names_its_setting():
    missing = [check_id for check_id, (_level, _msg, hint) in checks.MESSAGES.items()
               if SETTING_OF[check_id] not in hint]
    assert missing == []


# --- strong client authentication and sender-constrained tokens -------------------------------

def _ids(found: list[Any]) -> list[str]:
    return sorted(m.id for m in found)


@pytest.mark.parametrize("name, value", [
    ("PRIVATE_KEY_JWT_ALGORITHMS", ["RS256", "HS256"]),   # a MAC where a signature is needed
    ("PRIVATE_KEY_JWT_ALGORITHMS", ["none"]),
    ("PRIVATE_KEY_JWT_ALGORITHMS", []),
    ("DPOP_SIGNING_ALGORITHMS", ["ES256", "HS512"]),
    ("DPOP_SIGNING_ALGORITHMS", "ES256"),                 # a string, not a list
    ("CLIENT_SECRET_JWT_ALGORITHMS", ["HS256", "RS256"]),  # a signature where a MAC is needed
])
def test_algorithm_lists_are_checked_JWTCA_08_DPOP_02(settings, name, value):
    configure(settings, **{name: value})
    assert "oauth_cc.E016" in _ids(checks.check_settings())


def test_default_algorithm_lists_pass(settings):
    configure(settings)
    found = _ids(checks.check_settings())
    assert not {"oauth_cc.E015", "oauth_cc.E016", "oauth_cc.E017", "oauth_cc.W007"} & set(found)


def test_replay_cache_must_exist_JWTCA_07(settings):
    configure(settings, REPLAY_CACHE="nowhere")
    assert "oauth_cc.E015" in _ids(checks.check_settings())


@pytest.mark.parametrize("aliases", [
    {"token_endpoint": "http://mtls.example.test/oauth/token"},
    {"authorization_endpoint": "https://mtls.example.test/authorize"},
    {"token_endpoint": 3},
    ["https://mtls.example.test/oauth/token"],
])
def test_mtls_endpoint_aliases_are_checked_MTLS_07(settings, aliases):
    configure(settings, MTLS_ENDPOINT_ALIASES=aliases)
    assert "oauth_cc.E017" in _ids(checks.check_settings())


def test_certificate_header_without_a_trusted_proxy_warns_MTLS_08(settings):
    configure(settings, CLIENT_CERTIFICATE_HEADER="X-SSL-Client-Cert")
    assert "oauth_cc.W007" in _ids(checks.check_settings())
    configure(settings, CLIENT_CERTIFICATE_HEADER="X-SSL-Client-Cert",
                 TRUSTED_PROXIES=["127.0.0.1"])
    assert "oauth_cc.W007" not in _ids(checks.check_settings())


def test_per_process_replay_cache_warns_on_deploy_DPOP_08(settings):
    configure(settings)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "oauth_cc.W008" in _ids(checks.check_deployment())
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                       "shared": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                                  "LOCATION": "oauth_cc_cache"}}
    configure(settings, REPLAY_CACHE="shared")
    assert "oauth_cc.W008" not in _ids(checks.check_deployment())
