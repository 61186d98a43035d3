"""Protecting django-ninja APIs (``pip install "oauth-cc[ninja]"``).

One auth class, the same scope language as DRF's ``required_scopes`` and
``@scopes_required``, and one call per API::

    from ninja import NinjaAPI, Router
    from oauth_cc.contrib.ninja import AnyOf, OAuthToken, install

    api = install(NinjaAPI())                     # errors and the OpenAPI scheme, once

    @api.get("/items", auth=OAuthToken("inventory:read"))
    def items(request): ...                       # request.auth: the AccessToken

    router = Router(auth=OAuthToken(AnyOf(["inventory:admin"], ["inventory:read"])))

- ``OAuthToken(*scopes)`` is a Ninja auth callable (``auth=`` on an operation, a router or
  the ``NinjaAPI``). It accepts every registered token type (Bearer, DPoP, certificate-bound
  tokens: the resource half's ``token_types``), checks the scopes (all of them; an
  ``AnyOf``; a mapping from HTTP method to either, ``"*"`` the fallback; none: any valid
  token), sets ``request.auth`` to the ``AccessToken`` and ``request.user`` to a
  ``ClientPrincipal``, as the decorators do.
- Sync and async operations: Ninja calls the same object from both. Called on an event loop
  (an ``async def`` operation) it returns a coroutine that verifies with
  ``oauth_cc.resource.asynchronous.authenticate``; called from a thread (a sync operation)
  it verifies synchronously there. No database or network call runs on the event loop.
- Lists of auth callables (``auth=[OAuthToken("a"), OAuthToken("b"), django_auth]``), in any
  order: a refusal is remembered on the request and ``OAuthToken`` answers None, so Ninja
  tries the next callable (any one accepting is enough, as the OpenAPI ``security`` says).
  The token is verified once per request (a DPoP proof checked twice would be a replay);
  each ``OAuthToken`` checks its own scopes.
- When no callable accepts, Ninja raises its ``AuthenticationError``; the handler
  ``install(api)`` registers answers with the remembered refusal: RFC 6750 §3, exactly the
  answers of the DRF views and the decorators (401 with a bare challenge without a token,
  400 ``invalid_request``, 401 ``invalid_token``, 403 ``insufficient_scope`` with
  ``scope=``), each with its ``WWW-Authenticate``, no-store and JSON body. The first
  refusal is kept, except that "no token" never hides a real error; with no refusal
  remembered (only other callables ran) the bare challenge.
- An API without ``install()`` gets the same handlers at its first refused request
  (found through the request's ``resolver_match``; logged once as a warning): every 401
  carries its challenge (RFC 9110 §15.5.2). Its OpenAPI schema stays Ninja's own.
- ``install(api)`` also makes ``api.get_openapi_schema()`` (and ``/openapi.json``) show the
  OAuth 2.0 scheme ``oauth_cc`` with the ``clientCredentials`` flow, its ``tokenUrl`` and
  scopes (read when a schema is generated, never at import), each operation's scopes (one
  requirement per ``AnyOf`` alternative), and the 401/403 responses.

``docs/howto/ninja.md`` says more.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, Final

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation, PathView
from ninja.security.base import AuthBase, SecuritySchema

from .. import reporting
from ..errors import NoCredentials, ResourceError
from ..resource import asynchronous, openapi
from ..resource.principal import ClientPrincipal
from ..resource.requirements import AnyOf, check_scopes, requirement, unmapped, validate_spec
from ..resource.token_types import for_request
from ..resource.verification import AccessToken

__all__ = ["ERROR_SCHEMA", "SCHEME_NAME", "AnyOf", "OAuthToken", "TokenRefused", "install",
           "scope_descriptions", "token_url"]

logger = logging.getLogger("oauth_cc.contrib.ninja")

#: Name of the security scheme in ``components.securitySchemes`` (as with drf-spectacular).
SCHEME_NAME: Final = openapi.SCHEME_NAME
#: Name of the error body's schema in ``components.schemas``.
ERROR_SCHEMA_NAME: Final = openapi.ERROR_SCHEMA_NAME
#: Attribute of a ``NinjaAPI`` that ``install()`` has prepared: its options.
_INSTALLED = "_oauth_cc_ninja"
#: Attribute of a ``NinjaAPI`` whose refusals oauth_cc renders (``install()``, or the first
#: refused request of an API without it).
_HANDLERS = "_oauth_cc_ninja_handlers"
_handlers_lock = threading.Lock()
#: Attributes of a request: the outcome of verifying its token (an ``AccessToken`` or the
#: ``ResourceError``), shared by every ``OAuthToken`` of the operation; the refusal to
#: answer with if no auth callable accepts the request.
_VERIFIED = "_oauth_cc_ninja_verified"
_REFUSAL = "_oauth_cc_ninja_refusal"

Alternatives = tuple[frozenset[str], ...]
#: A token is needed, whatever its scopes.
_ANY_TOKEN: Alternatives = (frozenset(),)


# --- the auth class ---------------------------------------------------------------------------

class TokenRefused(HttpError):
    """A ``ResourceError`` on its way through Ninja's exception handling.

    ``OAuthToken`` no longer raises it (a refusal is remembered on the request, so that Ninja
    tries the next auth callable); ``install(api)`` still renders one raised by a project's
    own code as the error's own response (status, challenge, JSON body).
    """

    def __init__(self, error: ResourceError) -> None:
        super().__init__(error.status, error.description or "Unauthorized")
        self.error = error


class OAuthToken(AuthBase):
    """A Ninja auth callable: a valid access token with the given scopes (RFC 6750).

    ``OAuthToken("a", "b")`` needs both scopes; ``OAuthToken(AnyOf(["admin"], ["a", "b"]))``
    either set; ``OAuthToken({"GET": "a", "POST": "b"})`` by HTTP method (``"*"``: any
    other; a method with no entry is a configuration error); ``OAuthToken()`` any valid
    token. A malformed declaration raises ``ImproperlyConfigured`` here, at import.

    It answers the ``AccessToken``, or None after remembering the refusal on the request, so
    that Ninja tries the operation's next auth callable (RFC 6750 §3 answers need
    ``install()``'s handler, which an API without it gets at its first refusal).
    """

    openapi_type: str = "oauth2"

    # Ninja awaits what an auth callable with ``is_async`` returns in an async operation,
    # and uses it as it is in a sync one: ``__call__`` returns a coroutine only on a loop.
    is_async = True

    def __init__(self, *scopes: Any) -> None:
        # AuthBase.__init__ is not called: it would fix the security scheme at import,
        # where the token URL and the scopes can only be read when a schema is generated.
        if not scopes:
            self.spec: Any = None
        else:
            self.spec = (scopes[0] if len(scopes) == 1 and not isinstance(scopes[0], str)
                         else scopes)
            validate_spec(self.spec, repr(self))

    def __repr__(self) -> str:
        return "OAuthToken()" if self.spec is None else f"OAuthToken({self.spec!r})"

    # Ninja's own schema generator (an API without ``install()``) reads this per operation;
    # AuthBase.__init__ would assign it.
    @property
    def openapi_security_schema(self) -> SecuritySchema:
        return SecuritySchema(**_scheme_definition(None, {}))

    @openapi_security_schema.setter
    def openapi_security_schema(self, value: SecuritySchema) -> None:
        pass

    def alternatives(self, method: str) -> Alternatives:
        """The scope sets, any one of which a token needs for ``method``."""
        if self.spec is None:
            return _ANY_TOKEN
        found = requirement(self.spec, method=method, owner=repr(self))
        if found is None:
            raise unmapped(repr(self), method)
        return found

    def __call__(self, request: HttpRequest
                 ) -> AccessToken | Coroutine[Any, Any, AccessToken | None] | None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.authenticate(request)
        return self.authenticate_async(request)

    def authenticate(self, request: HttpRequest) -> AccessToken | None:
        """Verify and check the request's token here, synchronously (a sync operation): the
        ``AccessToken``, or None with the refusal remembered."""
        reporting.protect(request)
        token_type = for_request(request)
        outcome: AccessToken | ResourceError | None = getattr(request, _VERIFIED, None)
        if outcome is None:
            try:
                outcome = token_type.authenticate(request)
            except ResourceError as error:
                outcome = error
            setattr(request, _VERIFIED, outcome)
        return self._check(request, outcome, token_type.name)

    async def authenticate_async(self, request: HttpRequest) -> AccessToken | None:
        """The same for an async operation: verification by ``asynchronous.authenticate``,
        which keeps database and network calls off the event loop."""
        reporting.protect(request)
        scheme = for_request(request).name  # reads a header: no I/O
        outcome: AccessToken | ResourceError | None = getattr(request, _VERIFIED, None)
        if outcome is None:
            try:
                outcome = await asynchronous.authenticate(request)
            except ResourceError as error:
                outcome = error
            setattr(request, _VERIFIED, outcome)
        return self._check(request, outcome, scheme)

    def _check(self, request: HttpRequest, outcome: AccessToken | ResourceError,
               scheme: str) -> AccessToken | None:
        """This callable's scopes on the request's verified token (RSV-07)."""
        if not isinstance(outcome, ResourceError):
            try:
                check_scopes(outcome, self.alternatives(request.method or "GET"))
            except ResourceError as error:
                outcome = error
            else:
                return _accept(request, outcome)
        _remember(request, outcome, scheme)
        return None


def _remember(request: HttpRequest, error: ResourceError, scheme: str) -> None:
    """Keep ``error`` for the answer if no auth callable accepts the request: the first
    refusal, except that no credentials never hides a real error (BEARER-08)."""
    error.scheme = scheme
    kept = getattr(request, _REFUSAL, None)
    if kept is None or (isinstance(kept, NoCredentials) and not isinstance(error, NoCredentials)):
        setattr(request, _REFUSAL, error)
    _ensure_handlers(request)


def _accept(request: HttpRequest, token: AccessToken) -> AccessToken:
    # Neither attribute's type allows this: oauth_token is ours, and the stubs allow only
    # User or AnonymousUser where a duck-typed ClientPrincipal stands in. Ninja sets
    # request.auth to the returned token.
    request.oauth_token = token  # type: ignore[attr-defined]
    request.user = ClientPrincipal(token)  # type: ignore[assignment]
    return token


# --- errors: install() or the first refusal ---------------------------------------------------

def _render_refusal(request: HttpRequest,
                    exc: AuthenticationError | type[AuthenticationError]) -> HttpResponse:
    """No auth callable accepted the request (Ninja's ``AuthenticationError``): the
    remembered refusal's own answer (status, ``WWW-Authenticate``, no-store, JSON body), or,
    with none remembered, the bare challenge of a request without a token (RFC 6750 §3.1;
    RFC 9110 §15.5.2: a 401 carries a challenge)."""
    error = getattr(request, _REFUSAL, None)
    if not isinstance(error, ResourceError):
        return NoCredentials().to_response()
    if not isinstance(error, NoCredentials):
        logger.info("access token refused: %s", error.description)
    return error.to_response()


def _render(request: HttpRequest, exc: TokenRefused | type[TokenRefused]) -> HttpResponse:
    """A ``TokenRefused`` raised by a project's code: the error's own answer."""
    assert isinstance(exc, TokenRefused)  # Ninja passes the instance it caught
    return exc.error.to_response()


def _register_handlers(api: NinjaAPI) -> None:
    api.add_exception_handler(AuthenticationError, _render_refusal)
    api.add_exception_handler(TokenRefused, _render)
    setattr(api, _HANDLERS, True)


def _api_of(request: HttpRequest) -> NinjaAPI | None:
    """The ``NinjaAPI`` serving ``request``: Ninja routes to a view function of a
    ``PathView`` (a closure over it; a bound method in older versions), whose operations know
    their API. None when the request did not come through Ninja's URL patterns."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    view = inspect.unwrap(match.func)
    candidates = [getattr(view, "__self__", None)]
    for cell in getattr(view, "__closure__", None) or ():
        try:
            candidates.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for candidate in candidates:
        if isinstance(candidate, PathView):
            for operation in candidate.operations:
                api = getattr(operation, "api", None)
                if isinstance(api, NinjaAPI):
                    return api
    return None


def _ensure_handlers(request: HttpRequest) -> None:
    """Give the request's API the refusal handlers if ``install()`` did not (GEN-09): once
    per API, under a lock, before Ninja raises its ``AuthenticationError``. A handler the
    project registered for ``AuthenticationError`` itself is kept."""
    api = _api_of(request)
    if api is None:
        logger.warning("oauth_cc cannot find the NinjaAPI of %s; a refusal is answered by "
                       "its exception handlers: call install(api).", request.path)
        return
    if getattr(api, _HANDLERS, False):
        return
    with _handlers_lock:
        if getattr(api, _HANDLERS, False):
            return
        own: Mapping[type, Any] = getattr(api, "_exception_handlers", {})
        if AuthenticationError in own:
            setattr(api, _HANDLERS, True)
            return
        _register_handlers(api)
    logger.warning("NinjaAPI %r uses OAuthToken without install(api): oauth_cc registered "
                   "its error handlers at the first refused request. Call install(api) where "
                   "the API is declared, which also adds the OAuth 2.0 scheme to its OpenAPI "
                   "schema.", api.urls_namespace)


# --- install: errors and the OpenAPI schema ---------------------------------------------------

def install(api: NinjaAPI, *, token_url: str | None = None,
            scopes: Mapping[str, str] | None = None) -> NinjaAPI:
    """Prepare ``api`` for ``OAuthToken``: refusals answer with their RFC 6750 challenge and
    JSON body, and the OpenAPI schema shows the OAuth 2.0 scheme. Returns ``api``; calling
    it again replaces the options.

    The handler of Ninja's ``AuthenticationError`` (raised when no auth callable of an
    operation accepts the request) answers with the refusal ``OAuthToken`` remembered, or
    the bare challenge if none did; one for ``TokenRefused`` is kept for projects raising
    it. ``token_url`` and ``scopes`` (name to description) replace what ``token_url()`` and
    ``scope_descriptions()`` would find.
    """
    _register_handlers(api)
    if not hasattr(api, _INSTALLED):
        original = api.get_openapi_schema

        def get_openapi_schema(*, path_prefix: str | None = None,
                               path_params: dict[str, Any] | None = None) -> OpenAPISchema:
            if path_prefix is None:
                path_prefix = api.get_root_path(path_params or {})
            return _Schema(api, path_prefix)

        get_openapi_schema.__wrapped__ = original  # type: ignore[attr-defined]
        api.get_openapi_schema = get_openapi_schema  # type: ignore[method-assign]
    setattr(api, _INSTALLED, {"token_url": token_url,
                              "scopes": None if scopes is None else dict(scopes)})
    return api


# --- the flow: token URL and scopes -----------------------------------------------------------

def token_url() -> str:
    """The ``tokenUrl`` of the ``clientCredentials`` flow when ``install()`` was not given
    one: ``oauth_cc.resource.openapi.token_url`` (this project's token endpoint, the one
    beside a remote ``JWKS_URI``, or a guess with a logged warning)."""
    return openapi.token_url(logger.warning, "Pass install(api, token_url=...) the "
                                             "authorization server's token endpoint.")


def scope_descriptions() -> dict[str, str]:
    """The scopes of the flow, name to description, when ``install()`` was not given them:
    the ``Scope`` rows in local mode (``oauth_cc.resource.openapi.registered_scopes``). The
    scopes the operations require are added to them."""
    return openapi.registered_scopes()


def _scheme_definition(url: str | None, scopes: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "oauth2",
        "description": "An access token from the OAuth 2.0 client credentials grant "
                       "(RFC 6749 §4.4), sent as `Authorization: Bearer <token>` (or "
                       "`Authorization: DPoP <token>` with a `DPoP` proof for a DPoP-bound "
                       "token, RFC 9449).",
        "flows": {"clientCredentials": {
            "tokenUrl": url if url is not None else token_url(), "scopes": scopes}},
    }


# --- the schema -------------------------------------------------------------------------------

ERROR_SCHEMA = openapi.ERROR_SCHEMA


class _Schema(OpenAPISchema):
    """Ninja's schema, with ``OAuthToken`` as the ``oauth_cc`` OAuth 2.0 scheme: one
    requirement per alternative of each operation, 401/403 responses."""

    def __init__(self, api: NinjaAPI, path_prefix: str) -> None:
        options: dict[str, Any] = getattr(api, _INSTALLED)
        self._oauth_token_url: str | None = options["token_url"]
        self._oauth_scopes: dict[str, str] | None = options["scopes"]
        self._oauth_definition: dict[str, Any] | None = None
        super().__init__(api, path_prefix)

    def _requirements(self, operation: Operation, method: str) -> list[dict[str, list[str]]]:
        """The operation's ``security``: each auth callable in turn (Ninja accepts the first
        that authenticates), ours as one requirement per scope set."""
        result: list[dict[str, list[str]]] = []
        for auth in operation.auth_callbacks:
            if isinstance(auth, OAuthToken):
                try:
                    alternatives = openapi.minimal(auth.alternatives(method))
                except ImproperlyConfigured as problem:
                    logger.warning("%s (every authenticated request to it fails)", problem)
                    alternatives = list(_ANY_TOKEN)
                self._define(frozenset().union(*alternatives))
                result.extend({SCHEME_NAME: sorted(scopes)} for scopes in alternatives)
            elif hasattr(auth, "openapi_security_schema"):  # as Ninja does
                name = type(auth).__name__
                result.append({name: []})
                self.securitySchemes[name] = auth.openapi_security_schema
        return result

    def _define(self, required: frozenset[str]) -> None:
        """The ``oauth_cc`` scheme, built on first use (the ``Scope`` rows read once per
        schema), with the scopes ``required`` added."""
        if self._oauth_definition is None:
            scopes = (dict(self._oauth_scopes) if self._oauth_scopes is not None
                      else scope_descriptions())
            self._oauth_definition = _scheme_definition(self._oauth_token_url, scopes)
            self.securitySchemes[SCHEME_NAME] = self._oauth_definition
        scopes = self._oauth_definition["flows"]["clientCredentials"]["scopes"]
        if required - set(scopes):
            merged = {name: "" for name in required} | scopes
            scopes.clear()
            scopes.update(sorted(merged.items()))

    def operation_security(self, operation: Operation) -> list[dict[str, Any]] | None:
        if not operation.auth_callbacks:
            return None
        return self._requirements(operation, operation.methods[0])

    def operation_details(self, operation: Operation) -> dict[str, Any]:
        details: dict[str, Any] = super().operation_details(operation)
        self._add_responses(details)
        return details

    def methods(self, operations: list[Operation]) -> dict[str, Any]:
        result: dict[str, Any] = super().methods(operations)
        # An operation of several methods has one entry per method; a per-method mapping
        # gives each its own requirements.
        for operation in operations:
            if not operation.include_in_schema or len(operation.methods) < 2:
                continue
            if not any(isinstance(a, OAuthToken) for a in operation.auth_callbacks):
                continue
            for method in operation.methods[1:]:
                details = dict(result[method.lower()])
                details["responses"] = {
                    k: v for k, v in details["responses"].items() if k not in (401, 403)}
                details["security"] = self._requirements(operation, method)
                self._add_responses(details)
                result[method.lower()] = details
        return result

    def _add_responses(self, details: dict[str, Any]) -> None:
        requirements = [r[SCHEME_NAME] for r in details.get("security", ())
                        if SCHEME_NAME in r]
        if not requirements:
            return
        self.schemas.setdefault(ERROR_SCHEMA_NAME, copy.deepcopy(ERROR_SCHEMA))
        reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}

        def response(description: str, challenge: str) -> dict[str, Any]:
            return {
                "description": description,
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"},
                                                 "description": challenge}},
                "content": {"application/json": {"schema": reference}},
            }

        responses = details.setdefault("responses", {})
        if 401 not in responses and "401" not in responses:
            responses[401] = response(
                "No access token where one is needed, or an invalid one (expired, revoked, "
                "wrong signature, issuer or audience...).", openapi.CHALLENGE_DESCRIPTION + ".")
        scoped = [scopes for scopes in requirements if scopes]
        if scoped and 403 not in responses and "403" not in responses:
            text = " or ".join(f"`{' '.join(scopes)}`" for scopes in scoped)
            responses[403] = response(
                f"The access token lacks the scopes this operation needs: {text} "
                "(`insufficient_scope`).",
                openapi.CHALLENGE_DESCRIPTION + ', with `error="insufficient_scope"` and `scope`.')
