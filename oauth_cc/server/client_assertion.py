"""JWT client assertions: ``private_key_jwt`` and ``client_secret_jwt`` (RFC 7523 §2.2 and
§3, RFC 7521 §4.2), at the token, introspection and revocation endpoints (JWTCA-01..12).

The client sends ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
and ``client_assertion``, a JWS whose ``iss`` and ``sub`` are its client_id and whose ``aud``
is this server's issuer identifier. ``private_key_jwt`` verifies it with one of the client's
public keys (``client_keys``: its ``jwks`` or ``jwks_uri``); ``client_secret_jwt`` with an
HMAC keyed by one of the client's usable secrets, kept encrypted at rest for this purpose
(``seal()``; ``ClientSecret.encrypted_secret``).

Which of the two a request uses follows from the assertion's ``alg``: an HMAC algorithm
(``HS256``/``HS384``/``HS512``) is ``client_secret_jwt``, any other ``private_key_jwt``. So
exactly one method detects an assertion, and a MAC made with a public key (the "HMAC with
a public key" attack) is checked as ``client_secret_jwt``, against the client's secret, never
against its public key. The algorithm a key verifies comes from the key (and the server's
allow-list), never from the header alone (JWTCA-08).

The unverified ``iss`` is read only to find the client; PyJWT then verifies the signature,
``iss``, ``sub``, ``aud`` and the required claims, with the algorithm fixed in advance.
Times are checked against ``oauth_cc.clock`` (the project's one clock, which tests freeze),
as the resource half does. A used ``jti`` is refused until the assertion expires
(``replay.first_use``, in the shared ``REPLAY_CACHE``). Every failure is ``invalid_client``
with status 400 (no Authorization header is involved, X-07), logged through
``client_auth.report`` without the assertion.
"""

from __future__ import annotations

import functools
import logging
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import jwt
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from jwt.exceptions import InvalidSubjectError

from .. import clock, replay
from ..errors import InvalidRequest, TemporarilyUnavailable
from ..models import Client, ClientSecret
from ..registry import client_auth_methods
from ..settings import oauth_cc_settings
from . import client_keys, keys
from .client_auth import ClientAuthMethod, report, searchable
from .http import FormParameters

logger = logging.getLogger("oauth_cc.client_auth")

#: RFC 7523 §2.2 (JWTCA-01): compared exactly.
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: The MAC algorithms of client_secret_jwt and the least secret length, in octets, each
#: needs: the size of its hash (RFC 7518 §3.2, JWTCA-08).
MAC_ALGORITHMS: Mapping[str, int] = {"HS256": 32, "HS384": 48, "HS512": 64}

#: Longest ``client_assertion`` read, in characters.
MAX_ASSERTION_LENGTH = 8192

#: ``typ`` values accepted, compared without regard to case (JWTCA-11): none, plain JWT,
#: and the draft's explicit type. Any other type (``at+jwt``, ``dpop+jwt``, ...) is another
#: kind of JWT and refused (RFC 8725 §3.12).
ACCEPTED_TYPES = frozenset({"jwt", "application/jwt", "client-authentication+jwt",
                            "application/client-authentication+jwt"})

_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "jti"]

_PARAMETERS = frozenset({"client_assertion", "client_assertion_type", "client_id"})


class _Refused(Exception):
    """An assertion is refused; ``reason`` goes to the log, never to the client."""

    def __init__(self, reason: str, client_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_id = client_id


def _presented(params: FormParameters) -> bool:
    return "client_assertion" in params or "client_assertion_type" in params


def _is_mac(params: FormParameters) -> bool:
    """Whether the assertion's (unverified) ``alg`` is an HMAC algorithm."""
    assertion = params.get("client_assertion")
    if assertion is None or len(assertion) > MAX_ASSERTION_LENGTH:
        return False
    try:
        algorithm = jwt.get_unverified_header(assertion).get("alg")
    except Exception:  # malformed: private_key_jwt answers (invalid_client)
        return False
    return isinstance(algorithm, str) and algorithm in MAC_ALGORITHMS


def accepted_audiences() -> list[str]:
    """The ``aud`` values accepted (JWTCA-04, X-06): the issuer identifier; with
    ``CLIENT_ASSERTION_ACCEPT_TOKEN_ENDPOINT_AUDIENCE`` also the token endpoint URL. The
    same at the token, introspection and revocation endpoints."""
    issuer = str(oauth_cc_settings.ISSUER)
    audiences = [issuer]
    if oauth_cc_settings.CLIENT_ASSERTION_ACCEPT_TOKEN_ENDPOINT_AUDIENCE:
        parts = urlsplit(issuer)
        audiences.append(f"{parts.scheme}://{parts.netloc}{reverse('oauth_cc:token')}")
    return audiences


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # RFC 7519 §2 NumericDate: a JSON number, not a string or a boolean, within reason.
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value < 1e11):
        raise _Refused(f"malformed {name}")
    return float(value)


