"""The ``request.user`` of a request authenticated with an access token."""

from __future__ import annotations

from typing import Any

from .verification import AccessToken


class ClientPrincipal:
    """The OAuth client that called, standing in for a Django user.

    In the client-credentials grant the client is the resource owner, so there is no Django
    ``User`` row. ``is_authenticated`` is True (``IsAuthenticated`` works), the client has no
    Django permissions, and ``pk`` is ``"client:<client_id>"`` so that DRF's per-user
    throttles count per client.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, token: AccessToken) -> None:
        self.client_id = token.client_id
        self.scopes = token.scopes
        self.token = token

    @property
    def pk(self) -> str:
        return f"client:{self.client_id}"

    id = pk

    @property
    def username(self) -> str:
        return self.client_id

    def get_username(self) -> str:
        return self.client_id

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClientPrincipal) and other.client_id == self.client_id

    def __hash__(self) -> int:
        return hash(("ClientPrincipal", self.client_id))

    def __str__(self) -> str:
        return f"client {self.client_id}"

    def __repr__(self) -> str:
        return f"ClientPrincipal(client_id={self.client_id!r})"
