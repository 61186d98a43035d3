"""Django admin for clients, their secrets, scopes, audiences, signing keys and tokens.

A client secret is shown exactly once and is never written anywhere lasting: not in the
session, the messages framework, a log entry or a log line. The POST that creates it answers
with a redirect (303) to ``<client changelist>/secrets/<handle>/``; the new secrets wait for
that one GET in a cache (``OAUTH_CC['REVOCATION_CACHE']``), encrypted with a key derived
from the handle, for ``SECRET_PAGE_SECONDS`` (see ``SecretPage``). A reload, or another
user, finds nothing: the secret is never shown twice and nothing is created twice. Signing
keys are read-only; the only way to change them is a rotation step (``keys.rotate()``).

Tokens are read-only too. An operator revokes a JWT or opaque access token by pasting it into
"Revoke a token" (RFC 7009 semantics, without the client authentication); like a secret, the
pasted token is never echoed, logged, or kept in the session or messages. Opaque tokens can also
be revoked from their list. Expired rows are deleted by ``manage.py purgetokens``, not here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets as secrets_module
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from cryptography.fernet import Fernet, InvalidToken
from django import forms
from django.contrib import admin, messages
from django.core.cache import BaseCache, caches
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import clock, credentials, scopes
from .models import (
    Audience,
    Client,
    ClientSecret,
    OpaqueToken,
    RevokedToken,
    Scope,
    SigningKey,
    TokenFormat,
)
from .registry import client_auth_methods
from .server import inspection, keys, revocation
from .settings import oauth_cc_settings

if TYPE_CHECKING:
    from django.db.models import Field
    from django_stubs_ext import StrOrPromise

    from .models import ExpiringQuerySet

# The admin and form classes below subclass ModelAdmin, TabularInline and ModelForm without
# their model as a type argument (``# type: ignore[type-arg]``): those classes are generic
# only in django-stubs, and subscripting them at run time needs django_stubs_ext.monkeypatch().

logger = logging.getLogger("oauth_cc.admin")

SECRETS_TEMPLATE = "admin/oauth_cc/client/new_secrets.html"
ROTATE_TEMPLATE = "admin/oauth_cc/signingkey/rotate.html"
REVOKE_TEMPLATE = "admin/oauth_cc/revokedtoken/revoke.html"


def _uses_secret(client: Client) -> bool:
    """Whether the client's registered method authenticates with a server-made secret."""
    method = client_auth_methods.get(client.token_endpoint_auth_method)
    return method is None or method.uses_secret


def _no_store(response: HttpResponse) -> HttpResponse:
    """Keep a page that shows or receives a credential out of every cache."""
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    return response


# --- clients --------------------------------------------------------------------------------

class ScopeChoiceField(forms.MultipleChoiceField):
    """Scope names as checkboxes; the cleaned value is the canonical scope string."""

    widget = forms.CheckboxSelectMultiple

    def clean(self, value: Any) -> str:
        return scopes.canonical(super().clean(value))


class AudienceChoiceField(forms.MultipleChoiceField):
    """Audience identifiers as checkboxes; the cleaned value is sorted, unique, space-separated."""

    widget = forms.CheckboxSelectMultiple

    def to_python(self, value: Any) -> list[str]:
        # An empty value (a form that posts "" for "none ticked") is no choice at all.
        return [v for v in super().to_python(value) if v]

    def clean(self, value: Any) -> str:
        return " ".join(sorted(set(super().clean(value))))


def audience_choices(stored: frozenset[str]) -> list[tuple[str, str]]:
    """Registered audiences, then ``DEFAULT_AUDIENCE`` (usable without a row), then names
    stored on the client that are neither (kept so that saving does not drop them)."""
    choices: list[tuple[str, str]] = []
    for identifier, name, is_active in Audience.objects.values_list(
            "identifier", "name", "is_active"):
        label = f"{identifier} ({name})" if name else identifier
        if not is_active:
            label = _("%(label)s (inactive)") % {"label": label}
        choices.append((identifier, label))
    known = {identifier for identifier, _label in choices}
    default = oauth_cc_settings.DEFAULT_AUDIENCE
    if default and default not in known:
        choices.append((default, _("%(name)s (DEFAULT_AUDIENCE)") % {"name": default}))
        known.add(default)
    choices += [(s, _("%(name)s (not registered)") % {"name": s})
                for s in sorted(stored - known)]
    return choices


