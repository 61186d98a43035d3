"""Django admin for clients, their secrets, scopes and signing keys.

A client secret is shown exactly once, in the response that creates it, and is never written
anywhere else: not in the session, the messages framework, a log entry or a log line. Signing
keys are read-only; the only way to change them is a rotation step (``keys.rotate()``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import clock, credentials, keys, scopes
from .models import Client, ClientSecret, Scope, SigningKey

SECRETS_TEMPLATE = "admin/oauth_cc/client/new_secrets.html"
ROTATE_TEMPLATE = "admin/oauth_cc/signingkey/rotate.html"


# --- clients --------------------------------------------------------------------------------

class ScopeChoiceField(forms.MultipleChoiceField):
    """Scope names as checkboxes; the cleaned value is the canonical scope string."""

    widget = forms.CheckboxSelectMultiple

    def clean(self, value: Any) -> str:
        return scopes.canonical(super().clean(value))


class ClientAdminForm(forms.ModelForm):
    """Client form whose scope fields are checkboxes over the registered ``Scope`` names."""

    allowed_scopes = ScopeChoiceField(
        label=_("Allowed scopes"), required=False,
        help_text=_("Scopes this client may request."),
    )
    default_scopes = ScopeChoiceField(
        label=_("Default scopes"), required=False,
        help_text=_("Scopes granted when a request names none; a subset of the allowed ones."),
    )

    class Meta:
        model = Client
        fields = ("name", "description", "is_active", "token_endpoint_auth_method",
                  "allowed_scopes", "default_scopes", "allowed_audiences",
                  "access_token_lifetime")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        registered = list(Scope.objects.values_list("name", flat=True))
        for name in ("allowed_scopes", "default_scopes"):
            stored = scopes.split_stored(getattr(self.instance, name))
            # A stored name that is no longer registered stays a choice, so that saving the
            # form does not silently drop it.
            unregistered = sorted(stored - set(registered))
            self.fields[name].choices = [(s, s) for s in registered] + [
                (s, _("%(name)s (not registered)") % {"name": s}) for s in unregistered
            ]
            self.initial[name] = sorted(stored)


class ClientSecretInlineForm(forms.ModelForm):
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
        return super().save(commit)


class ClientSecretInline(admin.TabularInline):
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
    """One plaintext secret for the response that shows it; never stored."""

    client: Client
    secret: str
    change_url: str


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    """Clients: the first secret appears once on creation; more come from an action."""

    form = ClientAdminForm
    inlines = [ClientSecretInline]
    list_display = ("client_id", "name", "is_active", "token_endpoint_auth_method", "created_at")
    list_display_links = ("client_id", "name")
    list_filter = ("is_active", "token_endpoint_auth_method")
    search_fields = ("name", "client_id")
    readonly_fields = ("client_id", "created_at", "updated_at")
    actions = ["deactivate", "generate_secret"]
    fieldsets = [
        (None, {"fields": ("name", "client_id", "description", "is_active")}),
        (_("Token endpoint"), {"fields": (
            "token_endpoint_auth_method", "allowed_scopes", "default_scopes",
            "allowed_audiences", "access_token_lifetime",
        )}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    ]
    add_fieldsets = [
        (None, {"fields": ("name", "description", "is_active")}),
        fieldsets[1],
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
        new = self._add_secret(request, obj, label="created in the admin")
        self.message_user(request, _("The client “%(name)s” was added.") % {"name": obj.name},
                          messages.SUCCESS)
        title = _("Client created: copy its secret now")
        return self._secrets_response(request, [new], title)

    @admin.action(description=_("Deactivate selected clients"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        """Turn clients off; their secrets stay but no longer authenticate."""
        count = 0
        for client in queryset.filter(is_active=True):
            client.is_active = False
            client.save(update_fields=["is_active", "updated_at"])
            label = str(self.opts.get_field("is_active").verbose_name).capitalize()
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
        return self._secrets_response(request, created, _("New secrets: copy them now"))

    def _add_secret(self, request: HttpRequest, client: Client, label: str) -> NewSecret:
        secret = client.add_secret(label=label)
        self.log_change(request, client, f"Generated a new secret {credentials.hint(secret)}")
        url = reverse("admin:oauth_cc_client_change", args=[client.pk],
                      current_app=self.admin_site.name)
        return NewSecret(client, secret, url)

    def _secrets_response(self, request: HttpRequest, new: list[NewSecret],
                          title: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "new_secrets": new,
        }
        response = TemplateResponse(request, SECRETS_TEMPLATE, context)
        add_never_cache_headers(response)
        response["Pragma"] = "no-cache"
        return response


# --- secrets and scopes -------------------------------------------------------------------

@admin.register(ClientSecret)
class ClientSecretAdmin(admin.ModelAdmin):
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


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):
    """Scopes clients may be allowed."""

    list_display = ("name", "description")
    search_fields = ("name", "description")


# --- signing keys -------------------------------------------------------------------------

@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    """Signing keys, read-only; rotation and pruning are the only operations.

    Rotation needs no selection: besides the actions, the changelist links to ``rotate/``,
    which also works before the first key exists.
    """

    list_display = ("kid", "algorithm", "state", "created_at", "activated_at", "publish_until")
    list_filter = ("state", "algorithm")
    search_fields = ("kid",)
    fields = ("kid", "algorithm", "state", "created_at", "activated_at", "retired_at",
              "publish_until", "public_jwk_display")
    readonly_fields = fields
    actions = ["rotate", "prune"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

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
        for line in done:
            self.message_user(request, line, messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_rotate"
        view = self.admin_site.admin_view(self.rotate_view)
        return [path("rotate/", view, name=name), *super().get_urls()]

    def changelist_view(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}),
                         "has_rotate_permission": self.has_rotate_permission(request)}
        return super().changelist_view(request, extra_context)

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
