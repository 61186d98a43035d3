"""DRF permission that checks the scopes a view declares in ``required_scopes``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import (
    NOT,
    BasePermission,
    BasePermissionMetaclass,
    SingleOperandHolder,
)
from rest_framework.request import Request

from ..errors import InsufficientScope
from ..resource import AnyOf, check_scopes, requirement, unmapped, validate_spec
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


def _permission_denied(original: Callable[..., Any]) -> Callable[..., Any]:
    def permission_denied(request: Request, message: Any = None, code: Any = None) -> None:
        failure = getattr(request, FAILURE_ATTRIBUTE, None)
        if failure is not None and request.successful_authenticator is not None:
            raise InsufficientScopeDenied(failure)
        original(request, message=message, code=code)

    return permission_denied


def _handles(view: Any, method: str) -> bool:
    """Whether the view has a handler for ``method`` (else DRF will answer 405)."""
    name = method.lower()
    return name in getattr(view, "http_method_names", ()) and getattr(view, name, None) is not None


class _ScopePermissionMetaclass(BasePermissionMetaclass):
    def __invert__(cls) -> SingleOperandHolder:
        # Under ~, a failed scope check is what allows the request: do not report it.
        return SingleOperandHolder(NOT, functools.partial(cls, record_failure=False))


class HasScope(BasePermission, metaclass=_ScopePermissionMetaclass):
    """Allow a request whose access token has the scopes the view requires.

    The view declares them in ``required_scopes`` (see ``oauth_cc.resource``), or bind them to
    the class: ``permission_classes = [HasScope.require("items:read")]``. A view without a
    declaration, or a method the view handles without an entry in a mapping, fails with
    ``ImproperlyConfigured`` (for an authenticated request): never a silent allow. A method
    the view does not handle is left to DRF's 405.

    Composes with DRF's ``&``, ``|`` and ``~``: ``has_permission`` only answers True or False.
    When the view's permissions deny the request and a scope check of this class failed on
    the way, the 403 carries the RFC 6750 ``insufficient_scope`` challenge.
    """

    required_scopes: Any = None

    def __init__(self, record_failure: bool = True) -> None:
        self.record_failure = record_failure

    @classmethod
    def require(cls, *scopes: Any) -> type[HasScope]:
        """A subclass bound to ``scopes``: ``HasScope.require("a", "b")`` needs both;
        ``HasScope.require(AnyOf(...))`` or a mapping works as in ``required_scopes``."""
        spec = scopes[0] if len(scopes) == 1 and not isinstance(scopes[0], str) else scopes
        validate_spec(spec, "HasScope.require()")
        return type("HasScope", (cls,), {"required_scopes": spec})

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return False  # DRF answers 401 (no credentials) or 403
        spec = self.required_scopes
        if spec is None:
            spec = getattr(view, "required_scopes", None)
        owner, action = type(view).__name__, getattr(view, "action", None)
        alternatives = requirement(spec, method=request.method, action=action, owner=owner)
        if alternatives is None:
            if not _handles(view, request.method):
                return True  # nothing runs: DRF answers 405
            if request.method == "OPTIONS":
                return False
            raise unmapped(owner, request.method, action)
        try:
            check_scopes(token, alternatives)
        except InsufficientScope as failure:
            if self.record_failure and getattr(request, FAILURE_ATTRIBUTE, None) is None:
                setattr(request, FAILURE_ATTRIBUTE, failure)
                view.permission_denied = _permission_denied(view.permission_denied)
            return False
        return True


def required_scopes(*scopes: Any) -> Callable[[Any], Any]:
    """For ``@api_view`` functions: ``@required_scopes("items:read")`` under ``@api_view``."""

    def decorator(func: Any) -> Any:
        func.permission_classes = [HasScope.require(*scopes)]
        return func

    return decorator
