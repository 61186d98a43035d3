"""Who is calling, and over what: the client address and HTTPS behind a trusted proxy.

Behind a TLS-terminating proxy every request comes from the proxy's address, and the real
client address and scheme arrive in ``X-Forwarded-For`` and ``X-Forwarded-Proto``. Anyone can
send those headers, so they are believed only when the request comes from an address in
``TRUSTED_PROXIES`` (addresses or networks; ``"unix"`` for a proxy that connects over a unix
socket, where ``REMOTE_ADDR`` is empty). With ``TRUSTED_PROXIES`` empty (the default) the
forwarded headers are ignored here, and HTTPS is what Django's ``request.is_secure()`` says.

The same holds for the client certificate of mutual TLS (RFC 8705): the proxy terminates TLS
and passes the certificate in ``CLIENT_CERTIFICATE_HEADER`` and its verification result in
``CLIENT_CERTIFICATE_VERIFY_HEADER``. They are read only from a trusted proxy, which must set
them itself, overwriting whatever the client sent (MTLS-08, RFC 8705 §6.5).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from django.http import HttpRequest

from .settings import oauth_cc_settings

logger = logging.getLogger("oauth_cc.network")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


UNIX_SOCKET = "unix"


def trusted_proxies() -> tuple[Network, ...]:
    """The networks of ``TRUSTED_PROXIES``, parsed once per settings load."""

    def parse() -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(str(entry), strict=False)
                     for entry in oauth_cc_settings.TRUSTED_PROXIES or ()
                     if entry != UNIX_SOCKET)

    return oauth_cc_settings.derived("trusted_proxies", parse)


def _unix_socket_trusted() -> bool:
    return UNIX_SOCKET in (oauth_cc_settings.TRUSTED_PROXIES or ())


def _any_proxy() -> bool:
    return bool(trusted_proxies()) or _unix_socket_trusted()


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed: Any = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def _from_proxy(request: HttpRequest) -> bool:
    remote = request.META.get("REMOTE_ADDR") or ""
    if not remote:
        return _unix_socket_trusted()
    networks = trusted_proxies()
    return bool(networks) and _trusted(remote, networks)


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the request came from one of ``TRUSTED_PROXIES`` (whose forwarded headers
    may then be believed)."""
    return _from_proxy(request)


def client_address(request: HttpRequest) -> str:
    """The caller's address: ``REMOTE_ADDR``, or, for a request from a trusted proxy, the
    nearest address in ``X-Forwarded-For`` that is not itself a trusted proxy."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if not _from_proxy(request):
        return remote
    networks = trusted_proxies()
    hops: list[str] = [
        hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop, networks):
            return hop
    return remote


def is_secure(request: HttpRequest) -> bool:
    """Whether the client's connection used HTTPS (GEN-01)."""
    if not _any_proxy():
        return request.is_secure()
    # The connection's own scheme: WSGI's url_scheme, or the ASGI scope's scheme.
    scope = getattr(request, "scope", None)
    own = request.META.get("wsgi.url_scheme") or (
        scope.get("scheme") if isinstance(scope, dict) else None)
    if own == "https":
        return True
    forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip()
    return _from_proxy(request) and forwarded.lower() == "https"


# --- the client certificate of mutual TLS (RFC 8705) -------------------------------------------

#: Longer certificate header values are refused unread (a certificate with a long chain of
#: SANs is a few kilobytes; URL-encoding adds a third).
MAX_CERTIFICATE_HEADER_LENGTH = 16384
#: The verification result a proxy reports for a chain it validated (nginx $ssl_client_verify).
VERIFIED = "SUCCESS"

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_MEMO = "_oauth_cc_client_certificate"
_ABSENT = object()


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


def _proxy_header(request: HttpRequest, setting: Any) -> str | None:
    """The value of the header a setting names, when the setting is on and the request came
    from a trusted proxy; else None (a client's own header is never believed, MTLS-08)."""
    if not setting or not _from_proxy(request):
        return None
    value = request.META.get(_meta_key(str(setting)))
    return None if value is None else str(value)


def parse_certificate_header(value: str) -> x509.Certificate | None:
    """The one certificate in a proxy's header, or None when it holds none or is malformed.

    Accepts URL-encoded PEM (nginx's ``$ssl_client_escaped_cert``), PEM whose line breaks a
    proxy turned into spaces or tabs, and bare base64 DER. Raises nothing.
    """
    if len(value) > MAX_CERTIFICATE_HEADER_LENGTH:
        logger.warning("client certificate header ignored: longer than %d characters",
                       MAX_CERTIFICATE_HEADER_LENGTH)
        return None
    try:
        text = (unquote(value, errors="strict") if "%" in value else value).strip()
        if not text or text == "(null)":
            return None
        blocks = _PEM.findall(text)
        if len(blocks) > 1:
            logger.warning("client certificate header ignored: more than one certificate")
            return None
        body = "".join((blocks[0] if blocks else text).split())
        if not _BASE64.fullmatch(body):
            raise ValueError("not base64")
        return x509.load_der_x509_certificate(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        logger.warning("client certificate header ignored: not a certificate")
        return None


def client_certificate(request: HttpRequest) -> x509.Certificate | None:
    """The client certificate a trusted proxy passed for this request's TLS connection, or
    None: mTLS off (``CLIENT_CERTIFICATE_HEADER`` unset), the request not from a trusted
    proxy, no certificate, or a malformed one. Parsed once per request."""
    memo = getattr(request, _MEMO, _ABSENT)
    if memo is not _ABSENT:
        return memo if isinstance(memo, x509.Certificate) else None
    value = _proxy_header(request, oauth_cc_settings.CLIENT_CERTIFICATE_HEADER)
    certificate = parse_certificate_header(value) if value else None
    setattr(request, _MEMO, certificate)
    return certificate


def client_certificate_verified(request: HttpRequest) -> bool:
    """Whether the trusted proxy validated the client certificate's chain against its trust
    anchors: ``CLIENT_CERTIFICATE_VERIFY_HEADER`` is exactly ``SUCCESS`` (MTLS-02)."""
    value = _proxy_header(request, oauth_cc_settings.CLIENT_CERTIFICATE_VERIFY_HEADER)
    return value == VERIFIED
