"""The ``OAUTH_CC`` settings object.

All configuration lives in one dict, ``settings.OAUTH_CC``. It is read lazily through
``oauth_cc_settings``: a value is looked up on first access, cached on the object, and dropped
when Django's ``setting_changed`` signal fires for ``OAUTH_CC`` (``override_settings`` and the
pytest-django ``settings`` fixture therefore just work). Nothing copies a value at import time.

Values that are expensive to build from a setting (a ``MultiFernet``, say) are cached with
``oauth_cc_settings.derived(name, factory)`` and dropped at the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from . import caches

SETTING_NAME = "OAUTH_CC"

#: Every setting with its default. ``docs/settings.md`` explains each one.
DEFAULTS: dict[str, Any] = {
    # The issuer identifier (RFC 8414 §2): an absolute https URL without query or fragment.
    # ``http`` is accepted only while DEBUG is on. Required.
    "ISSUER": None,
    # ``aud`` of a token when the request names no ``resource`` (RFC 9068 §3). Required.
    "DEFAULT_AUDIENCE": None,
    # Access-token lifetime in seconds, and the bound no client setting may exceed.
    "ACCESS_TOKEN_LIFETIME": 600,
    "MAX_ACCESS_TOKEN_LIFETIME": 3600,
    # JWS algorithm of newly created signing keys: RS256, PS256, ES256 or EdDSA.
    "SIGNING_ALGORITHM": "RS256",
    # Modulus size of new RSA keys (RS256, PS256).
    "RSA_KEY_SIZE": 2048,
    # Fernet keys (urlsafe base64, 32 bytes) that encrypt private signing keys at rest.
    # The first one encrypts; every one decrypts, so a new key can be put in front and the
    # old ones dropped after ``rotatekeys --reencrypt``. Required.
    "KEY_ENCRYPTION_KEYS": [],
    # How long (seconds) a process may keep using its cached signing key after a rotation.
    # A retired key stays published for this long plus MAX_ACCESS_TOKEN_LIFETIME.
    "KEY_CACHE_SECONDS": 60,
    # Cache-Control max-age of the JWKS document.
    "JWKS_MAX_AGE": 300,
    # Prefix of generated client secrets; helps secret scanners recognise a leaked one.
    "CLIENT_SECRET_PREFIX": "occs_",
    # Largest token-request body accepted, in bytes.
    "MAX_REQUEST_BODY": 16384,
    # realm of the Basic challenge at the token endpoint.
    "REALM": "oauth_cc",
    # Dotted path of a callable ``(client, claims) -> dict`` whose result is merged into the
    # claims of each access token; it may not change registered claims.
    "EXTRA_CLAIMS": None,
    # Format of issued access tokens unless a client says otherwise: "jwt" or "opaque".
    "ACCESS_TOKEN_FORMAT": "jwt",
    # Prefix of opaque access tokens (recognisable by secret scanners and by our validator).
    "OPAQUE_TOKEN_PREFIX": "occat_",
    # Metadata (RFC 8414): Cache-Control max-age, and whether scopes_supported is published.
    "METADATA_MAX_AGE": 3600,
    "PUBLISH_SCOPES": True,
    # Addresses or networks of the TLS-terminating proxies in front of this server. Only a
    # request from one of them has its X-Forwarded-For and X-Forwarded-Proto believed.
    "TRUSTED_PROXIES": [],
    # --- throttling of failed client authentication (CAUTH-06) ---
    # Failed client authentications allowed per window, per client address and per
    # (client_id, client address); 0 turns a limit off. Over a limit: 429 with Retry-After.
    "THROTTLE_FAILURES_PER_ADDRESS": 100,
    "THROTTLE_FAILURES_PER_CLIENT": 10,
    "THROTTLE_WINDOW_SECONDS": 60,
    # The Django cache holding the counters; share it between processes and instances.
    "THROTTLE_CACHE": "default",
    # --- revocation (RFC 7009) ---
    # Local-mode resource servers refuse revoked tokens. The check costs one read of the
    # Django cache named REVOCATION_CACHE per request; a token is looked up in the database
    # when first seen, after any revocation, and at least every REVOCATION_RECHECK_SECONDS
    # (which bounds the delay in processes that do not share that cache).
    "CHECK_REVOCATION": True,
    "REVOCATION_CACHE": "default",
    "REVOCATION_RECHECK_SECONDS": 60,
    # With a per-process REVOCATION_CACHE (Django's default LocMemCache), processes on one
    # machine learn of a revocation through this file's identity (one stat() per request).
    # None: a file in the system's temporary folder named after the database.
    "REVOCATION_VERSION_FILE": None,
    # --- resource server (protecting APIs) ---
    # This API's identifier, which a token's ``aud`` must contain. None: DEFAULT_AUDIENCE.
    "RESOURCE_AUDIENCE": None,
    # The issuer whose tokens are accepted (compared exactly). None: ISSUER.
    "TRUSTED_ISSUER": None,
    # Remote mode: the authorization server's JWKS URL. None: local mode, where keys are read
    # from this project's database (the authorization server runs in the same project).
    "JWKS_URI": None,
    # JWS algorithms a token may use. Never ``none`` or an HMAC algorithm.
    "ACCEPTED_ALGORITHMS": ["RS256", "PS256", "ES256", "EdDSA"],
    # Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    "CLOCK_LEEWAY": 30,
    # realm of the Bearer challenge.
    "BEARER_REALM": "api",
    # Longest access token accepted, in characters.
    "MAX_ACCESS_TOKEN_LENGTH": 8192,
    # Accept ``access_token`` in a form-encoded body (RFC 6750 §2.2). Off: header only.
    "ACCEPT_FORM_BODY_TOKEN": False,
    # Remote mode: how long a fetched JWKS is used, the least time between two fetches
    # (also when an unknown kid arrives), and the fetch timeout, in seconds.
    "REMOTE_JWKS_CACHE_SECONDS": 300,
    "REMOTE_JWKS_MIN_REFRESH_SECONDS": 30,
    "REMOTE_JWKS_TIMEOUT": 5,
    # Remote introspection mode (RFC 7662): the authorization server's introspection
    # endpoint and this resource server's own client credentials there (a client allowed to
    # introspect). Each token is then checked there too: opaque tokens are accepted and
    # revoked ones refused. Answers are remembered for INTROSPECTION_CACHE_SECONDS (at most
    # 300), never past the token's exp.
    "INTROSPECTION_ENDPOINT": None,
    "INTROSPECTION_CLIENT_ID": None,
    "INTROSPECTION_CLIENT_SECRET": None,
    "INTROSPECTION_CACHE_SECONDS": 30,
    "INTROSPECTION_TIMEOUT": 5,
    # Verified tokens remembered (by SHA-256 of the token) so that a token presented again
    # skips the signature check; never past its ``exp``. 0 turns the cache off.
    "VERIFIED_TOKEN_CACHE_SIZE": 4096,
    # --- strong client authentication and sender-constrained tokens ---
    # The Django cache that remembers used client-assertion and DPoP-proof jti values until
    # they expire (JWTCA-07, DPOP-08). Share it between processes and instances, or a
    # replay to another process is not noticed.
    "REPLAY_CACHE": "default",
    # private_key_jwt / client_secret_jwt (RFC 7523): accepted algorithms, the longest
    # lifetime (exp - now, and exp - iat) an assertion may have, and whether the token
    # endpoint URL is accepted as aud besides the issuer (X-06; off: issuer only).
    "PRIVATE_KEY_JWT_ALGORITHMS": ["RS256", "PS256", "ES256", "EdDSA"],
    "CLIENT_SECRET_JWT_ALGORITHMS": ["HS256", "HS384", "HS512"],
    "CLIENT_ASSERTION_MAX_LIFETIME": 300,
    "CLIENT_ASSERTION_ACCEPT_TOKEN_ENDPOINT_AUDIENCE": False,
    # A client's jwks_uri: how long its key set is used, the least time between two fetches
    # (also on an unknown kid), and the fetch timeout, in seconds.
    "CLIENT_JWKS_CACHE_SECONDS": 300,
    "CLIENT_JWKS_MIN_REFRESH_SECONDS": 30,
    "CLIENT_JWKS_TIMEOUT": 5,
    # mTLS (RFC 8705) behind a TLS-terminating proxy in TRUSTED_PROXIES: the request header
    # in which the proxy passes the client certificate (URL-encoded PEM, as nginx's
    # $ssl_client_escaped_cert), and the header with its verification result (nginx's
    # $ssl_client_verify; tls_client_auth needs "SUCCESS"). None: mTLS is off.
    "CLIENT_CERTIFICATE_HEADER": None,
    "CLIENT_CERTIFICATE_VERIFY_HEADER": None,
    # mtls_endpoint_aliases for the metadata: endpoint name -> URL served with client
    # certificates, e.g. {"token_endpoint": "https://mtls.example.com/oauth/token"}.
    "MTLS_ENDPOINT_ALIASES": {},
    # DPoP (RFC 9449): accepted proof algorithms, how old (seconds after iat) a proof may
    # be, and whether the token endpoint requires a server nonce (use_dpop_nonce).
    "DPOP_SIGNING_ALGORITHMS": ["ES256", "RS256", "PS256", "EdDSA"],
    "DPOP_PROOF_MAX_AGE": 60,
    "DPOP_REQUIRE_NONCE": False,
    "DPOP_NONCE_LIFETIME": 300,
}

#: Settings that hold dotted import paths, resolved on first access.
IMPORT_STRINGS: frozenset[str] = frozenset({"EXTRA_CLAIMS"})

T = TypeVar("T")


class OAuthCCSettings:
    """Lazy view of ``settings.OAUTH_CC`` with defaults.

    ``oauth_cc_settings.ISSUER`` returns the user's value or the default. An unknown name is
    an ``AttributeError`` so that typos fail loudly.
    """

    def __init__(self, defaults: dict[str, Any], import_strings: frozenset[str]) -> None:
        self._defaults = defaults
        self._import_strings = import_strings
        self._cached: set[str] = set()
        self._derived: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(django_settings, SETTING_NAME, None)
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in self._defaults:
            raise AttributeError(f"{SETTING_NAME} has no setting named {name!r}")
        value = self.user_settings.get(name, self._defaults[name])
        if name in self._import_strings and isinstance(value, str):
            value = import_string(value)
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def derived(self, name: str, factory: Callable[[], T]) -> T:
        """Return a value built from settings, building it once until the next reload."""
        try:
            return cast(T, self._derived[name])
        except KeyError:
            value = self._derived[name] = factory()
            return value

    def reload(self) -> None:
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()
        self._derived.clear()


oauth_cc_settings = OAuthCCSettings(DEFAULTS, IMPORT_STRINGS)


def reload_settings(*, setting: str, **kwargs: Any) -> None:
    """Drop cached values, and every in-process cache built from them (``caches``)."""
    if setting == SETTING_NAME:
        oauth_cc_settings.reload()
        caches.clear()


setting_changed.connect(reload_settings)
