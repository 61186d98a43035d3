"""Who is calling, and over what: the client address and HTTPS behind a trusted proxy.

Behind a TLS-terminating proxy every request comes from the proxy's address, and the real
client address and scheme arrive in ``X-Forwarded-For`` and ``X-Forwarded-Proto``. Anyone can
send those headers, so they are believed only when the request comes from an address in
``TRUSTED_PROXIES`` (addresses or networks; ``"unix"`` for a proxy that connects over a unix
socket, where ``REMOTE_ADDR`` is empty). With ``TRUSTED_PROXIES`` empty (the default) the
forwarded headers are ignored here, and HTTPS is what Django's ``request.is_secure()`` says.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.http import HttpRequest

from .settings import oauth_cc_settings

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
    if request.META.get("wsgi.url_scheme") == "https":
        return True
    forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip()
    return _from_proxy(request) and forwarded.lower() == "https"
