"""Mutual-TLS client authentication and certificate-bound access tokens (RFC 8705).

TLS ends at a proxy in ``TRUSTED_PROXIES``, which passes the client certificate and its own
verdict on the chain in two headers (``oauth_cc.network.client_certificate``). Two methods
use the certificate in place of a secret (RFC 8705 §2), both with ``client_id`` in the body:

- ``tls_client_auth`` (§2.1): the proxy validated the chain against its trust anchors (its
  verify header says ``SUCCESS``) and the certificate carries the one subject the client
  registered: its subject DN, or a DNS, URI, IP address or email SAN (MTLS-02);
- ``self_signed_tls_client_auth`` (§2.2): no chain; the certificate is one the client
  registered as the first (leaf) ``x5c`` certificate of a key in its ``jwks`` or at its
  ``jwks_uri`` (``client_keys.certificates``, MTLS-03).

A request with ``client_id``, a certificate and no other credentials is one of the two: the
one the client is registered for (one query, shared with authentication); an unknown client
is given to ``tls_client_auth``, so it fails like a wrong certificate. Without a certificate
no method detects itself and the request gets the usual "client authentication required"
(MTLS-01).

A client with ``tls_client_certificate_bound_access_tokens`` gets tokens whose ``cnf``
holds the certificate's ``x5t#S256`` whatever its authentication method
(``certificate_confirmation``, MTLS-04); without a certificate its token request is refused
with 400 ``invalid_request`` (MTLS-06 DEC).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import unicodedata
from abc import abstractmethod
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .. import jose, network
from ..errors import InvalidRequest
from ..models import Client
from ..registry import client_auth_methods
from ..settings import oauth_cc_settings
from . import client_keys
from .client_auth import ClientAuthMethod, report, searchable
from .http import FormParameters

logger = logging.getLogger("oauth_cc.client_auth")

TLS_CLIENT_AUTH = "tls_client_auth"
SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"

#: The registered subject fields of tls_client_auth (RFC 8705 §2.1.2); exactly one is set.
SUBJECT_FIELDS = ("tls_client_auth_subject_dn", "tls_client_auth_san_dns",
                  "tls_client_auth_san_uri", "tls_client_auth_san_ip",
                  "tls_client_auth_san_email")

#: Endpoints that may have an mTLS alias (RFC 8705 §5); other names are not published.
ALIASABLE_ENDPOINTS = ("token_endpoint", "introspection_endpoint", "revocation_endpoint")

#: Attribute names in a registered DN besides those ``cryptography`` knows (CN, O, OU, ...).
_DN_NAMES = {"E": NameOID.EMAIL_ADDRESS, "EMAIL": NameOID.EMAIL_ADDRESS,
             "EMAILADDRESS": NameOID.EMAIL_ADDRESS, "SERIALNUMBER": NameOID.SERIAL_NUMBER}

_CANDIDATE = "_oauth_cc_mtls_candidate"


# --- which client a certificate request is for -------------------------------------------------

def _presented(request: HttpRequest, params: FormParameters) -> bool:
    """``client_id``, a client certificate, and no other credentials (RFC 8705 §2)."""
    return ("client_id" in params and "client_secret" not in params
            and "client_assertion" not in params and "client_assertion_type" not in params
            and "HTTP_AUTHORIZATION" not in request.META
            and network.client_certificate(request) is not None)


def _candidate(request: HttpRequest, client_id: str) -> Client | None:
    """The active client ``client_id``, read once per request (detection and
    authentication share it)."""
    memo = getattr(request, _CANDIDATE, None)
    if memo is not None and memo[0] == client_id:
        return memo[1]  # type: ignore[no-any-return]
    found = searchable(client_id)
    client = Client.objects.filter(client_id=found, is_active=True).first() if found else None
    setattr(request, _CANDIDATE, (client_id, client))
    return client


# --- what a certificate is matched against -----------------------------------------------------

def _normalised(value: Any) -> Any:
    """An attribute value for DN matching (RFC 4517 §4.2.15 with caseIgnoreMatch, RFC 4518
    string preparation in outline): NFKC, case folded, inner spaces collapsed, outer ones
    dropped. Non-string values (a ``#hex`` BER value) compare as they are."""
    if not isinstance(value, str):
        return value
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _dn_key(name: x509.Name) -> list[frozenset[tuple[str, Any]]]:
    """A DN as its RDNs in order, each the set of its (attribute type, value) pairs."""
    return [frozenset((attribute.oid.dotted_string, _normalised(attribute.value))
                      for attribute in rdn) for rdn in name.rdns]


def _split_unescaped(text: str, separators: str) -> tuple[list[str], list[str]]:
    """``text`` cut at the separators that no backslash escapes: (pieces, separators)."""
    pieces: list[str] = []
    found: list[str] = []
    current: list[str] = []
    escaped = False
    for character in text:
        if not escaped and character in separators:
            pieces.append("".join(current))
            found.append(character)
            current = []
        else:
            current.append(character)
        escaped = not escaped and character == "\\"
    pieces.append("".join(current))
    return pieces, found


def _strip_unescaped(piece: str) -> str:
    stripped = piece.strip()
    trailing_backslashes = len(stripped) - len(stripped.rstrip("\\"))
    return stripped + " " if trailing_backslashes % 2 else stripped


def parse_subject_dn(dn: str) -> x509.Name:
    """A registered RFC 4514 DN (``CN=billing,O=Example``). Raises ``ValueError``.

    Attribute names are case-insensitive (RFC 4514 §3) and spaces around the separators,
    as OpenSSL and Java print them (``CN=billing, O=Example``), are allowed."""
    pieces, separators = _split_unescaped(dn, ",+")
    canonical = []
    for piece in pieces:
        attribute, equals, value = _strip_unescaped(piece).partition("=")
        if not equals:
            raise ValueError("an attribute without a value")
        canonical.append(f"{attribute.strip().upper()}={value.lstrip()}")
    text = "".join(piece + separator for piece, separator in zip(
        canonical, [*separators, ""], strict=True))
    return x509.Name.from_rfc4514_string(text, _DN_NAMES)


def subject_dn_matches(certificate: x509.Certificate, dn: str) -> bool:
    """Whether the certificate's subject is the registered DN (RFC 8705 §2.1.2)."""
    try:
        registered = parse_subject_dn(dn)
        return _dn_key(certificate.subject) == _dn_key(registered)
    except ValueError:
        return False


def _san_values(certificate: x509.Certificate, kind: type[Any]) -> list[Any]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return []
    return list(san.value.get_values_for_type(kind))


def subject_matches(certificate: x509.Certificate, field: str, registered: str) -> bool:
    """Whether the certificate carries the registered subject of ``field`` (MTLS-02):
    the DN by DN matching, a DNS name ignoring case, a URI and an email address exactly, an
    IP address in binary."""
    registered = registered.strip()
    if field == "tls_client_auth_subject_dn":
        return subject_dn_matches(certificate, registered)
    if field == "tls_client_auth_san_dns":
        wanted = registered.lower()
        return any(name.lower() == wanted for name in _san_values(certificate, x509.DNSName))
    if field == "tls_client_auth_san_uri":
        return registered in _san_values(certificate, x509.UniformResourceIdentifier)
    if field == "tls_client_auth_san_email":
        return registered in _san_values(certificate, x509.RFC822Name)
    if field == "tls_client_auth_san_ip":
        try:
            packed = ipaddress.ip_address(registered).packed
        except ValueError:
            return False
        return any(address.packed == packed
                   for address in _san_values(certificate, x509.IPAddress))
    return False


def registered_subjects(client: Client) -> list[str]:
    """The subject fields ``client`` has set (tls_client_auth needs exactly one)."""
    return [field for field in SUBJECT_FIELDS if str(getattr(client, field) or "").strip()]


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


# --- the methods -------------------------------------------------------------------------------

class _CertificateMethod(ClientAuthMethod):
    parameters = frozenset({"client_id"})

    @property
    def advertised(self) -> bool:  # type: ignore[override]
        """Advertised only where a proxy passes certificates (``CLIENT_CERTIFICATE_HEADER``)."""
        return bool(oauth_cc_settings.CLIENT_CERTIFICATE_HEADER)

    @abstractmethod
    def _registered_here(self, client: Client | None) -> bool:
        """Whether ``client`` (None: unknown) is registered for this method."""

    def detect(self, request: HttpRequest, params: FormParameters) -> bool:
        if not _presented(request, params):
            return False
        return self._registered_here(_candidate(request, params.get("client_id") or ""))

    def authenticate(self, request: HttpRequest, params: FormParameters) -> Client:
        client_id = params.get("client_id") or ""
        client = _candidate(request, client_id)
        certificate = network.client_certificate(request)
        if client is None or certificate is None:
            report(request, None, "unknown client", client_id)
            raise self.failure()
        reason = self._refusal(request, client, certificate)
        if reason is not None:
            report(request, client.client_id, reason)
            raise self.failure()
        return client

    @abstractmethod
    def _refusal(self, request: HttpRequest, client: Client,
                 certificate: x509.Certificate) -> str | None:
        """Why the certificate does not authenticate ``client``, or None when it does."""

    def metadata(self) -> dict[str, Any]:
        return certificate_metadata()


class TlsClientAuth(_CertificateMethod):
    """``tls_client_auth`` (RFC 8705 §2.1): a certificate from a trusted CA with the client's
    registered subject (MTLS-01, MTLS-02)."""

    name = TLS_CLIENT_AUTH
    label = "tls_client_auth (mutual TLS, CA-issued certificate)"

    def _registered_here(self, client: Client | None) -> bool:
        # Also every client not registered for the other method, so that an unknown client
        # or one registered otherwise fails here, like a wrong certificate.
        return client is None or client.token_endpoint_auth_method != (
            SELF_SIGNED_TLS_CLIENT_AUTH)

    def _refusal(self, request: HttpRequest, client: Client,
                 certificate: x509.Certificate) -> str | None:
        if not network.client_certificate_verified(request):
            return "client certificate chain not verified by the proxy"
        subjects = registered_subjects(client)
        if len(subjects) != 1:
            return "client has not exactly one certificate subject registered"
        field = subjects[0]
        if not subject_matches(certificate, field, str(getattr(client, field))):
            return "client certificate subject does not match"
        return None

    def check_registration(self, client: Client) -> None:
        subjects = registered_subjects(client)
        if not subjects:
            raise ValidationError({"tls_client_auth_subject_dn": _(
                "tls_client_auth needs exactly one of the certificate subject DN and the SAN "
                "fields.")})
        if len(subjects) > 1:
            raise ValidationError({field: _(
                "Set only one of the certificate subject DN and the SAN fields.")
                for field in subjects})
        field = subjects[0]
        value = str(getattr(client, field)).strip()
        if field == "tls_client_auth_subject_dn":
            try:
                parse_subject_dn(value)
            except ValueError:
                raise ValidationError({field: _(
                    "Not an RFC 4514 distinguished name (e.g. CN=billing,O=Example).")}
                ) from None
        elif field == "tls_client_auth_san_ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValidationError({field: _("Not an IP address.")}) from None


class SelfSignedTlsClientAuth(_CertificateMethod):
    """``self_signed_tls_client_auth`` (RFC 8705 §2.2): no chain; the certificate is one the
    client registered in its JWK Set (MTLS-01, MTLS-03)."""

    name = SELF_SIGNED_TLS_CLIENT_AUTH
    label = "self_signed_tls_client_auth (mutual TLS, registered certificate)"

    def _registered_here(self, client: Client | None) -> bool:
        return client is not None and client.token_endpoint_auth_method == self.name

    def _refusal(self, request: HttpRequest, client: Client,
                 certificate: x509.Certificate) -> str | None:
        presented = _der(certificate)
        # Every registered certificate is compared, so the time says nothing about which.
        matched = False
        for registered in client_keys.certificates(client):
            matched |= hmac.compare_digest(registered, presented)
        return None if matched else "client certificate is not registered"

    def check_registration(self, client: Client) -> None:
        jwks, jwks_uri = client.jwks.strip(), client.jwks_uri.strip()
        if jwks and jwks_uri:
            raise ValidationError({"jwks_uri": _(
                "Give either a JWK Set or a JWKS URI, not both.")})
        if jwks:
            problem: Any = client_keys.registration_problem(jwks)
            if problem is None and not client_keys.inline_keys(jwks).certificates:
                problem = _("self_signed_tls_client_auth needs the client's certificate: a "
                            "key with an x5c member.")
            if problem is not None:
                raise ValidationError({"jwks": problem})
        elif not jwks_uri:
            raise ValidationError({"jwks": _(
                "self_signed_tls_client_auth needs the client's certificate: a JWK Set or a "
                "JWKS URI whose key has an x5c member.")})
        elif not client_keys.jwks_uri_allowed(jwks_uri):
            raise ValidationError({"jwks_uri": _("The JWKS URI must be an https URL.")})


# --- metadata ----------------------------------------------------------------------------------

def endpoint_aliases() -> dict[str, str]:
    """``MTLS_ENDPOINT_ALIASES`` as published (RFC 8705 §5, MTLS-07): only the token,
    introspection and revocation endpoints, each an absolute https URL; anything else is
    left out (and logged once per settings load)."""

    def build() -> dict[str, str]:
        configured = oauth_cc_settings.MTLS_ENDPOINT_ALIASES or {}
        aliases = {}
        for name, url in dict(configured).items():
            parts = urlsplit(url) if isinstance(url, str) else None
            if (name in ALIASABLE_ENDPOINTS and parts is not None and parts.scheme == "https"
                    and parts.netloc and not parts.fragment):
                aliases[name] = url
            else:
                logger.warning("MTLS_ENDPOINT_ALIASES: %.60r left out of the metadata (only "
                               "%s, as https URLs)", name, ", ".join(ALIASABLE_ENDPOINTS))
        return aliases

    return oauth_cc_settings.derived("mtls_endpoint_aliases", build)


def certificate_metadata() -> dict[str, Any]:
    """``tls_client_certificate_bound_access_tokens`` and ``mtls_endpoint_aliases``
    (RFC 8705 §3.3, §5; MTLS-07), when a proxy passes certificates
    (``CLIENT_CERTIFICATE_HEADER``); nothing otherwise."""
    if not oauth_cc_settings.CLIENT_CERTIFICATE_HEADER:
        return {}
    document: dict[str, Any] = {"tls_client_certificate_bound_access_tokens": True}
    aliases = endpoint_aliases()
    if aliases:
        document["mtls_endpoint_aliases"] = dict(aliases)
    return document


# --- certificate-bound tokens ------------------------------------------------------------------

def certificate_confirmation(request: HttpRequest, client: Client) -> dict[str, str] | None:
    """The ``cnf`` member binding a new token to the request's client certificate
    (RFC 8705 §3.1, MTLS-04), for a client registered for certificate-bound tokens; None for
    any other client.

    MTLS-06 DEC: such a client without a certificate gets 400 ``invalid_request``, never an
    unbound token: the client authenticated (so not ``invalid_client``), but its request
    lacks what its registration requires."""
    if not client.tls_client_certificate_bound_access_tokens:
        return None
    certificate = network.client_certificate(request)
    if certificate is None:
        logger.info("token request without a client certificate from client_id=%s, "
                    "registered for certificate-bound tokens", client.client_id)
        raise InvalidRequest("This client's tokens are bound to its TLS client certificate: "
                             "connect with it.")
    return {jose.CERTIFICATE_THUMBPRINT: jose.certificate_thumbprint(_der(certificate))}


client_auth_methods.register(TlsClientAuth())
client_auth_methods.register(SelfSignedTlsClientAuth())