def check_claims(claims: Mapping[str, Any]) -> float:
    """The checks PyJWT is not asked to make; returns ``exp``.

    ``aud`` a string or a one-element array (X-06); ``jti`` a short string (JWTCA-07);
    ``exp`` not past, and not further than ``CLIENT_ASSERTION_MAX_LIFETIME`` from now or
    from ``iat`` (JWTCA-05); ``nbf`` and ``iat`` not in the future (JWTCA-06). Each time
    comparison with ``CLOCK_LEEWAY``."""
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) != 1:
        raise _Refused("aud has more than one value")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > replay.MAX_JTI_LENGTH:
        raise _Refused("malformed jti")
    now = clock.timestamp()
    leeway = clock.leeway()
    longest = float(oauth_cc_settings.CLIENT_ASSERTION_MAX_LIFETIME)
    exp = _numeric_date(claims, "exp")
    nbf = _numeric_date(claims, "nbf")
    iat = _numeric_date(claims, "iat")
    if exp is None or clock.expired(exp, now):
        raise _Refused("assertion expired")
    if exp - now > longest + leeway:
        raise _Refused("assertion lifetime too long (exp)")
    if nbf is not None and now < nbf - leeway:
        raise _Refused("assertion not yet valid (nbf)")
    if iat is not None:
        if iat > now + leeway:
            raise _Refused("assertion issued in the future (iat)")
        if exp - iat > longest:
            raise _Refused("assertion lifetime too long (iat)")
    return exp


class _AssertionMethod(ClientAuthMethod):
    """What both assertion methods share: reading the request, the header checks, the
    claims PyJWT does not check, and single use."""

    parameters = _PARAMETERS
    assertion = True
    #: Whether this method checks MACs (client_secret_jwt) or signatures.
    mac: ClassVar[bool]

    @abstractmethod
    def algorithms(self) -> list[str]:
        """The allowed algorithms, from the settings (never ``none``)."""

    def detect(self, request: HttpRequest, params: FormParameters) -> bool:
        if not _presented(params):
            return False
        # The other family's method, when registered, takes the other algorithms.
        other = ClientSecretJwt.name if not self.mac else PrivateKeyJwt.name
        return _is_mac(params) == self.mac or other not in client_auth_methods

    @sensitive_variables()
    def client_id(self, request: HttpRequest, params: FormParameters) -> str | None:
        claimed = params.get("client_id")
        if claimed is not None:
            return claimed
        try:
            issuer = jwt.decode(params.get("client_assertion") or "",
                                options={"verify_signature": False}).get("iss")
        except Exception:
            return None
        return issuer if isinstance(issuer, str) else None

    def metadata(self) -> dict[str, Any]:
        algorithms = self.algorithms()
        return {f"{endpoint}_endpoint_auth_signing_alg_values_supported": list(algorithms)
                for endpoint in ("token", "introspection", "revocation")}

    @sensitive_variables()
    def authenticate(self, request: HttpRequest, params: FormParameters) -> Client:
        assertion_type = params.get("client_assertion_type")
        assertion = params.get("client_assertion")
        if assertion_type is None or assertion is None:  # JWTCA-01 (DEC)
            raise InvalidRequest(
                "client_assertion and client_assertion_type must be sent together.")
        presented_client_id = params.get("client_id")
        try:
            if assertion_type != ASSERTION_TYPE:
                raise _Refused("unsupported client_assertion_type")
            header, client_id = self._read(assertion, presented_client_id)
            client, claims = self._verify(assertion, header, client_id)
            exp = check_claims(claims)
            try:
                first = replay.first_use("assertion", client.client_id, str(claims["jti"]),
                                         exp)
            except replay.ReplayCacheUnavailable:
                raise TemporarilyUnavailable(
                    "The service is temporarily unavailable.",
                    headers={"Retry-After": "5"}) from None
            if not first:
                raise _Refused("assertion replayed (jti already used)", client.client_id)
            return client
        except _Refused as refused:
            if refused.client_id is not None:
                report(request, refused.client_id, refused.reason)
            else:
                report(request, None, refused.reason, presented_client_id)
            raise self.failure() from None

    @sensitive_variables()
    def _read(self, assertion: str, presented_client_id: str | None
              ) -> tuple[dict[str, Any], str]:
        """The header and the claimed client_id, unverified: JWTCA-02, -08, -11, -12."""
        if len(assertion) > MAX_ASSERTION_LENGTH:
            raise _Refused("assertion too long")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except Exception:  # PyJWT's errors, and anything odd in the input
            raise _Refused("malformed assertion") from None
        if "crit" in header:  # JWTCA-12: no extension is understood here
            raise _Refused("assertion with a critical header extension")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str)
                                or typ.lower() not in ACCEPTED_TYPES):
            raise _Refused("assertion of another JWT type")  # JWTCA-11
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms():
            raise _Refused("assertion algorithm not allowed")  # JWTCA-08
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or not searchable(issuer):
            raise _Refused("assertion without a usable iss")
        if presented_client_id is not None and presented_client_id != issuer:
            raise _Refused("client_id differs from the assertion's iss")  # JWTCA-02
        return header, issuer

    @abstractmethod
    def _verify(self, assertion: str, header: dict[str, Any], client_id: str
                ) -> tuple[Client, dict[str, Any]]:
        """The client whose key or secret verifies ``assertion`` (its header already read),
        and the claims; those PyJWT does not check are left to ``check_claims``. Raises
        ``_Refused`` otherwise."""

    @staticmethod
    def _decode(assertion: str, key: Any, algorithm: str, client_id: str) -> dict[str, Any]:
        """PyJWT: the signature with ``algorithm`` only, iss and sub equal to the client_id
        (JWTCA-03), aud among ``accepted_audiences()`` (JWTCA-04), the required claims."""
        claims: dict[str, Any] = jwt.decode(
            assertion, key=key, algorithms=[algorithm], audience=accepted_audiences(),
            issuer=client_id, subject=client_id,
            options={"require": _REQUIRED_CLAIMS, "verify_signature": True,
                     "verify_aud": True, "verify_iss": True, "verify_sub": True,
                     "verify_jti": True, "verify_exp": False, "verify_nbf": False,
                     "verify_iat": False, "strict_aud": False,
                     "enforce_minimum_key_length": True},
        )
        return claims