#: The client's keys and certificate subject (private_key_jwt, mTLS), and its token binding.
KEY_FIELDS = ("jwks", "jwks_uri", "tls_client_auth_subject_dn", "tls_client_auth_san_dns",
              "tls_client_auth_san_uri", "tls_client_auth_san_ip", "tls_client_auth_san_email")
BINDING_FIELDS = ("dpop_bound_access_tokens", "tls_client_certificate_bound_access_tokens")


class ClientAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Client form whose scope and audience fields are checkboxes over the registered
    ``Scope`` names and ``Audience`` identifiers."""

    allowed_scopes = ScopeChoiceField(
        label=_("Allowed scopes"), required=False,
        help_text=_("Scopes this client may request."),
    )
    default_scopes = ScopeChoiceField(
        label=_("Default scopes"), required=False,
        help_text=_("Scopes granted when a request names none; a subset of the allowed ones."),
    )
    allowed_audiences = AudienceChoiceField(
        label=_("Allowed audiences"), required=False,
        help_text=_("APIs this client may get tokens for (RFC 8707 resource). None ticked: "
                    "only OAUTH_CC['DEFAULT_AUDIENCE']."),
    )

    class Meta:
        model = Client
        fields = ("name", "description", "is_active", "token_endpoint_auth_method",
                  "allowed_scopes", "default_scopes", "allowed_audiences",
                  "access_token_lifetime", "token_format", "can_introspect",
                  *KEY_FIELDS, *BINDING_FIELDS)
        widgets = {"jwks": forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        registered = list(Scope.objects.values_list("name", flat=True))
        for name in ("allowed_scopes", "default_scopes"):
            stored = scopes.split_stored(getattr(self.instance, name))
            # A stored name that is no longer registered stays a choice, so that saving the
            # form does not silently drop it.
            unregistered = sorted(stored - set(registered))
            cast(forms.ChoiceField, self.fields[name]).choices = [(s, s) for s in registered] + [
                (s, _("%(name)s (not registered)") % {"name": s}) for s in unregistered
            ]
            self.initial[name] = sorted(stored)
        stored_audiences = frozenset(self.instance.audience_list)
        cast(forms.ChoiceField, self.fields["allowed_audiences"]).choices = audience_choices(
            stored_audiences)
        self.initial["allowed_audiences"] = sorted(stored_audiences)


class ClientSecretInlineForm(forms.ModelForm):  # type: ignore[type-arg]
    """A secret's editable fields plus a ``revoke`` checkbox."""

    revoke = forms.BooleanField(
        label=_("Revoke"), required=False,
        help_text=_("Revoked secrets stop working at once."),
    )

    class Meta:
        model = ClientSecret
        fields = ("label", "expires_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.revoked_at is not None:
            self.fields["revoke"].initial = True
            self.fields["revoke"].disabled = True

    def save(self, commit: bool = True) -> ClientSecret:
        if self.cleaned_data.get("revoke") and self.instance.revoked_at is None:
            self.instance.revoked_at = clock.now()
        saved: ClientSecret = super().save(commit)
        return saved


class ClientSecretInline(admin.TabularInline):  # type: ignore[type-arg]
    """A client's secrets: revoke or set an expiry; never add one here, never see a digest."""

    model = ClientSecret
    form = ClientSecretInlineForm
    fields = ("hint", "label", "created_at", "expires_at", "revoked_at", "revoke")
    readonly_fields = ("hint", "created_at", "revoked_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@dataclass(frozen=True)
class NewSecret:
    """One plaintext secret for the page that shows it; kept only as ``SecretPage`` says."""

    client: Client
    secret: str
    change_url: str


class HttpResponseSeeOther(HttpResponseRedirect):
    """303: the browser follows with a GET, and a reload repeats the GET, not the POST."""

    status_code = 303


#: How long new secrets wait for their page (seconds): the redirect is followed at once.
SECRET_PAGE_SECONDS = 120
_SECRET_PAGE_PREFIX = "oauth_cc:admin:secret-page:"  # noqa: S105 (a cache key prefix)
_CREATED, _GENERATED = "created", "generated"
_TITLES: dict[str, StrOrPromise] = {
    _CREATED: _("Client created: copy its secret now"),
    _GENERATED: _("New secrets: copy them now"),
}


def secret_page_cache() -> BaseCache:
    """Where new secrets wait for their page: ``OAUTH_CC['REVOCATION_CACHE']``."""
    return caches[oauth_cc_settings.REVOCATION_CACHE]


@dataclass(frozen=True)
class SecretPage:
    """New secrets between the POST that made them and the one GET that shows them.

    They wait in the cache ``OAUTH_CC['REVOCATION_CACHE']`` names (``default`` unless set;
    the cache oauth_cc already needs shared between processes, check W002) under a handle,
    ``secrets.token_urlsafe(32)``, that only the redirect's URL carries. The cache key is a
    digest of the handle and the entry is encrypted (Fernet) with a key derived from it, so
    the cache alone (a Redis dump, a shared memcached) reveals no secret, and the URL alone,
    once used, finds nothing. The entry names the user who made it and the clients; the
    first GET by that user takes it out (single use), and it expires after
    ``SECRET_PAGE_SECONDS``.

    With a per-process cache (``LocMemCache``, Django's default) and several server
    processes, the GET may reach a process that never saw the entry: it then says that the
    secret has expired (generate a new one). Such deployments need a shared cache (Redis,
    memcached, the database cache) there. When the cache keeps nothing (``DummyCache``) or
    fails, the POST shows the secrets itself, as before post/redirect/get.
    """

    user_pk: str
    kind: str
    secrets: tuple[tuple[Any, str], ...]  # (client pk, plaintext secret)

    @staticmethod
    def _derive(handle: str, purpose: bytes) -> bytes:
        return hashlib.sha256(purpose + b"\x00" + handle.encode("ascii")).digest()

    @classmethod
    def _cache_key(cls, handle: str) -> str:
        return _SECRET_PAGE_PREFIX + cls._derive(handle, b"cache key").hex()

    @classmethod
    def _fernet(cls, handle: str) -> Fernet:
        return Fernet(base64.urlsafe_b64encode(cls._derive(handle, b"encryption key")))

    @sensitive_variables()
    def store(self) -> str | None:
        """Put the entry in the cache; its handle, or None when the cache did not keep it
        (a ``DummyCache``, an unreachable server)."""
        handle = secrets_module.token_urlsafe(32)
        payload = json.dumps({"user": self.user_pk, "kind": self.kind,
                              "secrets": [list(pair) for pair in self.secrets]})
        key = self._cache_key(handle)
        try:
            cache = secret_page_cache()
            cache.set(key, self._fernet(handle).encrypt(payload.encode()), SECRET_PAGE_SECONDS)
            if not cache.has_key(key):
                return None
        except Exception:  # any cache backend's error: show the secrets at once instead
            logger.warning("the admin's secret page could not use its cache",
                           exc_info=True)
            return None
        return handle

    @classmethod
    @sensitive_variables()
    def take(cls, handle: str, user_pk: str) -> SecretPage | None:
        """The entry for ``handle`` if ``user_pk`` made it, removed from the cache; None if
        there is none (used, expired, another process's memory) or another user made it
        (then it stays for its maker)."""
        key = cls._cache_key(handle)
        try:
            cache = secret_page_cache()
            token = cache.get(key)
            if not isinstance(token, bytes):
                return None
            data = json.loads(cls._fernet(handle).decrypt(token))
            if data["user"] != user_pk:
                return None
            # Only the request that removes the entry shows it: two GETs at once show it once.
            if not cache.delete(key):
                return None
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None
        except Exception:  # the cache went away between the POST and the GET
            logger.warning("the admin's secret page could not read its cache",
                           exc_info=True)
            return None
        return cls(data["user"], data["kind"],
                   tuple((pk, secret) for pk, secret in data["secrets"]))


class TokenFormatFilter(admin.SimpleListFilter):
    """Filter on ``token_format``, with the empty value (the setting's default) as a choice."""

    title = _("token format")
    parameter_name = "token_format"
    DEFAULT = "default"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
                ) -> list[tuple[str, StrOrPromise]]:
        return [(self.DEFAULT, _("default (OAUTH_CC['ACCESS_TOKEN_FORMAT'])")),
                *TokenFormat.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Client]) -> QuerySet[Client]:
        value = self.value()
        if value == self.DEFAULT:
            return queryset.filter(token_format="")
        if value in TokenFormat.values:
            return queryset.filter(token_format=value)
        return queryset


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Clients: the first secret appears once on creation; more come from an action."""

    form = ClientAdminForm
    inlines = [ClientSecretInline]
    list_display = ("client_id", "name", "is_active", "token_endpoint_auth_method",
                    "can_introspect", "created_at")
    list_display_links = ("client_id", "name")
    list_filter = ("is_active", "token_endpoint_auth_method", TokenFormatFilter,
                   "can_introspect")
    search_fields = ("name", "client_id")
    readonly_fields = ("client_id", "created_at", "updated_at")
    actions = ["deactivate", "generate_secret"]
    fieldsets = [
        (None, {"fields": ("name", "client_id", "description", "is_active")}),
        (_("Token endpoint"), {"fields": (
            "token_endpoint_auth_method", "allowed_scopes", "default_scopes",
            "allowed_audiences", "access_token_lifetime", "token_format",
        )}),
        (_("Keys and certificates"), {
            "fields": KEY_FIELDS, "classes": ["collapse"],
            "description": _("For private_key_jwt and self_signed_tls_client_auth: the "
                             "client's public keys. For tls_client_auth: exactly one "
                             "certificate subject."),
        }),
        (_("Sender-constrained tokens"), {"fields": BINDING_FIELDS}),
        (_("Introspection"), {"fields": ("can_introspect",)}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    ]
    add_fieldsets = [
        (None, {"fields": ("name", "description", "is_active")}),
        *fieldsets[1:5],
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Client | None = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_inlines(self, request: HttpRequest, obj: Client | None) -> list[Any]:
        return [] if obj is None else list(self.inlines)

    def response_add(self, request: HttpRequest, obj: Client,
                     post_url_continue: str | None = None) -> HttpResponse:
        """Give the new client its first secret and show it on this one page."""
        if not self.has_change_permission(request, obj):
            self.message_user(
                request, _("No secret was generated: that needs the change permission."),
                messages.WARNING,
            )
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, _("The client “%(name)s” was added.") % {"name": obj.name},
                          messages.SUCCESS)
        if not _uses_secret(obj):
            self.message_user(request, _(
                "No secret was generated: this client authenticates with its key or "
                "certificate."), messages.INFO)
            return super().response_add(request, obj, post_url_continue)
        new = self._add_secret(request, obj, label="created in the admin")
        return self._secrets_redirect(request, [new], _CREATED)

    @admin.action(description=_("Deactivate selected clients"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        """Turn clients off; their secrets stay but no longer authenticate."""
        count = 0
        for client in queryset.filter(is_active=True):
            client.is_active = False
            client.save(update_fields=["is_active", "updated_at"])
            field = cast("Field[Any, Any]", self.opts.get_field("is_active"))
            label = str(field.verbose_name).capitalize()
            self.log_change(request, client, [{"changed": {"fields": [label]}}])
            count += 1
        self.message_user(request, ngettext(
            "Deactivated %(count)d client.", "Deactivated %(count)d clients.", count,
        ) % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Generate a new secret"), permissions=["change"])
    def generate_secret(self, request: HttpRequest, queryset: QuerySet[Client]) -> HttpResponse:
        """Add a secret to each selected client; older secrets keep working (rotation)."""
        with transaction.atomic():
            created = [
                self._add_secret(request, client, label="generated in the admin")
                for client in queryset.select_for_update().order_by("name", "client_id")
            ]
        return self._secrets_redirect(request, created, _GENERATED)

    def _add_secret(self, request: HttpRequest, client: Client, label: str) -> NewSecret:
        secret = client.add_secret(label=label)
        self.log_change(request, client, f"Generated a new secret {credentials.hint(secret)}")
        return NewSecret(client, secret, self._change_url(client))

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        view = self.admin_site.admin_view(self.secrets_view)
        return [path("secrets/<str:handle>/", view,
                     name=f"{opts.app_label}_{opts.model_name}_secrets"),
                *super().get_urls()]

    @sensitive_variables()
    def _secrets_redirect(self, request: HttpRequest, new: list[NewSecret],
                          kind: str) -> HttpResponse:
        """Post/redirect/get: keep ``new`` for the one GET of the secrets page and redirect
        there (303). If the cache keeps nothing, show the secrets in this response."""
        if not new:
            return self._secrets_response(request, new, _TITLES[kind])
        page = SecretPage(str(request.user.pk), kind,
                          tuple((item.client.pk, item.secret) for item in new))
        handle = page.store()
        if handle is None:
            return self._secrets_response(request, new, _TITLES[kind])
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_secrets",
                      args=[handle], current_app=self.admin_site.name)
        return _no_store(HttpResponseSeeOther(url))

    def secrets_view(self, request: HttpRequest, handle: str) -> HttpResponse:
        """GET, once: the secrets a POST of this user just made; then, or for anyone else,
        a page saying they have been shown or have expired (410)."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        page = SecretPage.take(handle, str(request.user.pk))
        if page is None:
            return self._secrets_gone(request)
        clients = Client.objects.in_bulk([pk for pk, _secret in page.secrets])
        new = [
            NewSecret(clients[pk], secret, self._change_url(clients[pk]))
            for pk, secret in page.secrets
            if pk in clients and self.has_change_permission(request, clients[pk])
        ]
        if not new:
            return self._secrets_gone(request)
        return self._secrets_response(request, new, _TITLES.get(page.kind, _TITLES[_GENERATED]))

    def _change_url(self, client: Client) -> str:
        return reverse("admin:oauth_cc_client_change", args=[client.pk],
                       current_app=self.admin_site.name)

    def _secrets_gone(self, request: HttpRequest) -> HttpResponse:
        return self._secrets_response(request, [], _("Secret already shown or expired"),
                                      gone=True)

    def _secrets_response(self, request: HttpRequest, new: Sequence[NewSecret],
                          title: StrOrPromise, *, gone: bool = False) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "new_secrets": new,
            "secrets_gone": gone,
        }
        return _no_store(TemplateResponse(request, SECRETS_TEMPLATE, context,
                                          status=410 if gone else 200))


