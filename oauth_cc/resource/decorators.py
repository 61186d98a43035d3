"""Protecting plain Django views (not DRF) with access tokens.

    @scopes_required("items:read")
    def stock(request):
        return JsonResponse({"client": request.oauth_token.client_id})

On success ``request.user`` is a ``ClientPrincipal`` and ``request.oauth_token`` the
``AccessToken``. Failures answer as RFC 6750 §3 says: 401 with a bare challenge when there is
no token, 400 ``invalid_request``, 401 ``invalid_token``, 403 ``insufficient_scope``.
Protected views are CSRF-exempt: they authenticate by token, never by cookie.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import classonlymethod
from django.views.decorators.csrf import csrf_exempt

from .. import reporting
from ..errors import MethodNotAllowed, NoCredentials, ResourceError
from .principal import ClientPrincipal
from .requirements import AnyOf, check_scopes, requirement, unmapped, validate_spec
from .token_types import for_request

__all__ = ["AnyOf", "ProtectedResourceMixin", "scopes_required"]

logger = logging.getLogger("oauth_cc.decorators")


def _method_not_allowed(spec: Mapping[str, Any]) -> HttpResponse:
    return MethodNotAllowed(sorted(k for k in spec if k.isupper() and k != "*")).to_response()


def _protect(request: HttpRequest, spec: Any, owner: str,
             handles: Callable[[str], bool] | None) -> HttpResponse | None:
    """None to go on to the view; otherwise the response that refuses the request."""
    reporting.protect(request)
    method = request.method or "GET"
    token_type = for_request(request)
    try:
        token = token_type.authenticate(request)
        alternatives = requirement(spec, method=method, owner=owner)
        if alternatives is None:
            if handles is None or method == "OPTIONS":
                return _method_not_allowed(spec)
            if not handles(method):
                return None  # the view's dispatch answers 405
            raise unmapped(owner, method)
        check_scopes(token, alternatives)
    except ResourceError as error:
        error.scheme = token_type.name
        if not isinstance(error, NoCredentials):
            logger.info("access token refused: %s", error.description)
        return error.to_response()
    # Neither attribute's type allows this: oauth_token is ours, and the stubs allow only
    # User or AnonymousUser where a duck-typed ClientPrincipal stands in.
    request.oauth_token = token  # type: ignore[attr-defined]
    request.user = ClientPrincipal(token)  # type: ignore[assignment]
    return None


def scopes_required(*scopes: Any) -> Callable[[Callable[..., HttpResponse]],
                                               Callable[..., HttpResponse]]:
    """Require a valid access token with these scopes (all of them; or pass an ``AnyOf`` or
    a per-method mapping as the single argument; a method without an entry gets 405)."""
    spec = scopes[0] if len(scopes) == 1 and not isinstance(scopes[0], str) else scopes
    validate_spec(spec, "scopes_required()")  # fail at import if malformed

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refused = _protect(request, spec, view.__qualname__, None)
            return refused if refused is not None else view(request, *args, **kwargs)

        return csrf_exempt(wrapped)

    return decorator


class ProtectedResourceMixin:
    """For class-based Django views: set ``required_scopes`` on the class."""

    required_scopes: Any = None

    # A mixin: as_view, http_method_names and dispatch come from the View it is mixed into,
    # which the type checker cannot see from here.
    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponse]:
        view: Callable[..., HttpResponse] = super().as_view(**initkwargs)  # type: ignore[misc]
        return csrf_exempt(view)

    def _handles(self, method: str) -> bool:
        name = method.lower()
        return name in self.http_method_names and hasattr(self, name)  # type: ignore[attr-defined]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = _protect(request, self.required_scopes, type(self).__name__, self._handles)
        if refused is not None:
            return refused
        response: HttpResponse = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        return response