# --- private_key_jwt ------------------------------------------------------------------------

@functools.cache
def _dummy_key(algorithm: str) -> Any:
    """A public key that verifies nothing, for the work an unknown client must cost."""
    private: Any
    if algorithm.startswith(("RS", "PS")):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ES384":
        private = ec.generate_private_key(ec.SECP384R1())
    elif algorithm == "ES512":
        private = ec.generate_private_key(ec.SECP521R1())
    elif algorithm.startswith("ES"):
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return private.public_key()


class PrivateKeyJwt(_AssertionMethod):
    """``private_key_jwt``: a JWT signed with the client's private key (RFC 7523 §2.2,
    JWTCA-08, JWTCA-09), verified with its registered ``jwks`` or ``jwks_uri``."""

    name = "private_key_jwt"
    label = "private_key_jwt (JWT signed with the client's private key)"
    mac = False

    def algorithms(self) -> list[str]:
        return [algorithm for algorithm in oauth_cc_settings.PRIVATE_KEY_JWT_ALGORITHMS
                if algorithm != "none" and algorithm not in MAC_ALGORITHMS]

    def check_registration(self, client: Client) -> None:
        jwks, jwks_uri = client.jwks.strip(), client.jwks_uri.strip()
        if jwks and jwks_uri:
            raise ValidationError({"jwks_uri": _("Give either a JWK Set or a JWKS URI, not "
                                                 "both.")})
        if not jwks and not jwks_uri:
            raise ValidationError({"jwks": _("private_key_jwt needs the client's public "
                                             "keys: a JWK Set or a JWKS URI.")})
        if jwks:
            problem = client_keys.registration_problem(jwks)
            if problem is None:
                usable = client_keys.inline_keys(jwks).keys
                if not {key.algorithm for key in usable} & set(self.algorithms()):
                    problem = str(_("No key in the JWK Set uses an algorithm allowed "
                                    "for private_key_jwt."))
            if problem is not None:
                raise ValidationError({"jwks": problem})
        elif not client_keys.jwks_uri_allowed(jwks_uri):
            raise ValidationError({"jwks_uri": _("The JWKS URI must be an https URL.")})

    def _verify(self, assertion: str, header: dict[str, Any], client_id: str
                ) -> tuple[Client, dict[str, Any]]:
        algorithm = str(header["alg"])
        kid = header.get("kid")
        client = Client.objects.filter(client_id=client_id, is_active=True).first()
        if client is None:
            # As much work as a known client's wrong signature (CAUTH-07).
            try:
                self._decode(assertion, _dummy_key(algorithm), algorithm, client_id)
            except Exception:  # noqa: S110 (the outcome is known: it fails)
                pass
            raise _Refused("unknown or inactive client")
        try:
            candidates = client_keys.verification_keys(client, algorithm, kid,
                                                       self.algorithms())
        except client_keys.ClientKeysUnavailable:
            raise _Refused("the client's jwks_uri gave no keys", client.client_id) from None
        if not candidates:
            raise _Refused("no key of the client matches the assertion's kid and alg",
                           client.client_id)
        failure = "signature verification failed"
        for key in candidates:
            try:
                return client, self._decode(assertion, key.key, algorithm, client_id)
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                failure = _describe(exc)
                break
        raise _Refused(failure, client.client_id)


