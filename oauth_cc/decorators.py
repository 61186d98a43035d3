"""Protecting plain Django views (not DRF) with access tokens.

    @scopes_required("items:read")
    def stock(request):
        return JsonResponse({"client": request.oauth_token.client_id})

On success ``request.user`` is a ``ClientPrincipal`` and ``request.oauth_token`` the
``AccessToken``. Failures answer as RFC 6750 §3 says: 401 with a bare challenge when there is
no token, 400 ``invalid_request``, 401 ``invalid_token``, 403 ``insufficient_scope``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from .errors import BearerError
from .principal import ClientPrincipal
from .resource import AnyOf, authenticate, check_scopes, requirement

__all__ = ["AnyOf", "ProtectedResourceMixin", "scopes_required"]


def _protect(request: HttpRequest, spec: Any, owner: str) -> HttpResponse | None:
    alternatives = requirement(spec, method=request.method or "GET", owner=owner)
    try:
        token = authenticate(request)
        check_scopes(token, alternatives)
    except BearerError as error:
        return error.to_response()
    request.oauth_token = token  # type: ignore[attr-defined]
    request.user = ClientPrincipal(token)
    return None


def scopes_required(*scopes: Any) -> Callable[[Callable[..., HttpResponse]],
                                               Callable[..., HttpResponse]]:
    """Require a valid access token with these scopes (all of them; or pass an ``AnyOf`` or
    a per-method mapping as the single argument)."""
    spec = scopes[0] if len(scopes) == 1 and not isinstance(scopes[0], str) else scopes
    requirement(spec, method="GET", owner="scopes_required()")  # fail at import if malformed

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refused = _protect(request, spec, view.__qualname__)
            return refused if refused is not None else view(request, *args, **kwargs)

        return wrapped

    return decorator


class ProtectedResourceMixin:
    """For class-based Django views: set ``required_scopes`` on the class."""

    required_scopes: Any = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = _protect(request, self.required_scopes, type(self).__name__)
        if refused is not None:
            return refused
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
