"""Database models: clients, their secrets, scopes, signing keys, revoked and opaque tokens.

Behaviour about one row, or one kind of row, lives here: which secrets are usable, which keys
are published, which revocations and opaque tokens have expired. The server and the local
resource-server adapter both read these definitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from . import clock, credentials, queries, registry, scopes


def validate_scope_token(value: str) -> None:
    if not scopes.is_scope_token(value):
        raise ValidationError(
            _("A scope name is one or more printable ASCII characters other than space, "
              '" and \\ (RFC 6749 §3.3).'),
            code="invalid_scope",
        )


def validate_scope_list(value: str) -> None:
    for name in value.split():
        validate_scope_token(name)


def is_absolute_uri(value: str) -> bool:
    """An absolute URI without fragment (RFC 8707 §2), with no whitespace."""
    if not value or any(c.isspace() for c in value) or not value.isascii():
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc or parts.path) and "#" not in value


def validate_audience_list(value: str) -> None:
    for uri in value.split():
        if not is_absolute_uri(uri):
            raise ValidationError(
                _("Each audience must be an absolute URI without fragment."),
                code="invalid_audience",
            )


class TokenFormat(models.TextChoices):
    JWT = "jwt", _("JWT (RFC 9068), validated locally")
    OPAQUE = "opaque", _("opaque, validated by a database lookup")


class Audience(models.Model):
    """A protected API that tokens can be issued for (RFC 8707 resource, JWT ``aud``)."""

    identifier = models.CharField(
        verbose_name=_("identifier"),
        max_length=255, unique=True, validators=[validate_audience_list],
        help_text=_("Absolute URI without fragment, e.g. https://api.example.com/orders. "
                    "Clients name it in the resource parameter; it becomes the token's aud."),
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    access_token_lifetime = models.PositiveIntegerField(
        verbose_name=_("access token lifetime"),
        null=True, blank=True,
        help_text=_("Seconds; tokens for this API live no longer than this (nor longer than "
                    "the client's lifetime or OAUTH_CC['MAX_ACCESS_TOKEN_LIFETIME'])."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("audience")
        verbose_name_plural = _("audiences")
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.name or self.identifier

    def clean(self) -> None:
        super().clean()
        if any(c.isspace() for c in self.identifier):
            raise ValidationError({"identifier": _("One URI, without spaces.")})


@receiver(post_delete, sender=Audience, dispatch_uid="oauth_cc_audience_deleted")
def _forget_deleted_audience(sender: type[Audience], instance: Audience, **kwargs: Any) -> None:
    """A deleted audience is no longer granted: drop it from every client that lists it."""
    for client in Client.objects.filter(allowed_audiences__contains=instance.identifier):
        kept = [uri for uri in client.audience_list if uri != instance.identifier]
        if len(kept) != len(client.audience_list):
            client.allowed_audiences = " ".join(kept)
            client.save(update_fields=["allowed_audiences", "updated_at"])


class TokenEndpointAuthMethod:
    """Names of the built-in client authentication methods (RFC 7591 §2). The choices of
    ``Client.token_endpoint_auth_method`` are every registered method
    (``oauth_cc.registry.client_auth_methods``)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 (a method name)
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 (a method name)


class Scope(models.Model):
    """A scope this server knows, with a description for humans."""

    name = models.CharField(_("name"), max_length=200, unique=True,
                            validators=[validate_scope_token])
    description = models.TextField(_("description"), blank=True)
    audiences = models.TextField(
        _("audiences"), blank=True, validators=[validate_audience_list],
        help_text=_("Absolute URIs of the APIs this scope means something to, separated by "
                    "spaces. A token for another audience never carries it. Empty: every "
                    "audience."),
    )

    class Meta:
        verbose_name = _("scope")
        verbose_name_plural = _("scopes")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@receiver(post_delete, sender=Scope, dispatch_uid="oauth_cc_scope_deleted")
