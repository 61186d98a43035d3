"""Local mode's window on the authorization server's tables.

A resource server in the same project as the authorization server (local mode: no
``JWKS_URI``) reads the published signing keys, the revocation list and opaque tokens from
the database. The resource package does not import the models to do so: when the app is
installed, ``oauth_cc.resource.local`` installs a ``LocalStore`` here, and everything else
asks ``local_store()``. Without the app there is no store, and only remote mode works.
"""

from __future__ import annotations

from typing import Any, Protocol


class StoreUnavailable(Exception):
    """What a token is checked against cannot be read right now (database, JWKS endpoint,
    introspection endpoint): the token cannot be verified, and the answer is not cached."""


class RevocationSnapshot(Protocol):
    def revoked(self, jti: str) -> bool: ...


class LocalStore(Protocol):
    """What local mode reads from this project's tables."""

    def published_jwks(self) -> list[dict[str, Any]]:
        """The public JWKs of every published signing key."""
        ...

    def revocations(self, now: float) -> RevocationSnapshot:
        """The revocation list as of now (cheap to call on every request)."""
        ...

    def opaque_claims(self, hex_digest: str) -> dict[str, Any] | None:
        """The claims of the unrevoked opaque token with this SHA-256, or None."""
        ...


_installed: list[LocalStore] = []


def install_local_store(store: LocalStore) -> None:
    """Let local mode read keys, revocations and opaque tokens from ``store``."""
    _installed[:] = [store]


def local_store() -> LocalStore | None:
    return _installed[0] if _installed else None
