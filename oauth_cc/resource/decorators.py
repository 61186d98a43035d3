"""Protecting plain Django views (not DRF) with access tokens.

    @scopes_required("items:read")
    def stock(request):
        return JsonResponse({"client": request.oauth_token.client_id})

On success ``request.user`` is a ``ClientPrincipal`` and ``request.oauth_token`` the
``AccessToken``. Failures answer as RFC 6750 §3 says: 401 with a bare challenge when there is
no token, 400 ``invalid_request``, 401 ``invalid_token``, 403 ``insufficient_scope``.
Protected views are CSRF-exempt: they authenticate by token, never by cookie.

Both work on async views too (``async def`` views; class-based views whose handlers are
``async def``), with the same answers: the token is then verified by the async path
(``oauth_cc.resource.asynchronous``), which never blocks the event loop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import classonlymethod
from django.views.decorators.csrf import csrf_exempt

from .. import reporting
from ..errors import MethodNotAllowed, NoCredentials, ResourceError
from .principal import ClientPrincipal
from .requirements import AnyOf, check_scopes, requirement, unmapped, validate_spec
from .token_types import TokenType, for_request
from .verification import AccessToken

__all__ = ["AnyOf", "ProtectedResourceMixin", "scopes_required"]

logger = logging.getLogger("oauth_cc.decorators")

View = TypeVar("View", bound=Callable[..., Any])


def _method_not_allowed(spec: Mapping[str, Any]) -> HttpResponse:
    return MethodNotAllowed(sorted(k for k in spec if k.isupper() and k != "*")).to_response()


def _protect(request: HttpRequest, spec: Any, owner: str,
             handles: Callable[[str], bool] | None) -> HttpResponse | None:
    """None to go on to the view; otherwise the response that refuses the request."""
    reporting.protect(request)
    token_type = for_request(request)
    try:
        token = token_type.authenticate(request)
        return _admit(request, token, spec, owner, handles)
    except ResourceError as error:
        return _refuse(error, token_type)


async def _aprotect(request: HttpRequest, spec: Any, owner: str,
                    handles: Callable[[str], bool] | None) -> HttpResponse | None:
    """``_protect`` for an async view: the token is verified by the async path."""
    reporting.protect(request)
    token_type = for_request(request)
    try:
        token = await token_type.aauthenticate(request)
        return _admit(request, token, spec, owner, handles)
    except ResourceError as error:
        return _refuse(error, token_type)


def _admit(request: HttpRequest, token: AccessToken, spec: Any, owner: str,
           handles: Callable[[str], bool] | None) -> HttpResponse | None:
    """The scope check of a verified token; on success the request carries the token."""
    method = request.method or "GET"
    alternatives = requirement(spec, method=method, owner=owner)
    if alternatives is None:
        if handles is None or method == "OPTIONS":
            return _method_not_allowed(spec)
        if not handles(method):
            return None  # the view's dispatch answers 405
        raise unmapped(owner, method)
    check_scopes(token, alternatives)
    # Neither attribute's type allows this: oauth_token is ours, and the stubs allow only
    # User or AnonymousUser where a duck-typed ClientPrincipal stands in.
    request.oauth_token = token  # type: ignore[attr-defined]
    request.user = ClientPrincipal(token)  # type: ignore[assignment]
    return None


def _refuse(error: ResourceError, token_type: TokenType) -> HttpResponse:
    error.scheme = token_type.name
    if not isinstance(error, NoCredentials):
        logger.info("access token refused: %s", error.description)
    return error.to_response()


def scopes_required(*scopes: Any) -> Callable[[View], View]:
    """Require a valid access token with these scopes (all of them; or pass an ``AnyOf`` or
    a per-method mapping as the single argument; a method without an entry gets 405).
    Decorates sync and async views alike (like Django's own decorators)."""
    spec = scopes[0] if len(scopes) == 1 and not isinstance(scopes[0], str) else scopes
    validate_spec(spec, "scopes_required()")  # fail at import if malformed

    def decorator(view: View) -> View:
        if iscoroutinefunction(view):
            async def awrapped(request: HttpRequest, *args: Any, **kwargs: Any
                               ) -> HttpResponse:
                refused = await _aprotect(request, spec, view.__qualname__, None)
                if refused is not None:
                    return refused
                response: HttpResponse = await view(request, *args, **kwargs)
                return response

            wrapped: Callable[..., Any] = awrapped
        else:
            def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                refused = _protect(request, spec, view.__qualname__, None)
                return refused if refused is not None else view(request, *args, **kwargs)

        # functools.wraps keeps the view's attributes, not its type, for the checker.
        protected: View = csrf_exempt(functools.wraps(view)(wrapped))  # type: ignore[assignment]
        return protected

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

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """The view's dispatch behind the token and scope check; for a view whose handlers
        are async (Django's ``view_is_async``), a coroutine, as Django expects."""
        if self.view_is_async:  # type: ignore[attr-defined]
            return self._adispatch(request, *args, **kwargs)
        refused = _protect(request, self.required_scopes, type(self).__name__, self._handles)
        if refused is not None:
            return refused
        response: HttpResponse = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        return response

    async def _adispatch(self, request: HttpRequest, *args: Any, **kwargs: Any
                         ) -> HttpResponse:
        refused = await _aprotect(request, self.required_scopes, type(self).__name__,
                                  self._handles)
        if refused is not None:
            return refused
        response: HttpResponse = await super().dispatch(  # type: ignore[misc]
            request, *args, **kwargs)
        return response
