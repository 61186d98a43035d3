"""DRF permission that checks the scopes a view declares in ``required_scopes``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ..errors import InsufficientScope
from ..resource import AnyOf, check_scopes, requirement
from ..validation import AccessToken

__all__ = ["AnyOf", "HasScope", "InsufficientScopeDenied", "required_scopes"]

#: Attribute of the DRF request recording the first scope failure of this request.
FAILURE_ATTRIBUTE = "_oauth_cc_scope_failure"


class InsufficientScopeDenied(exceptions.PermissionDenied):
    """403 with ``WWW-Authenticate: Bearer ..., error="insufficient_scope"`` (BEARER-05)."""

    default_code = "insufficient_scope"

    def __init__(self, error: InsufficientScope) -> None:
        super().__init__(detail=error.as_dict())
        self.auth_header = error.challenge()


def _permission_denied(view: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    def permission_denied(request: Request, message: Any = None, code: Any = None) -> None:
        failure = getattr(request, FAILURE_ATTRIBUTE, None)
        if failure is not None and request.successful_authenticator is not None:
            raise InsufficientScopeDenied(failure)
        original(request, message=message, code=code)

    return permission_denied


class HasScope(BasePermission):
    """Allow a request whose access token has the scopes the view requires.

    The view declares them in ``required_scopes`` (see ``oauth_cc.resource``), or bind them to
    the class: ``permission_classes = [HasScope.require("items:read")]``. A view without a
    declaration fails with ``ImproperlyConfigured``: never a silent allow.

    Composes with DRF's ``&``, ``|`` and ``~``: ``has_permission`` only answers True or False.
    When the view's permissions deny the request and a scope check of this class failed on
    the way, the 403 carries the RFC 6750 ``insufficient_scope`` challenge.
    """

    required_scopes: Any = None

    @classmethod
    def require(cls, *scopes: Any) -> type[HasScope]:
        """A subclass bound to ``scopes``: ``HasScope.require("a", "b")`` needs both;
        ``HasScope.require(AnyOf(...))`` or a mapping works as in ``required_scopes``."""
        spec = scopes[0] if len(scopes) == 1 and not isinstance(scopes[0], str) else scopes
        requirement(spec, method="GET", owner="HasScope.require()")  # fail early if malformed
        return type("HasScope", (cls,), {"required_scopes": spec})

    def has_permission(self, request: Request, view: Any) -> bool:
        spec = self.required_scopes
        if spec is None:
            spec = getattr(view, "required_scopes", None)
        alternatives = requirement(
            spec, method=request.method, action=getattr(view, "action", None),
            owner=type(view).__name__,
        )
        token = request.auth
        if not isinstance(token, AccessToken):
            return False
        try:
            check_scopes(token, alternatives)
        except InsufficientScope as failure:
            if getattr(request, FAILURE_ATTRIBUTE, None) is None:
                setattr(request, FAILURE_ATTRIBUTE, failure)
                view.permission_denied = _permission_denied(view, view.permission_denied)
            return False
        return True


def required_scopes(*scopes: Any) -> Callable[[Any], Any]:
    """For ``@api_view`` functions: ``@required_scopes("items:read")`` under ``@api_view``."""

    def decorator(func: Any) -> Any:
        func.permission_classes = [HasScope.require(*scopes)]
        return func

    return decorator
