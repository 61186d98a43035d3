"""System checks for ``settings.OAUTH_CC``. Every check ID is listed in ``MESSAGES``, once.

Each message names the exact setting to change. ``check_settings`` runs with every command;
``check_deployment`` (W002 to W006, W008) only with ``manage.py check --deploy``, since what it
reports is a production matter (a per-process cache is right for a laptop).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from . import caches
from .jose import SIGNING_ALGORITHMS
from .models import is_absolute_uri
from .server.throttling import enabled as throttling_enabled
from .settings import DEFAULTS, SETTING_NAME, oauth_cc_settings

#: ID -> (level, message, hint). The single list of oauth_cc check IDs.
MESSAGES: dict[str, tuple[type[Error] | type[Warning], str, str]] = {
    "oauth_cc.E001": (Error, "OAUTH_CC['ISSUER'] is not set.",
                      "Set OAUTH_CC['ISSUER'] to this server's https URL, e.g. "
                      "'https://auth.example.com'."),
    "oauth_cc.E002": (Error, "OAUTH_CC['ISSUER'] must be an absolute URL without query or "
                      "fragment (RFC 8414 §2).",
                      "Set OAUTH_CC['ISSUER'] to a value like 'https://auth.example.com' or "
                      "'https://example.com/tenant'."),
    "oauth_cc.E003": (Error, "OAUTH_CC['ISSUER'] uses http while DEBUG is off.",
                      "Set OAUTH_CC['ISSUER'] to an https URL; http is allowed only for local "
                      "development with DEBUG = True."),
    "oauth_cc.E004": (Error, "OAUTH_CC['DEFAULT_AUDIENCE'] must be an absolute URI without "
                      "fragment.",
                      "Set OAUTH_CC['DEFAULT_AUDIENCE'] to the identifier of your API, e.g. "
                      "'https://api.example.com'."),
    "oauth_cc.E005": (Error, "OAUTH_CC['ACCESS_TOKEN_LIFETIME'] and "
                      "OAUTH_CC['MAX_ACCESS_TOKEN_LIFETIME'] must be positive whole seconds, "
                      "the first no larger than the second, and the second at most 86400.",
                      "Set OAUTH_CC['ACCESS_TOKEN_LIFETIME'] and "
                      "OAUTH_CC['MAX_ACCESS_TOKEN_LIFETIME'] to whole seconds; the defaults are "
                      "600 and 3600 (RFC 6750 §5.3 recommends at most an hour)."),
    "oauth_cc.E006": (Error, "OAUTH_CC['SIGNING_ALGORITHM'] is not supported.",
                      "Set OAUTH_CC['SIGNING_ALGORITHM'] to 'RS256', 'PS256', 'ES256' or "
                      "'EdDSA'."),
    "oauth_cc.E007": (Error, "OAUTH_CC['KEY_ENCRYPTION_KEYS'] must be a non-empty list of "
                      "Fernet keys.",
                      "Set OAUTH_CC['KEY_ENCRYPTION_KEYS'] to a list of keys made with: python -c "
                      "\"from cryptography.fernet import Fernet; "
                      "print(Fernet.generate_key().decode())\" and keep them out of the "
                      "repository (an environment variable)."),
    "oauth_cc.E008": (Error, "OAUTH_CC has a key oauth_cc does not know.",
                      "Remove that key from OAUTH_CC or fix its spelling; docs/settings.md lists "
                      "every setting."),
    "oauth_cc.E009": (Error, "OAUTH_CC must be a dict.", "Set OAUTH_CC = {...}."),
    "oauth_cc.W002": (Warning, "OAUTH_CC['REVOCATION_CACHE'] names a per-process cache: "
                      "processes on this machine learn of a revocation at once (through a "
                      "file), but processes on other machines only within "
                      "OAUTH_CC['REVOCATION_RECHECK_SECONDS'].",
                      "With more than one machine, point OAUTH_CC['REVOCATION_CACHE'] at a "
                      "cache they all share (Redis: django.core.cache.backends.redis."
                      "RedisCache)."),
    "oauth_cc.W003": (Warning, "OAUTH_CC['JWKS_URI'] or OAUTH_CC['INTROSPECTION_ENDPOINT'] is "
                      "a plain-http URL to a host that is not loopback: it is refused at "
                      "request time unless DEBUG is on.",
                      "Set OAUTH_CC['JWKS_URI'] and OAUTH_CC['INTROSPECTION_ENDPOINT'] to "
                      "https URLs."),
    "oauth_cc.W004": (Warning, "No signing key is active: the token endpoint answers 503 until "
                      "one is (keys use OAUTH_CC['SIGNING_ALGORITHM']).",
                      "Run 'manage.py rotatekeys': it creates and activates a key of "
                      "OAUTH_CC['SIGNING_ALGORITHM']."),
    "oauth_cc.W005": (Warning, "Throttling of failed client authentication is off: "
                      "OAUTH_CC['THROTTLE_FAILURES_PER_CLIENT'] and "
                      "THROTTLE_FAILURES_PER_ADDRESS are 0 (RFC 6749 §2.3.1).",
                      "Set OAUTH_CC['THROTTLE_FAILURES_PER_CLIENT'] (default 10) and "
                      "THROTTLE_FAILURES_PER_ADDRESS (default 100)."),
    "oauth_cc.W006": (Warning, "OAUTH_CC['THROTTLE_CACHE'] names a per-process cache, so "
                      "each process counts failures on its own.",
                      "Point OAUTH_CC['THROTTLE_CACHE'] at a cache all processes share "
                      "(Redis)."),
    "oauth_cc.E012": (Error, "OAUTH_CC['INTROSPECTION_ENDPOINT'] is set without "
                      "INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET.",
                      "Register a client allowed to introspect and set its credentials in "
                      "OAUTH_CC['INTROSPECTION_CLIENT_ID'] and "
                      "OAUTH_CC['INTROSPECTION_CLIENT_SECRET'], or unset "
                      "OAUTH_CC['INTROSPECTION_ENDPOINT']."),
    "oauth_cc.E013": (Error, "OAUTH_CC['TRUSTED_PROXIES'] must be a list of IP addresses or "
                      "networks.",
                      "Set OAUTH_CC['TRUSTED_PROXIES'] to e.g. ['127.0.0.1', '10.0.0.0/8']: "
                      "the addresses your TLS-terminating proxy connects from ('unix' for a "
                      "proxy on a unix socket)."),
    "oauth_cc.E014": (Error, "OAUTH_CC['THROTTLE_CACHE'] is not a cache in CACHES.",
                      "Set OAUTH_CC['THROTTLE_CACHE'] to an alias of settings.CACHES "
                      "(default 'default')."),
    "oauth_cc.E010": (Error, "OAUTH_CC['ACCESS_TOKEN_FORMAT'] must be 'jwt' or 'opaque'.",
                      "Set OAUTH_CC['ACCESS_TOKEN_FORMAT'] to 'jwt' (the default) or 'opaque'."),
    "oauth_cc.E011": (Error, "OAUTH_CC['REVOCATION_CACHE'] is not a cache in CACHES.",
                      "Set OAUTH_CC['REVOCATION_CACHE'] to an alias of settings.CACHES "
                      "(default 'default')."),
    "oauth_cc.E015": (Error, "OAUTH_CC['REPLAY_CACHE'] is not a cache in CACHES.",
                      "Set OAUTH_CC['REPLAY_CACHE'] to an alias of settings.CACHES (default "
                      "'default')."),
    "oauth_cc.E016": (Error, "An algorithm list of OAUTH_CC holds a value that is not allowed "
                      "there: PRIVATE_KEY_JWT_ALGORITHMS and DPOP_SIGNING_ALGORITHMS take "
                      "asymmetric JWS algorithms only, CLIENT_SECRET_JWT_ALGORITHMS HMAC "
                      "ones only, never 'none'.",
                      "Set OAUTH_CC['PRIVATE_KEY_JWT_ALGORITHMS'] and DPOP_SIGNING_ALGORITHMS "
                      "to non-empty lists of RS256, RS384, RS512, PS256, PS384, PS512, ES256, "
                      "ES384, ES512 or EdDSA, and CLIENT_SECRET_JWT_ALGORITHMS to HS256, "
                      "HS384 or HS512."),
    "oauth_cc.E017": (Error, "OAUTH_CC['MTLS_ENDPOINT_ALIASES'] must map token_endpoint, "
                      "introspection_endpoint or revocation_endpoint to https URLs.",
                      "Set OAUTH_CC['MTLS_ENDPOINT_ALIASES'] to e.g. {'token_endpoint': "
                      "'https://mtls.example.com/oauth/token'} (RFC 8705 §5), or leave it "
                      "empty."),
    "oauth_cc.W007": (Warning, "OAUTH_CC['CLIENT_CERTIFICATE_HEADER'] is set but "
                      "TRUSTED_PROXIES is empty: client certificates are believed only from "
                      "a trusted proxy, so none is ever read and mTLS cannot work.",
                      "List your TLS-terminating proxy's address in "
                      "OAUTH_CC['TRUSTED_PROXIES'] (and have it overwrite the certificate "
                      "headers), or unset CLIENT_CERTIFICATE_HEADER."),
    "oauth_cc.W008": (Warning, "OAUTH_CC['REPLAY_CACHE'] names a per-process cache: a client "
                      "assertion or DPoP proof replayed to another process is accepted there.",
                      "Point OAUTH_CC['REPLAY_CACHE'] at a cache all processes share (Redis, "
                      "or Django's database cache)."),
    "oauth_cc.W001": (Warning, "OAUTH_CC['MAX_ACCESS_TOKEN_LIFETIME'] is over one hour.",
                      "Lower OAUTH_CC['MAX_ACCESS_TOKEN_LIFETIME'] to 3600 or less: RFC 6750 "
                      "§5.3 recommends access tokens that live an hour at most."),
}


def _message(check_id: str, detail: str = "") -> CheckMessage:
    level, msg, hint = MESSAGES[check_id]
    return level(msg + (f" {detail}" if detail else ""), hint=hint, id=check_id)


def _is_whole_seconds(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@register(Tags.security)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, SETTING_NAME, {})
    if not isinstance(raw, dict):
        return [_message("oauth_cc.E009")]
    found = []
    for name in sorted(set(raw) - set(DEFAULTS)):
        found.append(_message("oauth_cc.E008", f"Unknown key: {name!r}."))
    issuer = oauth_cc_settings.ISSUER
    if not issuer:
        found.append(_message("oauth_cc.E001"))
    else:
        parts = urlsplit(str(issuer))
        if (parts.scheme not in ("https", "http") or not parts.netloc or parts.query
                or parts.fragment or "?" in issuer or "#" in issuer):
            found.append(_message("oauth_cc.E002"))
        elif parts.scheme == "http" and not settings.DEBUG:
            found.append(_message("oauth_cc.E003"))
    audience = oauth_cc_settings.DEFAULT_AUDIENCE
    if not isinstance(audience, str) or not is_absolute_uri(audience):
        found.append(_message("oauth_cc.E004"))
    lifetime = oauth_cc_settings.ACCESS_TOKEN_LIFETIME
    maximum = oauth_cc_settings.MAX_ACCESS_TOKEN_LIFETIME
    if not (_is_whole_seconds(lifetime) and _is_whole_seconds(maximum)
            and lifetime <= maximum <= 86400):
        found.append(_message("oauth_cc.E005"))
    elif maximum > 3600:
        found.append(_message("oauth_cc.W001"))
    if oauth_cc_settings.SIGNING_ALGORITHM not in SIGNING_ALGORITHMS:
        found.append(_message("oauth_cc.E006"))
    if oauth_cc_settings.ACCESS_TOKEN_FORMAT not in ("jwt", "opaque"):
        found.append(_message("oauth_cc.E010"))
    found.extend(_check_caches())
    found.extend(_check_remote())
    found.extend(_check_strong_authentication())
    keys = oauth_cc_settings.KEY_ENCRYPTION_KEYS
    try:
        if not isinstance(keys, list | tuple) or not keys:
            raise ValueError
        for key in keys:
            Fernet(key)
    except (ValueError, TypeError):
        found.append(_message("oauth_cc.E007"))
    return found


def _check_caches() -> list[CheckMessage]:
    configured = getattr(settings, "CACHES", None) or {"default": {}}
    found = []
    if oauth_cc_settings.REVOCATION_CACHE not in configured:
        found.append(_message("oauth_cc.E011"))
    if oauth_cc_settings.THROTTLE_CACHE not in configured:
        found.append(_message("oauth_cc.E014"))
    return found


#: JWS algorithms that sign with a key pair, and the MACs of client_secret_jwt (RFC 7518).
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA"})
MAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ALIASABLE_ENDPOINTS = ("token_endpoint", "introspection_endpoint", "revocation_endpoint")


def _algorithms_within(value: Any, allowed: frozenset[str]) -> bool:
    return (isinstance(value, list | tuple) and bool(value)
            and all(isinstance(name, str) and name in allowed for name in value))


def _check_strong_authentication() -> list[CheckMessage]:
    found = []
    configured = getattr(settings, "CACHES", None) or {"default": {}}
    if oauth_cc_settings.REPLAY_CACHE not in configured:
        found.append(_message("oauth_cc.E015"))
    if not (_algorithms_within(oauth_cc_settings.PRIVATE_KEY_JWT_ALGORITHMS,
                               ASYMMETRIC_ALGORITHMS)
            and _algorithms_within(oauth_cc_settings.DPOP_SIGNING_ALGORITHMS,
                                   ASYMMETRIC_ALGORITHMS)
            and _algorithms_within(oauth_cc_settings.CLIENT_SECRET_JWT_ALGORITHMS,
                                   MAC_ALGORITHMS)):
        found.append(_message("oauth_cc.E016"))
    aliases = oauth_cc_settings.MTLS_ENDPOINT_ALIASES
    if not isinstance(aliases, dict) or any(
            name not in ALIASABLE_ENDPOINTS or not isinstance(url, str)
            or urlsplit(url).scheme != "https" or not urlsplit(url).netloc
            for name, url in aliases.items()):
        found.append(_message("oauth_cc.E017"))
    if oauth_cc_settings.CLIENT_CERTIFICATE_HEADER and not oauth_cc_settings.TRUSTED_PROXIES:
        found.append(_message("oauth_cc.W007"))
    return found


def _check_remote() -> list[CheckMessage]:
    found = []
    if oauth_cc_settings.INTROSPECTION_ENDPOINT and not (
            oauth_cc_settings.INTROSPECTION_CLIENT_ID
            and oauth_cc_settings.INTROSPECTION_CLIENT_SECRET):
        found.append(_message("oauth_cc.E012"))
    proxies = oauth_cc_settings.TRUSTED_PROXIES
    try:
        if not isinstance(proxies, list | tuple):
            raise ValueError
        for entry in proxies:
            if entry != "unix":
                ipaddress.ip_network(str(entry), strict=False)
    except ValueError:
        found.append(_message("oauth_cc.E013"))
    return found


def _plain_http_outside_loopback(uri: Any) -> bool:
    if not uri:
        return False
    parts = urlsplit(str(uri))
    if parts.scheme != "http" or parts.hostname in (None, "localhost"):
        return False
    try:
        return not ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return True


def _has_active_key() -> bool | None:
    """Whether a signing key is active; None when the database cannot tell (not migrated,
    not reachable, not allowed here)."""
    from .models import SigningKey

    try:
        return SigningKey.objects.filter(state=SigningKey.State.ACTIVE).exists()
    except Exception:
        return None


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """What a production deployment should not have (``manage.py check --deploy``)."""
    raw = getattr(settings, SETTING_NAME, {})
    if not isinstance(raw, dict):
        return []
    found = []
    if (oauth_cc_settings.CHECK_REVOCATION
            and caches.per_process(oauth_cc_settings.REVOCATION_CACHE)):
        found.append(_message("oauth_cc.W002"))
    if any(_plain_http_outside_loopback(uri) for uri in (
            oauth_cc_settings.JWKS_URI, oauth_cc_settings.INTROSPECTION_ENDPOINT)):
        found.append(_message("oauth_cc.W003"))
    if not oauth_cc_settings.JWKS_URI and _has_active_key() is False:
        found.append(_message("oauth_cc.W004"))
    if caches.per_process(oauth_cc_settings.REPLAY_CACHE):
        found.append(_message("oauth_cc.W008"))
    if not throttling_enabled():
        found.append(_message("oauth_cc.W005"))
    elif caches.per_process(oauth_cc_settings.THROTTLE_CACHE):
        found.append(_message("oauth_cc.W006"))
    return found