# --- secrets and scopes -------------------------------------------------------------------

@admin.register(ClientSecret)
class ClientSecretAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every client's secrets, to find and revoke them across clients."""

    list_display = ("hint", "client", "label", "created_at", "expires_at", "revoked_at",
                     "usable")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "expires_at", "created_at")
    list_select_related = ("client",)
    search_fields = ("client__name", "client__client_id", "label", "hint")
    fields = ("client", "hint", "label", "created_at", "expires_at", "revoked_at")
    readonly_fields = ("client", "hint", "created_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description=_("usable"))
    def usable(self, obj: ClientSecret) -> bool:
        return obj.is_usable()

    @admin.action(description=_("Revoke selected secrets"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ClientSecret]) -> None:
        """Revoke secrets at once; already revoked ones keep their revocation time."""
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=clock.now())
        self.message_user(request, ngettext(
            "Revoked %(count)d secret.", "Revoked %(count)d secrets.", count,
        ) % {"count": count}, messages.SUCCESS)


class ScopeAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """A scope, with the audiences it means something to as checkboxes (none: every one)."""

    audiences = AudienceChoiceField(
        label=_("Audiences"), required=False,
        help_text=_("APIs this scope means something to. A token for another API never "
                    "carries it. None ticked: every API."),
    )

    class Meta:
        model = Scope
        fields = ("name", "description", "audiences")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = frozenset(self.instance.audiences.split())
        cast(forms.ChoiceField, self.fields["audiences"]).choices = audience_choices(stored)
        self.initial["audiences"] = sorted(stored)


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Scopes clients may be allowed."""

    form = ScopeAdminForm
    list_display = ("name", "description", "audience_list")
    search_fields = ("name", "description", "audiences")

    @admin.display(description=_("audiences"))
    def audience_list(self, obj: Scope) -> str:
        return obj.audiences or str(_("every audience"))


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Protected APIs tokens can be issued for (RFC 8707). The identifier is fixed once
    created: clients list it and issued tokens carry it as ``aud``."""

    list_display = ("identifier", "name", "is_active", "access_token_lifetime")
    list_editable = ("is_active", "access_token_lifetime")
    list_filter = ("is_active",)
    search_fields = ("identifier", "name", "description")
    fields = ("identifier", "name", "description", "is_active", "access_token_lifetime",
              "created_at")
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Audience | None = None
                            ) -> tuple[str, ...]:
        return ("identifier", *self.readonly_fields) if obj else tuple(self.readonly_fields)


