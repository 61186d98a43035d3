"""The scopes a protected view requires, and the check of a token against them (RFC 6750 §3).

Shared by the DRF integration (``oauth_cc.rest_framework``) and the plain-Django decorators
(``oauth_cc.decorators``).

A view declares the scopes it needs in ``required_scopes``:

- ``"items:read"`` or ``["items:read", "items:audit"]``: all of them;
- ``AnyOf(["items:admin"], ["items:read", "items:audit"])``: any one of these sets;
- a mapping from a DRF action (``"list"``, ``"create"``...) or an HTTP method (``"GET"``...)
  to either form above; ``"*"`` is the fallback. A method or action with no entry and no
  ``"*"`` is a configuration error, never an open door.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .. import caches
from ..errors import InsufficientScope
from ..scopes import canonical, is_scope_token
from .verification import AccessToken


class AnyOf:
    """Alternatives: the request needs every scope of at least one of the given sets."""

    def __init__(self, *alternatives: Iterable[str] | str) -> None:
        if not alternatives:
            raise ImproperlyConfigured("AnyOf() needs at least one set of scopes.")
        self.alternatives = tuple(_scope_set(a) for a in alternatives)

    def __repr__(self) -> str:
        return f"AnyOf({', '.join(repr(sorted(a)) for a in self.alternatives)})"


def _scope_set(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):
        names = list(value)
    else:
        names = []
    if not names or not all(isinstance(n, str) and is_scope_token(n) for n in names):
        raise ImproperlyConfigured(
            f"required_scopes entry {value!r} must be scope names (RFC 6749 §3.3), not empty."
        )
    return frozenset(names)


#: Parsed declarations by (declaration object, method, action).
_memo: dict[tuple[int, str, str | None], tuple[Any, tuple[frozenset[str], ...] | None]] = (
    caches.register("scope_requirements", {}))


def requirement(spec: Any, *, method: str, action: str | None = None,
                owner: str = "the view") -> tuple[frozenset[str], ...] | None:
    """``_requirement`` remembered per declaration object, method and action (declarations
    are read on every request; they are parsed once)."""
    key = (id(spec), method, action)
    found = _memo.get(key)
    if found is not None and found[0] is spec:
        return found[1]
    result = _requirement(spec, method=method, action=action, owner=owner)
    if len(_memo) < 10_000:
        _memo[key] = (spec, result)
    return result


def _requirement(spec: Any, *, method: str, action: str | None = None,
                 owner: str = "the view") -> tuple[frozenset[str], ...] | None:
    """The alternatives a request must satisfy, from a ``required_scopes`` value; None when
    a mapping has no entry for this action or method (HEAD falls back to GET)."""
    if spec is None:
        raise ImproperlyConfigured(
            f"{owner} is protected by a scope check but declares no required_scopes. Set "
            "required_scopes = ['some:scope'] on it (or use IsAuthenticated if any valid "
            "token will do)."
        )
    if isinstance(spec, Mapping):
        for key in (action, method, "GET" if method == "HEAD" else None, "*"):
            if key is not None and key in spec:
                return _requirement(spec[key], method=method, owner=owner)
        return None
    if isinstance(spec, AnyOf):
        return spec.alternatives
    if isinstance(spec, str):
        return (_scope_set(spec),)
    if not isinstance(spec, Iterable):
        return (_scope_set(spec),)  # raises ImproperlyConfigured
    items = list(spec)
    if items and all(not isinstance(i, str) for i in items):
        return tuple(_scope_set(i) for i in items)  # a list of sets: alternatives
    return (_scope_set(items),)


def check_scopes(token: AccessToken, alternatives: tuple[frozenset[str], ...]) -> None:
    """Raise ``InsufficientScope`` unless the token has one of the alternatives (RSV-07)."""
    if any(needed <= token.scopes for needed in alternatives):
        return
    # The challenge names the first alternative the view declared (RFC 6750 §3 "scope").
    raise InsufficientScope("The access token does not grant the required scope.",
                            scope=canonical(alternatives[0]))


def unmapped(owner: str, method: str, action: str | None = None) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"required_scopes of {owner} has no entry for {action or method!r} and no '*'."
    )


def validate_spec(spec: Any, owner: str) -> None:
    """Raise ``ImproperlyConfigured`` now for a declaration that can never work."""
    if isinstance(spec, Mapping):
        for value in spec.values():
            requirement(value, method="GET", owner=owner)
    else:
        requirement(spec, method="GET", owner=owner)
