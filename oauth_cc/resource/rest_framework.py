"""Django REST framework integration: ``BearerTokenAuthentication``, ``HasScope`` and
``HasScopeOrStaff``.

Both answer with the same errors as every other part of oauth_cc (``oauth_cc.errors``),
through DRF's own exception handling: an ``OAuthAPIException`` carries the error's status,
JSON body and challenge, and DRF's default exception handler renders it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import (
    AND,
    NOT,
    OR,
    BasePermission,
    BasePermissionMetaclass,
    OperandHolder,
)
from rest_framework.request import Request

from .. import reporting
from ..errors import InsufficientScope, NoCredentials, ResourceError
from .principal import ClientPrincipal
from .requirements import AnyOf, check_scopes, requirement, unmapped, validate_spec
from .token_types import for_request
from .verification import AccessToken

if TYPE_CHECKING:
    from typing import Protocol

    class _ScopedFactory(Protocol):
        """A ``HasScope`` class or a ``_ScopedHolder``: both build with these keywords."""

        def __call__(self, *, decisive: bool, record: bool) -> Any: ...

__all__ = ["AnyOf", "BearerTokenAuthentication", "HasScope", "HasScopeOrStaff",
           "OAuthAPIException", "required_scopes"]

logger = logging.getLogger("oauth_cc.rest_framework")

#: Attribute of the DRF request holding the challenge for this request's 401.
CHALLENGE_ATTRIBUTE = "_oauth_cc_challenge"
#: Attribute of the DRF request holding the scope check's failure while permissions run.
FAILURE_ATTRIBUTE = "_oauth_cc_scope_failure"


class OAuthAPIException(exceptions.APIException):
    """An ``oauth_cc`` error for DRF: its status, JSON body and ``WWW-Authenticate``."""

    def __init__(self, error: ResourceError) -> None:
        super().__init__(detail=error.as_dict())
        self.status_code = error.status
        self.auth_header = error.challenge()
        self.error = error


class BearerTokenAuthentication(BaseAuthentication):
    """Authenticate with an access token (``Authorization: Bearer <token>``, or another
    registered token type's scheme).

    On success ``request.user`` is a ``ClientPrincipal`` and ``request.auth`` an
    ``AccessToken``. No token: returns None, so that other authentication classes may try
    and ``HasScope`` (or DRF) answers 401 with ``WWW-Authenticate: Bearer realm="api"``. A
    bad token: 401 ``invalid_token``; a malformed request: 400 ``invalid_request``. Put this
    class first in ``authentication_classes``: DRF takes the 401 challenge from the first.
    """

    def authenticate(self, request: Request) -> tuple[ClientPrincipal, AccessToken] | None:
        reporting.protect(request._request)
        token_type = for_request(request._request)
        try:
            token = token_type.authenticate(request._request)
        except NoCredentials:
            return None
        except ResourceError as error:
            if error.status == 401:
                logger.info("access token refused: %s", error.description)
            setattr(request, CHALLENGE_ATTRIBUTE, error.challenge())
            raise OAuthAPIException(error) from None
        return ClientPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        challenge = getattr(request, CHALLENGE_ATTRIBUTE, None)
        if challenge is None:
            challenge = NoCredentials(scheme=for_request(request._request).name).challenge()
        return str(challenge)


def _handles(view: Any, method: str) -> bool:
    """Whether the view has a handler for ``method`` (else DRF will answer 405)."""
    name = method.lower()
    return name in getattr(view, "http_method_names", ()) and getattr(view, name, None) is not None


# --- composition ----------------------------------------------------------------------------
#
# A failed scope check answers with its own 403 challenge (or a 401 without a token) exactly
# when it decides the request's fate. A HasScope on its own, or evaluated last, decides: it
# raises. Inside a composition that HasScope starts, or that ~ negates, it only records its
# failure on the request, and the outermost composition raises if the whole is refused and a
# failure was recorded. Compositions built with HasScope are ours through the metaclass and
# _ScopedHolder below (Python asks a subclass's reflected operator first, so that also holds
# with HasScope on the right); DRF's own holders only ever hold HasScope as their last
# operand, where it decides.


class _Scoped:
    """Marks permission classes and holders whose instances take ``decisive``/``record``."""


def _instantiate(operand: Any, *, record: bool) -> Any:
    if isinstance(operand, _Scoped) or (isinstance(operand, type) and issubclass(
            operand, _Scoped)):
        return cast("_ScopedFactory", operand)(decisive=False, record=record)
    return operand()


class _Decides:
    """Operator mixin: when outermost, raise the recorded failure of a refused request."""

    decisive: bool

    def has_permission(self, request: Request, view: Any) -> bool:
        if not self.decisive:
            return bool(super().has_permission(request, view))  # type: ignore[misc]
        setattr(request, FAILURE_ATTRIBUTE, None)
        allowed = bool(super().has_permission(request, view))  # type: ignore[misc]
        failure = getattr(request, FAILURE_ATTRIBUTE, None)
        setattr(request, FAILURE_ATTRIBUTE, None)
        if not allowed and failure is not None:
            raise OAuthAPIException(failure)
        return allowed


class _ScopedAND(_Decides, AND):
    pass


class _ScopedOR(_Decides, OR):
    pass


class _ScopedNOT(_Decides, NOT):
    pass


_OPERATORS: dict[type, type] = {AND: _ScopedAND, OR: _ScopedOR, NOT: _ScopedNOT}


class _Composing:
    """The permission operators, building ``_ScopedHolder``s."""

    def __and__(self, other: Any) -> _ScopedHolder:
        return _ScopedHolder(AND, self, other)

    def __or__(self, other: Any) -> _ScopedHolder:
        return _ScopedHolder(OR, self, other)

    def __rand__(self, other: Any) -> _ScopedHolder:
        return _ScopedHolder(AND, other, self)

    def __ror__(self, other: Any) -> _ScopedHolder:
        return _ScopedHolder(OR, other, self)

    def __invert__(self) -> _ScopedHolder:
        return _ScopedHolder(NOT, self)


# DRF's stubs type ``~`` as giving a SingleOperandHolder (and the metaclass's ``|`` is
# type's union): ours give a _ScopedHolder, an OperandHolder, as DRF's own code allows.
class _ScopedHolder(_Composing, _Scoped, OperandHolder):  # type: ignore[misc]
    """A composition involving ``HasScope``; called, it builds the operator instance."""

    # DRF's stubs declare an instance here; it is the operator class (AND, OR or NOT).
    operator_class: type  # type: ignore[assignment]

    def __init__(self, operator_class: type, *operands: Any) -> None:
        self.operator_class = operator_class
        self.operands = operands
        self.op1_class = operands[0]
        self.op2_class = operands[-1]

    def __call__(self, decisive: bool = True, record: bool = True) -> Any:
        record = record and self.operator_class is not NOT  # under ~, a failure allows
        built = [_instantiate(operand, record=record) for operand in self.operands]
        instance = _OPERATORS[self.operator_class](*built)
        instance.decisive = decisive
        return instance

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _ScopedHolder) and other.operator_class is self.operator_class
                and other.operands == self.operands)

    def __hash__(self) -> int:
        return hash((self.operator_class, self.operands))


class _ScopePermissionMetaclass(_Composing, BasePermissionMetaclass):  # type: ignore[misc]
    pass


class HasScope(_Scoped, BasePermission, metaclass=_ScopePermissionMetaclass):
    """Allow a request whose access token has the scopes the view requires.

    The view declares them in ``required_scopes`` (see ``oauth_cc.resource.requirements``),
    or bind them to the class: ``permission_classes = [HasScope.require("items:read")]``. A
    view without a declaration, or a method the view handles without an entry in a mapping,
    fails with ``ImproperlyConfigured`` (for an authenticated request): never a silent
    allow. A method the view does not handle is left to DRF's 405.

    A refusal answers 403 with the RFC 6750 ``insufficient_scope`` challenge, or 401 with a
    bare challenge when the request carried no token; composed with DRF's ``&``, ``|`` and
    ``~`` it does so when the scope check is what refused the request.
    """

    required_scopes: Any = None

    def __init__(self, decisive: bool = True, record: bool = True) -> None:
        self.decisive = decisive
        self.record = record

    @classmethod
    def require(cls, *scopes: Any) -> type[HasScope]:
        """A subclass bound to ``scopes``: ``HasScope.require("a", "b")`` needs both;
        ``HasScope.require(AnyOf(...))`` or a mapping works as in ``required_scopes``."""
        spec = scopes[0] if len(scopes) == 1 and not isinstance(scopes[0], str) else scopes
        validate_spec(spec, "HasScope.require()")
        return type("HasScope", (cls,), {"required_scopes": spec})

    def has_permission(self, request: Request, view: Any) -> bool:
        failure = self._failure(request, view)
        if failure is None:
            return True
        if failure is _REFUSED:
            return False
        assert isinstance(failure, ResourceError)  # neither None nor _REFUSED: the error
        if self.decisive:
            raise OAuthAPIException(failure)
        if self.record and getattr(request, FAILURE_ATTRIBUTE, None) is None:
            setattr(request, FAILURE_ATTRIBUTE, failure)
        return False

    def _failure(self, request: Request, view: Any) -> ResourceError | object | None:
        """None to allow; ``_REFUSED`` to refuse with DRF's own 403; else the error."""
        token = request.auth
        if not isinstance(token, AccessToken):
            if request.authenticators and request.successful_authenticator is None:
                return NoCredentials(scheme=for_request(request._request).name)
            return _REFUSED  # authenticated some other way, or cannot be: DRF's own 403
        spec = self.required_scopes
        if spec is None:
            spec = getattr(view, "required_scopes", None)
        owner, action = type(view).__name__, getattr(view, "action", None)
        # A str once DRF dispatches (its dispatch has called request.method.lower()).
        method = cast(str, request.method)
        alternatives = requirement(spec, method=method, action=action, owner=owner)
        if alternatives is None:
            if not _handles(view, method):
                return None  # nothing runs: DRF answers 405
            if method == "OPTIONS":
                return _REFUSED
            raise unmapped(owner, method, action)
        try:
            check_scopes(token, alternatives)
        except InsufficientScope as failure:
            failure.scheme = for_request(request._request).name
            return failure
        return None


#: A refusal that is not the scope check's to explain.
_REFUSED = object()


def _is_staff_user(request: Request) -> bool:
    """A logged-in, active Django staff user (session or another Django-user authentication),
    never a client with an access token."""
    user = getattr(request, "user", None)
    if user is None or isinstance(user, ClientPrincipal) or isinstance(request.auth,
                                                                       AccessToken):
        return False
    return (getattr(user, "is_authenticated", False) is True
            and getattr(user, "is_staff", False) is True
            and getattr(user, "is_active", True) is True)


class HasScopeOrStaff(HasScope):
    """``HasScope``, or a logged-in Django staff user: browse a protected API in DRF's
    browsable API with the admin's session.

    A request with an access token is judged by its scopes exactly as ``HasScope`` judges it
    (403 ``insufficient_scope``, 401 without a token); a staff user
    (``request.user.is_staff``, a real Django user authenticated by ``SessionAuthentication``
    or another class that yields one) is allowed every method, as if holding every scope; any
    other user gets DRF's 403. The view's ``required_scopes`` must still cover the method
    (else ``ImproperlyConfigured``), so adding staff access never hides a missing
    declaration. Put ``BearerTokenAuthentication`` first and ``SessionAuthentication`` after
    it in ``authentication_classes``; session requests that write need DRF's CSRF token.
    ``HasScopeOrStaff.require(...)`` and ``&``, ``|``, ``~`` work as with ``HasScope``.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if _is_staff_user(request):
            self._check_declared(request, view)
            return True
        return super().has_permission(request, view)

    def _check_declared(self, request: Request, view: Any) -> None:
        """``ImproperlyConfigured`` if the view declares no scopes for this request."""
        spec = self.required_scopes
        if spec is None:
            spec = getattr(view, "required_scopes", None)
        owner, action = type(view).__name__, getattr(view, "action", None)
        method = cast(str, request.method)
        if requirement(spec, method=method, action=action, owner=owner) is None and (
                _handles(view, method) and method != "OPTIONS"):
            raise unmapped(owner, method, action)


def required_scopes(*scopes: Any) -> Callable[[Any], Any]:
    """For ``@api_view`` functions: ``@required_scopes("items:read")`` under ``@api_view``."""

    def decorator(func: Any) -> Any:
        func.permission_classes = [HasScope.require(*scopes)]
        return func

    return decorator