# --- client_secret_jwt ----------------------------------------------------------------------

def _dummy_secret() -> bytes:
    return oauth_cc_settings.derived(
        "client_assertion_dummy_secret", lambda: keys.fernet().encrypt(b"\x00" * 64))


class ClientSecretJwt(_AssertionMethod):
    """``client_secret_jwt``: a JWT with an HMAC keyed by the client secret (RFC 7523 §2.2,
    JWTCA-08). The secret must be at least as long as the hash; a secret created while the
    client was registered for another method has no ``encrypted_secret`` and cannot be
    used (generate a new one)."""

    name = "client_secret_jwt"
    label = "client_secret_jwt (JWT with an HMAC of the client secret)"
    mac = True
    uses_secret = True
    #: 64 random characters: with the prefix, at least the 64 octets HS512 needs.
    secret_length = 64

    def algorithms(self) -> list[str]:
        return [algorithm for algorithm in oauth_cc_settings.CLIENT_SECRET_JWT_ALGORITHMS
                if algorithm in MAC_ALGORITHMS]

    @sensitive_variables()
    def seal(self, plaintext: str) -> bytes | None:
        return keys.fernet().encrypt(plaintext.encode("utf-8"))

    @sensitive_variables()
    def _verify(self, assertion: str, header: dict[str, Any], client_id: str
                ) -> tuple[Client, dict[str, Any]]:
        algorithm = str(header["alg"])
        rows = list(ClientSecret.objects.usable()
                    .filter(client__client_id=client_id, client__is_active=True,
                            encrypted_secret__isnull=False)
                    .select_related("client").order_by())
        if not rows:
            try:  # as much work as a known client's wrong MAC (CAUTH-07)
                secret = keys.fernet().decrypt(_dummy_secret())
                self._decode(assertion, secret, algorithm, client_id)
            except Exception:  # noqa: S110 (the outcome is known: it fails)
                pass
            raise _Refused("unknown or inactive client, or no secret usable for "
                           "client_secret_jwt")
        found = rows[0].client
        failure = "MAC verification failed"
        for row in rows:
            try:
                secret = keys.fernet().decrypt(bytes(row.encrypted_secret or b""))
            except InvalidToken:
                logger.error("no key in OAUTH_CC['KEY_ENCRYPTION_KEYS'] decrypts secret %s "
                             "of client %s", row.pk, found.client_id)
                continue
            if len(secret) < MAC_ALGORITHMS[algorithm]:
                failure = "secret shorter than the algorithm's hash"
                continue
            try:
                return found, self._decode(assertion, secret, algorithm, client_id)
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                failure = _describe(exc)
                break
        raise _Refused(failure, found.client_id)


def _describe(error: jwt.PyJWTError) -> str:
    """A fixed log reason for a PyJWT error after the signature verified."""
    if isinstance(error, jwt.InvalidAudienceError):
        return "aud does not name this server"
    if isinstance(error, jwt.InvalidIssuerError):
        return "iss is not the client_id"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"assertion without {error.claim}"
    if isinstance(error, InvalidSubjectError):
        return "sub is not the client_id"
    return f"invalid assertion ({type(error).__name__})"


client_auth_methods.register(PrivateKeyJwt())
client_auth_methods.register(ClientSecretJwt())
