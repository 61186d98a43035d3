"""Who is calling, and over what: the client address and HTTPS behind a trusted proxy.

Behind a TLS-terminating proxy every request comes from the proxy's address, and the real
client address and scheme arrive in ``X-Forwarded-For`` and ``X-Forwarded-Proto``. Anyone can
send those headers, so they are believed only when the request comes from an address in
``TRUSTED_PROXIES`` (addresses or networks). With ``TRUSTED_PROXIES`` empty (the default) the
forwarded headers are ignored here, and HTTPS is what Django's ``request.is_secure()`` says.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.http import HttpRequest

from .settings import oauth_cc_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies() -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` parsed once per settings load."""

    def parse() -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(str(entry), strict=False)
                     for entry in oauth_cc_settings.TRUSTED_PROXIES or ())

    return oauth_cc_settings.derived("trusted_proxies", parse)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed: Any = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def _from_proxy(request: HttpRequest) -> bool:
    networks = trusted_proxies()
    return bool(networks) and _trusted(request.META.get("REMOTE_ADDR", ""), networks)


def client_address(request: HttpRequest) -> str:
    """The caller's address: ``REMOTE_ADDR``, or, for a request from a trusted proxy, the
    nearest address in ``X-Forwarded-For`` that is not itself a trusted proxy."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if not _from_proxy(request):
        return remote
    networks = trusted_proxies()
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop, networks):
            return hop
    return remote


def is_secure(request: HttpRequest) -> bool:
    """Whether the client's connection used HTTPS (GEN-01)."""
    if not trusted_proxies():
        return request.is_secure()
    if request.META.get("wsgi.url_scheme") == "https":
        return True
    forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip()
    return _from_proxy(request) and forwarded.lower() == "https"
