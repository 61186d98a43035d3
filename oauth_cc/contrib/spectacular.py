"""OpenAPI schemas with drf-spectacular (``pip install "oauth-cc[openapi]"``).

Point DRF's schema class here; importing this module also registers the authentication
extension::

    INSTALLED_APPS = [..., "drf_spectacular"]
    REST_FRAMEWORK = {..., "DEFAULT_SCHEMA_CLASS": "oauth_cc.contrib.spectacular.AutoSchema"}

- ``BearerTokenScheme`` (an ``OpenApiAuthenticationExtension`` for
  ``BearerTokenAuthentication``) declares the OAuth 2.0 security scheme ``oauth_cc`` with
  the ``clientCredentials`` flow (its ``tokenUrl`` and ``scopes``: ``token_url()``,
  ``scope_descriptions()``), and gives each operation the security requirement its view's
  ``required_scopes`` (or ``HasScope.require(...)``, ``@required_scopes``) implies for that
  HTTP method or viewset action: one requirement per ``AnyOf`` alternative.
- ``AutoSchema`` adds the 401 and 403 responses, with the RFC 6750 error body
  (``OAuthError``), to the operations that take a token.

``docs/openapi.md`` says more. Nothing is read from the database at import time.
"""

from __future__ import annotations

from copy import deepcopy
from itertools import product
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.drainage import set_override, warn
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.settings import spectacular_settings
from rest_framework.permissions import AND, OR

from ..resource import openapi
from ..resource.requirements import requirement, unmapped
from ..resource.rest_framework import HasScope, OAuthAPIException

__all__ = ["SCHEME_NAME", "AutoSchema", "BearerTokenScheme", "required_alternatives",
           "scope_descriptions", "token_url"]

#: Name of the security scheme in ``components.securitySchemes``.
SCHEME_NAME = openapi.SCHEME_NAME
#: Name of the error body's schema in ``components.schemas``.
ERROR_SCHEMA_NAME = openapi.ERROR_SCHEMA_NAME

Alternatives = list[frozenset[str]]
#: A token is needed, whatever its scopes.
_ANY_TOKEN: Alternatives = [frozenset()]


# --- the flow: token URL and scopes -----------------------------------------------------------

def token_url() -> str:
    """The ``tokenUrl`` of the ``clientCredentials`` flow: drf-spectacular's
    ``SPECTACULAR_SETTINGS["OAUTH2_TOKEN_URL"]`` when set, else what
    ``oauth_cc.resource.openapi.token_url`` finds (this project's token endpoint, the one
    beside a remote ``JWKS_URI``, or a guess with a warning)."""
    configured = spectacular_settings.OAUTH2_TOKEN_URL
    if configured:
        return str(configured)
    return openapi.token_url(warn, "Set SPECTACULAR_SETTINGS['OAUTH2_TOKEN_URL'] to the "
                                   "authorization server's token endpoint.")


def scope_descriptions() -> dict[str, str]:
    """The scopes of the flow, name to description.

    drf-spectacular's ``SPECTACULAR_SETTINGS["OAUTH2_SCOPES"]`` when set; else, in local
    mode with oauth_cc installed and ``PUBLISH_SCOPES`` on, the ``Scope`` rows (read when a
    schema is generated, never at import). The scopes the operations require are added to
    either, with an empty description when nothing describes them.
    """
    configured = spectacular_settings.OAUTH2_SCOPES
    if configured:
        return {str(name): str(text) for name, text in dict(configured).items()}
    return openapi.registered_scopes()


# --- what an operation requires ---------------------------------------------------------------

def _owner(view: Any) -> str:
    return type(view).__name__


def _of_has_scope(permission: HasScope, view: Any, method: str,
                  action: str | None) -> Alternatives:
    spec = permission.required_scopes
    if spec is None:
        spec = getattr(view, "required_scopes", None)
    try:
        found = requirement(spec, method=method, action=action, owner=_owner(view))
    except ImproperlyConfigured as problem:
        warn(f"{problem} (every authenticated request to it fails with this error)")
        return _ANY_TOKEN
    if found is None:
        warn(f"{unmapped(_owner(view), method, action)} (every authenticated {method} "
             "request to it fails with this error)")
        return _ANY_TOKEN
    return list(found)


def _of_permission(permission: Any, view: Any, method: str,
                   action: str | None) -> Alternatives:
    """The scope sets of which a token needs one for ``permission`` to allow; ``_ANY_TOKEN``
    when it asks for no scope (or when that cannot be told: under ``~``)."""
    if isinstance(permission, HasScope):
        return _of_has_scope(permission, view, method, action)
    if isinstance(permission, AND | OR):
        first, second = _operands(permission)
        left = _of_permission(first, view, method, action)
        right = _of_permission(second, view, method, action)
        if isinstance(permission, OR):
            return left + right
        return [a | b for a, b in product(left, right)]
    return _ANY_TOKEN  # NOT, IsAuthenticated, a project's own permission...


