"""The three extension points: client-authentication methods, grant types, token types.

Each is a ``Registry`` of objects keyed by their protocol name. The built-ins register
themselves when their module is imported (``oauth_cc.apps`` imports them when the app is
ready); a project registers its own the same way, typically from its ``AppConfig.ready()``::

    from oauth_cc import registry
    registry.client_auth_methods.register(MyMethod())

What the server advertises (``token_endpoint_auth_methods_supported``,
``grant_types_supported``) and the model's choices are read from here, so they cannot drift
from what works. The registries live in the shared core so that both halves, the models and
the admin can read them without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

if TYPE_CHECKING:  # the halves' base classes, for the type checker only (no import at run time)
    from .resource.token_types import TokenType
    from .server.client_auth import ClientAuthMethod
    from .server.grants import Grant


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)
D = TypeVar("D")


class Registry(Generic[T]):
    """Objects by name, in registration order. Values derived from the whole registry
    (the parameters every method reads, say) are computed once per change with
    ``derived()``, since the hot paths ask for them on every request."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._ordered: tuple[T, ...] = ()
        self._derived: dict[str, Any] = {}

    def register(self, item: T, *, replace: bool = False) -> T:
        """Add ``item`` under ``item.name``; a second one with the same name is an error
        unless ``replace`` (to swap a built-in for a project's own)."""
        if item.name in self._items and not replace:
            raise ValueError(f"a {self.kind} named {item.name!r} is already registered")
        self._items[item.name] = item
        self._changed()
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)
        self._changed()

    def _changed(self) -> None:
        self._ordered = tuple(self._items.values())
        self._derived = {}

    def derived(self, name: str, factory: Callable[[], D]) -> D:
        """``factory()``, computed once until the registry next changes."""
        try:
            return cast(D, self._derived[name])
        except KeyError:
            value = self._derived[name] = factory()
            return value

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def names(self) -> list[str]:
        return list(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._ordered)

    def __contains__(self, name: object) -> bool:
        return name in self._items


#: Client authentication at the token, introspection and revocation endpoints
#: (``oauth_cc.server.client_auth.ClientAuthMethod``).
client_auth_methods: Registry[ClientAuthMethod] = Registry("client authentication method")

#: Grant handlers by ``grant_type`` (``oauth_cc.server.grants.Grant``).
grant_types: Registry[Grant] = Registry("grant type")

#: Access-token types by ``token_type`` (``oauth_cc.resource.token_types.TokenType``).
token_types: Registry[TokenType] = Registry("token type")


def client_auth_method_choices() -> list[tuple[str, str]]:
    """The choices of ``Client.token_endpoint_auth_method``: every method a client can be
    registered for."""
    return [(method.name, method.label) for method in client_auth_methods
            if method.registrable]


#: ``token_type`` of a token no registered type claims (RFC 6750).
DEFAULT_TOKEN_TYPE = "Bearer"  # noqa: S105 (a token type name, not a secret)


def token_type_of(claims: Any) -> str:
    """The ``token_type`` of a token with these claims: the first registered type that
    describes it (a bound type recognises its ``cnf``), else Bearer."""
    for token_type in token_types:
        if token_type.describes(claims):
            return str(token_type.name)
    return DEFAULT_TOKEN_TYPE