# --- signing keys -------------------------------------------------------------------------

class ReadOnlyAdminMixin:
    """Rows shown, never added, changed or deleted through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExtraPageMixin:
    """A model admin with one extra page at ``<changelist>/<extra_page>/``, guarded by
    ``has_<extra_page>_permission``; the changelist template is told whether to link it."""

    #: The page's URL segment; subclasses also define ``extra_page_view()`` returning the view.
    extra_page: str

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts  # type: ignore[attr-defined]
        name = f"{opts.app_label}_{opts.model_name}_{self.extra_page}"
        view = self.admin_site.admin_view(self.extra_page_view())  # type: ignore[attr-defined]
        return [path(f"{self.extra_page}/", view, name=name),
                *super().get_urls()]  # type: ignore[misc]

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        flag = f"has_{self.extra_page}_permission"
        extra_context = {**(extra_context or {}), flag: getattr(self, flag)(request)}
        response: HttpResponse = super().changelist_view(  # type: ignore[misc]
            request, extra_context)
        return response


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdminMixin, ExtraPageMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Signing keys, read-only; rotation and pruning are the only operations.

    Rotation needs no selection: besides the actions, the changelist links to ``rotate/``,
    which also works before the first key exists.
    """

    extra_page = "rotate"

    list_display = ("kid", "algorithm", "state", "created_at", "activated_at", "publish_until")
    list_filter = ("state", "algorithm")
    search_fields = ("kid",)
    fields = ("kid", "algorithm", "state", "created_at", "activated_at", "retired_at",
              "publish_until", "public_jwk_display")
    readonly_fields = fields
    actions = ["rotate", "prune"]

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        """Rotating and pruning keys needs the change permission on signing keys."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.display(description=_("public JWK"))
    def public_jwk_display(self, obj: SigningKey) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.public_jwk, indent=2))

    @admin.action(description=_("Rotate: advance key rotation one step"),
                  permissions=["rotate"])
    def rotate(self, request: HttpRequest, queryset: QuerySet[SigningKey] | None = None) -> None:
        """One ``keys.rotate()`` step, whatever is selected."""
        self._rotate(request, immediate=False)

    @admin.action(description=_("Prune expired retired keys"), permissions=["rotate"])
    def prune(self, request: HttpRequest, queryset: QuerySet[SigningKey] | None = None) -> None:
        """Remove retired keys past ``publish_until``, whatever is selected."""
        removed = keys.prune()
        if removed:
            self.message_user(request, _("Removed %(kids)s.") % {"kids": ", ".join(removed)},
                              messages.SUCCESS)
        else:
            self.message_user(request, _("No retired key is past its publication period."),
                              messages.INFO)

    def _rotate(self, request: HttpRequest, *, immediate: bool) -> None:
        try:
            done = keys.rotate(immediate=immediate)
        except (keys.KeyConfigurationError, ValueError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        except IntegrityError:
            self.message_user(request, _("Another key rotation ran at the same time; this one "
                                         "changed nothing."), messages.ERROR)
            return
        for line in done:
            self.message_user(request, line, messages.SUCCESS)

    def extra_page_view(self) -> Any:
        return self.rotate_view

    def rotate_view(self, request: HttpRequest) -> HttpResponse:
        """GET: explain and confirm; POST: one rotation step, then back to the list."""
        if not self.has_rotate_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            self._rotate(request, immediate=request.POST.get("immediate") == "on")
            return HttpResponseRedirect(reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist",
                current_app=self.admin_site.name,
            ))
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET", "POST"])
        state = SigningKey.State
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Rotate signing keys"),
            "active": SigningKey.objects.filter(state=state.ACTIVE).first(),
            "pending": SigningKey.objects.filter(state=state.PENDING).order_by("-created_at")
            .first(),
        }
        return TemplateResponse(request, ROTATE_TEMPLATE, context)


# --- tokens -------------------------------------------------------------------------------

NOT_OURS = _("This is not a token issued by this server.")


class UnrenderedTextarea(forms.Textarea):
    """A textarea that never renders its value: a redisplayed form comes back empty, like
    ``PasswordInput(render_value=False)``."""

    def format_value(self, value: Any) -> None:
        return None


class RevokeTokenForm(forms.Form):
    """One pasted access token; ``record`` is what ``inspection.identify`` found.

    The token itself is not kept in ``cleaned_data``: only its record is.
    """

    token = forms.CharField(
        label=_("Access token"),
        widget=UnrenderedTextarea(attrs={
            "rows": 6, "cols": 80, "autocomplete": "off", "spellcheck": "false",
            "autocapitalize": "off", "class": "vLargeTextField",
        }),
        help_text=_("A JWT or opaque access token issued by this server. It is not stored "
                    "and not shown again."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record: inspection.TokenRecord | None = None

    @sensitive_variables()
    def clean_token(self) -> str:
        raw = self.cleaned_data["token"]
        # Operators often copy the whole header value.
        if raw[:7].lower() == "bearer ":
            raw = raw[7:].strip()
        record = inspection.identify(raw)
        if record is None:
            raise forms.ValidationError(NOT_OURS, code="unknown_token")
        self.record = record
        return ""


def _has_expired(record: inspection.TokenRecord) -> bool:
    """Past ``exp`` plus ``CLOCK_LEEWAY``: no resource server accepts it any more."""
    exp = record.claims.get("exp")
    return not isinstance(exp, int | float) or clock.expired(exp)


@admin.register(RevokedToken)
class RevokedTokenAdmin(ReadOnlyAdminMixin, ExtraPageMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Revoked tokens (the denylist), read-only; ``revoke/`` revokes a pasted token.

    Rows are deleted by ``manage.py purgetokens`` once the token has expired.
    """

    extra_page = "revoke"

    list_display = ("jti", "client_id", "revoked_at", "expires_at")
    list_filter = ("client_id",)
    search_fields = ("jti", "client_id")
    fields = ("jti", "client_id", "revoked_at", "expires_at")
    readonly_fields = fields

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking a pasted token needs the add (or change) permission on revoked tokens."""
        label, model = self.opts.app_label, self.opts.model_name
        return (request.user.has_perm(f"{label}.add_{model}")
                or request.user.has_perm(f"{label}.change_{model}"))

    def extra_page_view(self) -> Any:
        return sensitive_post_parameters("token")(self.revoke_view)

    def revoke_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the form; POST: identify the pasted token and revoke it (RFC 7009 §2.1)."""
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = RevokeTokenForm(request.POST)
            if form.is_valid() and form.record is not None:
                self._revoke(request, form.record)
                # Redirect, so that reloading the page does not post the token again.
                return _no_store(HttpResponseRedirect(self._after_revoke_url(request)))
        elif request.method == "GET":
            form = RevokeTokenForm()
        else:
            return HttpResponseNotAllowed(["GET", "POST"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Revoke a token"),
            "form": form,
            "has_view_permission": self.has_view_permission(request),
        }
        return _no_store(TemplateResponse(request, REVOKE_TEMPLATE, context))

    def _revoke(self, request: HttpRequest, record: inspection.TokenRecord) -> None:
        names = {"jti": record.jti, "client_id": record.client_id}
        if record.revoked:
            self.message_user(request, _("Token %(jti)s of client %(client_id)s was already "
                                         "revoked.") % names, messages.INFO)
            return
        if _has_expired(record):
            self.message_user(request, _("Token %(jti)s of client %(client_id)s has expired; "
                                         "there is nothing to revoke.") % names, messages.INFO)
            return
        record.revoke()
        row = RevokedToken.objects.filter(jti=record.jti).first()
        if row is not None:
            self.log_addition(request, row, "Revoked by pasting the token in the admin.")
        self.message_user(request, _("Revoked token %(jti)s of client %(client_id)s.") % names,
                          messages.SUCCESS)

    def _after_revoke_url(self, request: HttpRequest) -> str:
        page = "changelist" if self.has_view_permission(request) else "revoke"
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{page}",
                       current_app=self.admin_site.name)


@admin.register(OpaqueToken)
class OpaqueTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Issued opaque tokens, read-only and never with their digest; revocable by an action."""

    list_display = ("jti", "client", "scope", "audience", "issued_at", "expires_at",
                    "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),
                   ("client", admin.RelatedOnlyFieldListFilter), "expires_at")
    list_select_related = ("client",)
    search_fields = ("jti", "client__client_id", "client__name")
    fields = ("jti", "client", "scope", "audience", "issued_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking opaque tokens needs the change permission on them."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description=_("Revoke selected tokens"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: ExpiringQuerySet[OpaqueToken]) -> None:
        """Revoke each selected token that is neither revoked nor expired."""
        live = queryset.filter(revoked_at__isnull=True).unexpired()
        count = 0
        for row in live.select_related("client"):
            revocation.revoke_opaque(row.jti)
            self.log_change(request, row, "Revoked in the admin.")
            count += 1
        self.message_user(request, ngettext(
            "Revoked %(count)d token.", "Revoked %(count)d tokens.", count,
        ) % {"count": count}, messages.SUCCESS if count else messages.INFO)