def _operands(operator: Any) -> tuple[Any, Any]:
    """The two permissions a DRF ``AND`` or ``OR`` instance combines."""
    return operator.op1, operator.op2


def required_alternatives(view: Any, method: str) -> Alternatives:
    """The scope sets (any one of them) a token needs for ``method`` on ``view``: the view's
    permissions, all of which must allow, read the way ``HasScope`` reads them. ``[set()]``
    when a token with any scope will do."""
    action = getattr(view, "action", None)
    alternatives = _ANY_TOKEN
    for permission in view.get_permissions():
        own = _of_permission(permission, view, method.upper(), action)
        alternatives = [a | b for a, b in product(alternatives, own)]
    return openapi.minimal(alternatives)


# --- the extension ----------------------------------------------------------------------------

def _registered(auto_schema: Any, name: str, kind: str) -> ResolvedComponent | None:
    try:
        component: ResolvedComponent = auto_schema.registry[(name, kind)]
    except KeyError:
        return None
    return component


class _SchemeIdentity:
    """The identity of the ``oauth_cc`` security scheme in drf-spectacular's registry."""


set_override(_SchemeIdentity, "suppress_collision_warning", True)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The OAuth 2.0 ``clientCredentials`` scheme of ``BearerTokenAuthentication`` (and of
    its subclasses), with the scopes each operation requires."""

    target_class = "oauth_cc.resource.rest_framework.BearerTokenAuthentication"
    match_subclasses = True
    name = SCHEME_NAME
    #: The scopes of this operation's requirement (drf-spectacular asks for the requirement
    #: first, then the definition, of one instance per operation).
    _required: frozenset[str] = frozenset()

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        alternatives = required_alternatives(auto_schema.view, auto_schema.method)
        self._required = frozenset().union(*alternatives)
        return [{self.name: sorted(scopes)} for scopes in alternatives]

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        required = self._required
        existing = _registered(auto_schema, self.name, ResolvedComponent.SECURITY_SCHEMA)
        if existing is not None:  # built for an earlier operation: add this one's scopes
            built: dict[str, Any] = existing.schema
            _add_scopes(built["flows"]["clientCredentials"]["scopes"], required)
            return built
        scopes = scope_descriptions()
        _add_scopes(scopes, required)
        definition = {
            "type": "oauth2",
            "description": "An access token from the OAuth 2.0 client credentials grant "
                           "(RFC 6749 §4.4), sent as `Authorization: Bearer <token>`.",
            "flows": {"clientCredentials": {"tokenUrl": token_url(), "scopes": scopes}},
        }
        # Registered under our own identity: BearerTokenAuthentication and its subclasses
        # share the scheme without drf-spectacular warning of a name collision.
        auto_schema.registry.register_on_missing(ResolvedComponent(
            name=self.name, type=ResolvedComponent.SECURITY_SCHEMA, schema=definition,
            object=_SchemeIdentity))
        return definition


def _add_scopes(scopes: dict[str, str], names: frozenset[str]) -> None:
    """Add ``names`` (undescribed) to ``scopes``, in place, keeping it sorted by name."""
    if names - set(scopes):
        merged = {name: "" for name in names} | scopes
        scopes.clear()
        scopes.update(sorted(merged.items()))


# --- the error responses ----------------------------------------------------------------------

def _scope_text(alternatives: list[list[str]]) -> str:
    return " or ".join(f"`{' '.join(scopes)}`" for scopes in alternatives)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's ``AutoSchema``, plus the 401 (no or bad access token) and 403
    (``insufficient_scope``) responses of the operations that take an oauth_cc token.
    Responses an operation declares itself (``@extend_schema``) are kept."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        requirements = [r[SCHEME_NAME] for r in operation.get("security", ())
                        if SCHEME_NAME in r]
        if not requirements:
            return operation
        component = ResolvedComponent(
            name=ERROR_SCHEMA_NAME, type=ResolvedComponent.SCHEMA,
            schema=deepcopy(openapi.ERROR_SCHEMA), object=OAuthAPIException)
        self.registry.register_on_missing(component)

        def response(description: str, challenge: str) -> dict[str, Any]:
            return {
                "description": description,
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"},
                                                 "description": challenge}},
                "content": {"application/json": {"schema": component.ref}},
            }

        responses = operation.setdefault("responses", {})
        responses.setdefault("401", response(
            "No access token where one is needed, or an invalid one (expired, revoked, wrong "
            "signature, issuer or audience...).", openapi.CHALLENGE_DESCRIPTION + "."))
        scoped = [scopes for scopes in requirements if scopes]
        if scoped:
            responses.setdefault("403", response(
                "The access token lacks the scopes this operation needs: "
                f"{_scope_text(scoped)} (`insufficient_scope`).",
                openapi.CHALLENGE_DESCRIPTION + ', with `error="insufficient_scope"` and `scope`.'))
        return operation
