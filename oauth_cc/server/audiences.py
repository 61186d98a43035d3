"""Audience (``aud``) of issued tokens and the ``resource`` parameter (RFC 8707, RFC 9068 §3).

The protected APIs are registered as ``Audience`` rows. A client may get tokens for the
audiences listed on it (``allowed_audiences``), or, when that list is empty, for
``OAUTH_CC['DEFAULT_AUDIENCE']`` only. With no ``resource`` parameter the token is for
``DEFAULT_AUDIENCE`` when the client may use it, else for the client's only audience; a client
with several audiences and none of them the default must name one. A listed audience that is
not registered (or is inactive) is refused with ``invalid_target``; ``DEFAULT_AUDIENCE`` needs
no row.

A scope may be tied to the audiences it means something to (``Scope.audiences``; empty:
every audience). A token carries only scopes meaningful to every one of its audiences (RES-05,
JWT-06, BCP-03), so no API ever receives a scope tied to another: a client's default scopes
are narrowed to those, and an explicitly requested scope that one of the token's audiences
does not understand is refused with ``invalid_scope``.

Both registries are cached in-process for ``KEY_CACHE_SECONDS`` (cleared at once in the
process that changes an ``Audience`` or a ``Scope``), so a token request still costs one
query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .. import caches, clock
from ..errors import InvalidScope, InvalidTarget
from ..models import Audience, Client, Scope, is_absolute_uri
from ..settings import oauth_cc_settings


@dataclass(frozen=True, slots=True)
class RegisteredAudience:
    identifier: str
    access_token_lifetime: int | None


def _load(previous: dict[str, RegisteredAudience] | None) -> dict[str, RegisteredAudience]:
    return {
        identifier: RegisteredAudience(identifier, lifetime)
        for identifier, lifetime in Audience.objects.filter(is_active=True).values_list(
            "identifier", "access_token_lifetime")
    }


_registry: caches.TimedValue[dict[str, RegisteredAudience]] = caches.register(
    "audiences",
    caches.TimedValue(_load, lambda: float(oauth_cc_settings.KEY_CACHE_SECONDS)))


def registry() -> dict[str, RegisteredAudience]:
    """Active registered audiences by identifier, cached for ``KEY_CACHE_SECONDS``."""
    return _registry.get(clock.timestamp())


@receiver([post_save, post_delete], sender=Audience, dispatch_uid="oauth_cc_audience_changed")
def _audience_changed(**kwargs: Any) -> None:
    caches.clear("audiences")


def allowed_for(client: Client) -> list[str]:
    return client.audience_list or [oauth_cc_settings.DEFAULT_AUDIENCE]


def _usable(identifier: str) -> bool:
    return identifier == oauth_cc_settings.DEFAULT_AUDIENCE or identifier in registry()


def resolve(client: Client, resources: list[str]) -> str | list[str]:
    """The ``aud`` claim for a token request (RES-01..04, JWT-05, BCP-02)."""
    allowed = allowed_for(client)
    if resources:
        if not all(is_absolute_uri(uri) for uri in resources):
            raise InvalidTarget("A resource must be an absolute URI without fragment.")
        if not all(uri in allowed and _usable(uri) for uri in resources):
            raise InvalidTarget("A requested resource is not allowed for this client.")
        unique = sorted(set(resources))
        return unique[0] if len(unique) == 1 else unique
    default: str = oauth_cc_settings.DEFAULT_AUDIENCE  # a str: system check E004
    if default in allowed:
        return default
    if len(allowed) == 1 and _usable(allowed[0]):
        return allowed[0]
    raise InvalidTarget("This client must name a resource.")


def lifetime_cap(audience: str | list[str]) -> int | None:
    """The shortest lifetime set on the token's audiences, if any."""
    found = registry()
    names = [audience] if isinstance(audience, str) else audience
    lifetimes = cast("list[int]", [found[n].access_token_lifetime for n in names
                                   if n in found and found[n].access_token_lifetime])
    return min(lifetimes) if lifetimes else None


def _load_scope_audiences(previous: dict[str, frozenset[str]] | None
                          ) -> dict[str, frozenset[str]]:
    return {name: frozenset(uris.split())
            for name, uris in Scope.objects.exclude(audiences="").values_list(
                "name", "audiences")}


_scope_audiences: caches.TimedValue[dict[str, frozenset[str]]] = caches.register(
    "scope_audiences",
    caches.TimedValue(_load_scope_audiences,
                      lambda: float(oauth_cc_settings.KEY_CACHE_SECONDS)))


@receiver([post_save, post_delete], sender=Scope, dispatch_uid="oauth_cc_scope_changed")
def _scope_changed(**kwargs: Any) -> None:
    caches.clear("scope_audiences")


def scopes_for(granted: frozenset[str], audience: str | list[str], *, requested: bool
               ) -> frozenset[str]:
    """``granted`` less the scopes tied to audiences that do not include every one of the
    token's (RES-05, JWT-06, BCP-03): a token for two APIs carries only scopes both
    understand. Scopes the client asked for by name are refused rather than dropped
    (``invalid_scope``, as SCOPE-04 decides for scopes the client may not have); default
    scopes are narrowed, and the response's ``scope`` says what was granted."""
    tied = _scope_audiences.get(clock.timestamp())
    if not tied:
        return granted
    targets = {audience} if isinstance(audience, str) else set(audience)
    kept = frozenset(name for name in granted if name not in tied or targets <= tied[name])
    if requested and kept != granted:
        raise InvalidScope("A requested scope does not apply to the requested resource.")
    if not kept:
        raise InvalidScope("None of the client's default scopes applies to this resource.")
    return kept
