"""Scope syntax and resolution (RFC 6749 §3.3).

``scope = scope-token *( SP scope-token )`` with ``scope-token = 1*NQCHAR`` and
NQCHAR = %x21 / %x23-5B / %x5D-7E. Scopes are case-sensitive and unordered; we treat a request
as a set and answer with the canonical form: sorted, de-duplicated, single spaces (SCOPE-02).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import InvalidScope

SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")


def is_scope_token(value: str) -> bool:
    """True if ``value`` is one RFC 6749 §3.3 scope-token."""
    return SCOPE_TOKEN.fullmatch(value) is not None


def parse(value: str) -> frozenset[str]:
    """Parse a scope string; raise ``InvalidScope`` unless it matches RFC 6749 §3.3 exactly.

    A leading, trailing or double space, ``"``, ``\\`` or non-ASCII is refused (SCOPE-01).
    """
    if not SCOPE.fullmatch(value):
        raise InvalidScope("The scope parameter is malformed.")
    return frozenset(value.split(" "))


def canonical(scopes: Iterable[str]) -> str:
    """The canonical scope string: sorted, unique, space-separated (SCOPE-02, SCOPE-06)."""
    return " ".join(sorted(set(scopes)))


def split_stored(value: str) -> frozenset[str]:
    """Scopes stored on a model as a space-separated string (empty string: no scope)."""
    return frozenset(value.split()) if value else frozenset()


def resolve(
    requested: str | None, *, allowed: frozenset[str], default: frozenset[str]
) -> frozenset[str]:
    """The scopes to grant (RFC 6749 §3.3, §4.4.2).

    - no ``scope`` parameter: the client's default scopes; if it has none, ``invalid_scope``
      (SCOPE-03: the documented default, or an error);
    - otherwise every requested scope must be allowed for the client, else ``invalid_scope``:
      we refuse rather than silently narrow (SCOPE-04 DEC, SCOPE-05).
    """
    if requested is None:
        granted = default & allowed
        if not granted:
            raise InvalidScope("No scope requested and the client has no default scope.")
        return granted
    wanted = parse(requested)
    if not wanted <= allowed:
        raise InvalidScope("A requested scope is not allowed for this client.")
    return wanted