def _forget_deleted_scope(sender: type[Scope], instance: Scope, **kwargs: Any) -> None:
    """A deleted scope is no longer granted: drop it from every client that lists it."""
    for client in Client.objects.filter(allowed_scopes__contains=instance.name):
        allowed = client.allowed_scope_set - {instance.name}
        default = client.default_scope_set - {instance.name}
        if allowed != client.allowed_scope_set or default != client.default_scope_set:
            client.allowed_scopes = scopes.canonical(allowed)
            client.default_scopes = scopes.canonical(default)
            client.save(update_fields=["allowed_scopes", "default_scopes", "updated_at"])


#: ``ValidationError`` code of a client name already in use (``oauth_cc_client_name_unique``).
CLIENT_NAME_TAKEN = "client_name_taken"


class Client(models.Model):
    """A confidential OAuth client that uses the client-credentials grant.

    Allowed and default scopes, and allowed audiences, are stored as space-separated strings
    (the RFC's own representation) so that authenticating a client and resolving its scopes
    costs a single query on the token endpoint.
    """

    client_id = models.CharField(
        verbose_name=_("client ID"),
        max_length=100, unique=True, editable=False, default=credentials.generate_client_id
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    token_endpoint_auth_method = models.CharField(
        verbose_name=_("authentication method"),
        max_length=40,
        choices=registry.client_auth_method_choices,
        default=TokenEndpointAuthMethod.CLIENT_SECRET_BASIC,
    )
    allowed_scopes = models.TextField(
        verbose_name=_("allowed scopes"),
        blank=True, validators=[validate_scope_list],
        help_text=_("Scopes this client may request, separated by spaces."),
    )
    default_scopes = models.TextField(
        verbose_name=_("default scopes"),
        blank=True, validators=[validate_scope_list],
        help_text=_("Scopes granted when a request names none; a subset of the allowed ones."),
    )
    allowed_audiences = models.TextField(
        verbose_name=_("allowed audiences"),
        blank=True, validators=[validate_audience_list],
        help_text=_("Absolute URIs of the APIs this client may get tokens for, separated by "
                    "spaces. Empty: only OAUTH_CC['DEFAULT_AUDIENCE']."),
    )
    access_token_lifetime = models.PositiveIntegerField(
        verbose_name=_("access token lifetime"),
        null=True, blank=True,
        help_text=_("Seconds; empty uses OAUTH_CC['ACCESS_TOKEN_LIFETIME']. Capped at "
                    "OAUTH_CC['MAX_ACCESS_TOKEN_LIFETIME']."),
    )
    token_format = models.CharField(
        verbose_name=_("token format"),
        max_length=10, choices=TokenFormat.choices, blank=True,
        help_text=_("Empty uses OAUTH_CC['ACCESS_TOKEN_FORMAT'] (jwt unless changed)."),
    )
    can_introspect = models.BooleanField(
        verbose_name=_("may introspect"),
        default=False,
        help_text=_("May call the introspection endpoint (RFC 7662) about any token."),
    )
    # --- keys and certificates (RFC 7591 §2, RFC 7523, RFC 8705) ---
    jwks = models.TextField(
        _("JWK Set"), blank=True,
        help_text=_("The client's public keys as a JWK Set (JSON), for private_key_jwt and "
                    "self_signed_tls_client_auth. Leave empty when a JWKS URI is given."),
    )
    jwks_uri = models.CharField(
        _("JWKS URI"), max_length=500, blank=True,
        help_text=_("An https URL where the client publishes its public keys; fetched with a "
                    "timeout, cached, never following redirects."),
    )
    tls_client_auth_subject_dn = models.CharField(
        _("certificate subject DN"), max_length=500, blank=True,
        help_text=_("tls_client_auth: the expected subject of the client certificate, as an "
                    "RFC 4514 string (e.g. CN=billing,O=Example). Set exactly one of the "
                    "subject DN and the SAN fields."),
    )
    tls_client_auth_san_dns = models.CharField(
        _("certificate SAN (DNS)"), max_length=255, blank=True)
    tls_client_auth_san_uri = models.CharField(
        _("certificate SAN (URI)"), max_length=500, blank=True)
    tls_client_auth_san_ip = models.CharField(
        _("certificate SAN (IP address)"), max_length=45, blank=True)
    tls_client_auth_san_email = models.CharField(
        _("certificate SAN (email)"), max_length=255, blank=True)
    # --- sender-constrained tokens (RFC 8705 §3, RFC 9449 §5.2) ---
    tls_client_certificate_bound_access_tokens = models.BooleanField(
        _("certificate-bound tokens"), default=False,
        help_text=_("Tokens are bound to the client's TLS certificate (cnf x5t#S256); a "
                    "token request without a certificate is refused."),
    )
    dpop_bound_access_tokens = models.BooleanField(
        _("DPoP required"), default=False,
        help_text=_("Every token request must carry a DPoP proof; tokens are DPoP-bound."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["name", "client_id"]
        constraints = [
            # Names identify clients to people (admin, logs, createclient): one per name,
            # ignoring case, so that "Billing" and "billing" are not two clients.
            models.UniqueConstraint(
                Lower("name"), name="oauth_cc_client_name_unique",
                violation_error_code=CLIENT_NAME_TAKEN,
                violation_error_message=_("A client with this name already exists (names "
                                          "are compared without regard to case)."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    def validate_constraints(self, exclude: Any = None) -> None:
        """Django reports a constraint on an expression as a non-field error; report the
        name's uniqueness on ``name``, where forms show it next to the field."""
        try:
            super().validate_constraints(exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict({})
            general = errors.pop(NON_FIELD_ERRORS, [])
            for error in general:
                key = "name" if getattr(error, "code", None) == CLIENT_NAME_TAKEN else (
                    NON_FIELD_ERRORS)
                errors.setdefault(key, []).append(error)
            raise ValidationError(errors) from None

    def clean(self) -> None:
        super().clean()
        self.allowed_scopes = scopes.canonical(self.allowed_scopes.split())
        self.default_scopes = scopes.canonical(self.default_scopes.split())
        extra = set(self.default_scopes.split()) - set(self.allowed_scopes.split())
        if extra:
            raise ValidationError(
                {"default_scopes": _("Default scopes must also be allowed scopes.")}
            )
        if self.access_token_lifetime is not None and self.access_token_lifetime < 1:
            raise ValidationError({"access_token_lifetime": _("Must be at least one second.")})
        method = registry.client_auth_methods.get(self.token_endpoint_auth_method)
        if method is not None:
            # Each method says what a client registered for it needs (keys, a subject).
            method.check_registration(self)

    @property
    def jwks_keys(self) -> list[dict[str, Any]]:
        """The JWKs of ``jwks`` (an empty list when none or malformed)."""
        if not self.jwks:
            return []
        try:
            document = json.loads(self.jwks)
        except ValueError:
            return []
        found = document.get("keys") if isinstance(document, dict) else None
        return [jwk for jwk in found if isinstance(jwk, dict)] if isinstance(found, list) else []

    @property
    def allowed_scope_set(self) -> frozenset[str]:
        return scopes.split_stored(self.allowed_scopes)

    @property
    def default_scope_set(self) -> frozenset[str]:
        return scopes.split_stored(self.default_scopes)

    @property
    def audience_list(self) -> list[str]:
        return self.allowed_audiences.split()

    def add_secret(self, *, expires_at: datetime | None = None, label: str = "") -> str:
        """Create a new secret for this client and return its plaintext, once."""
        method = registry.client_auth_methods.get(self.token_endpoint_auth_method)
        plaintext = credentials.generate_secret(
            method.secret_length if method is not None else credentials.SECRET_RANDOM_LENGTH)
        ClientSecret.objects.create(
            client=self,
            digest=credentials.digest(plaintext),
            hint=credentials.hint(plaintext),
            expires_at=expires_at,
            label=label,
            # A method that checks a MAC with the secret (client_secret_jwt) keeps it
            # encrypted at rest; every other method keeps only the digest (GEN-07).
            encrypted_secret=method.seal(plaintext) if method is not None else None,
        )
        return plaintext


class ClientSecretQuerySet(models.QuerySet["ClientSecret"]):
    def usable(self, at: datetime | None = None) -> ClientSecretQuerySet:
        """Secrets that are neither revoked nor expired: the one definition, also compiled
        for the token endpoint's lookup (``oauth_cc.server.client_secret``)."""
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=at or clock.now())
        )


class ClientSecret(models.Model):
    """One of a client's secrets. Only the SHA-256 digest is kept (GEN-07).

    A secret imported from django-oauth-toolkit as a Django password hash is kept in
    ``legacy_hash`` instead, with an unmatchable ``digest``; the first token request that
    presents it replaces both by the SHA-256 digest (``oauth_cc.server.client_secret``).
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="secrets",
                               verbose_name=_("client"))
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    hint = models.CharField(_("hint"), max_length=40, editable=False)
    label = models.CharField(_("label"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    legacy_hash = models.CharField(
        max_length=255, blank=True, editable=False, verbose_name=_("legacy hash"),
        help_text=_("A Django password hash imported from django-oauth-toolkit; emptied "
                    "when the client first presents the secret and its SHA-256 digest is "
                    "stored instead."),
    )
    encrypted_secret = models.BinaryField(
        _("encrypted secret"), null=True, blank=True, editable=False,
        help_text=_("client_secret_jwt only: the secret itself, encrypted with "
                    "OAUTH_CC['KEY_ENCRYPTION_KEYS'], since an HMAC is checked with it."),
    )

    objects = ClientSecretQuerySet.as_manager()

    #: Starts the ``digest`` of a secret kept as ``legacy_hash``: not hexadecimal, so no
    #: SHA-256 digest of a presented secret can equal it.
    UNMATCHABLE_DIGEST_PREFIX = "legacy:"

    class Meta:
        verbose_name = _("client secret")
        verbose_name_plural = _("client secrets")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.hint

    def is_usable(self, at: datetime | None = None) -> bool:
        """Whether this secret is among ``ClientSecret.objects.usable(at)``."""
        at = at or clock.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > at)

    @classmethod
    def unmatchable_digest(cls) -> str:
        """A unique ``digest`` for a row checked through ``legacy_hash``: the prefix, then
        random hex to the column's 64 characters (228 bits)."""
        import secrets

        prefix = cls.UNMATCHABLE_DIGEST_PREFIX
        return prefix + secrets.token_hex(32)[: 64 - len(prefix)]

    @staticmethod
    def imported_hint(plaintext: str | None = None) -> str:
        """The hint of an imported secret: its first characters when the plaintext is known
        and long enough for them to give little away, else only that it was imported."""
        if plaintext is not None and len(plaintext) >= 32:
            return plaintext[: credentials.HINT_LENGTH] + "…"
        return "imported…"


class SigningKeyQuerySet(models.QuerySet["SigningKey"]):
    def published(self, at: datetime | None = None) -> SigningKeyQuerySet:
        """Keys in the JWKS: pending, active, and retired ones before ``publish_until``."""
        at = at or clock.now()
        return self.filter(
            models.Q(state__in=["pending", "active"])
            | models.Q(state="retired", publish_until__gt=at)
        ).order_by("created_at")


class SigningKey(models.Model):
    """A key that signs access tokens, with its publication lifecycle (JWKS-07).

    ``pending`` keys are published but do not sign yet, so that resource servers learn them
    before the first token; ``active`` is the one signing key; ``retired`` keys no longer sign
    but stay published until ``publish_until``, when every token they signed has expired;
    ``removed`` keys are neither published nor usable, and their private key is erased.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("published, not yet signing")
        ACTIVE = "active", _("signing")
        RETIRED = "retired", _("retired, still published")
        REMOVED = "removed", _("removed")

    kid = models.CharField(_("key ID"), max_length=100, unique=True, editable=False)
    algorithm = models.CharField(_("algorithm"), max_length=10, editable=False)
    state = models.CharField(_("state"), max_length=10, choices=State.choices,
                             default=State.PENDING)
    encrypted_private_key = models.BinaryField(_("encrypted private key"), editable=False)
    public_jwk_json = models.TextField(_("public JWK"), editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True, editable=False)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True, editable=False)
    publish_until = models.DateTimeField(_("published until"), null=True, blank=True,
                                         editable=False)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="oauth_cc_one_active_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm}, {self.state})"

    @property
    def public_jwk(self) -> dict[str, Any]:
        return cast("dict[str, Any]", json.loads(self.public_jwk_json))


_Token = TypeVar("_Token", bound=models.Model)


class ExpiringQuerySet(models.QuerySet[_Token]):
    """Rows of tokens, by ``clock.expired()``: past ``exp`` plus ``CLOCK_LEEWAY``."""

    def expired(self) -> ExpiringQuerySet[_Token]:
        return self.filter(expires_at__lte=clock.expiry_cutoff())

    def unexpired(self) -> ExpiringQuerySet[_Token]:
        return self.filter(expires_at__gt=clock.expiry_cutoff())


class RevokedToken(models.Model):
    """A revoked access token, JWT or opaque, kept until it would have expired (RFC 7009,
    X-11)."""

    jti = models.CharField(_("token ID (jti)"), max_length=255, unique=True)
    client_id = models.CharField(_("client ID"), max_length=100, db_index=True)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    revoked_at = models.DateTimeField(verbose_name=_("revoked"))

    objects = ExpiringQuerySet.as_manager()

    class Meta:
        verbose_name = _("revoked token")
        verbose_name_plural = _("revoked tokens")
        ordering = ["-revoked_at"]

    def __str__(self) -> str:
        return f"{self.jti} ({self.client_id})"


class OpaqueToken(models.Model):
    """An opaque access token. Only its SHA-256 digest is stored (GEN-07)."""

    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    jti = models.CharField(_("token ID (jti)"), max_length=64, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="opaque_tokens",
                               verbose_name=_("client"))
    scope = models.TextField(_("scope"), blank=True)
    audience = models.TextField(verbose_name=_("audience"))
    issued_at = models.DateTimeField(verbose_name=_("issued"))
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = ExpiringQuerySet.as_manager()

    class Meta:
        verbose_name = _("opaque token")
        verbose_name_plural = _("opaque tokens")
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"{self.jti} ({self.client.client_id})"

    @staticmethod
    def find(digest: str) -> OpaqueRecord | None:
        """The token whose hex SHA-256 (``credentials.digest``) is ``digest``: one indexed
        lookup, compiled once (``queries``)."""
        _alias, rows = _OPAQUE_LOOKUP.rows(digest=digest)
        if not rows:
            return None
        jti, scope, audience, issued_at, expires_at, revoked_at, client_id = rows[0]
        return OpaqueRecord(jti, scope, audience, queries.aware(issued_at),
                            queries.aware(expires_at), queries.aware(revoked_at), client_id)


@dataclass(frozen=True, slots=True)
class OpaqueRecord:
    """An opaque token's row, as validation and introspection need it."""

    jti: str
    scope: str
    audience: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    client_id: str

    def claims(self, issuer: str) -> dict[str, Any]:
        """The claims the token stands for, as a JWT would carry them."""
        audiences = self.audience.split()
        return {
            "iss": issuer, "sub": self.client_id,
            "aud": audiences[0] if len(audiences) == 1 else audiences,
            "exp": int(self.expires_at.timestamp()), "iat": int(self.issued_at.timestamp()),
            "jti": self.jti, "client_id": self.client_id, "scope": self.scope,
        }


_OPAQUE_LOOKUP = queries.CompiledQuery(
    OpaqueToken,
    lambda digest: OpaqueToken.objects.filter(digest=digest).order_by().values_list(
        "jti", "scope", "audience", "issued_at", "expires_at", "revoked_at",
        "client__client_id"),
    digest="\x01opaque-token-digest",
)
