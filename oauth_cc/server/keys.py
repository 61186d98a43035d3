"""Signing keys: generation, encryption at rest, the active key, JWKS export and rotation.

The hot path (issuing a token) calls ``active()``, which returns a parsed private key from an
in-process cache; the database is asked again at most every ``KEY_CACHE_SECONDS``. Because a
process may keep signing with a just-retired key for that long, a retired key stays published
for ``KEY_CACHE_SECONDS + MAX_ACCESS_TOKEN_LIFETIME`` plus a minute (JWKS-07).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.db import transaction

from .. import caches, clock
from ..jose import SIGNING_ALGORITHMS, public_jwk
from ..models import SigningKey
from ..settings import oauth_cc_settings

logger = logging.getLogger("oauth_cc.keys")

#: JWS algorithms we sign with (JWT-01: never ``none``, never a MAC).
SUPPORTED_ALGORITHMS = SIGNING_ALGORITHMS

PUBLISH_MARGIN = timedelta(seconds=60)


class KeyConfigurationError(Exception):
    """The key-encryption keys are missing or cannot decrypt a stored key."""


@dataclass(frozen=True, slots=True)
class SigningMaterial:
    """A parsed private key ready to sign, with its ``kid`` and algorithm."""

    kid: str
    algorithm: str
    private_key: Any


# --- encryption at rest -------------------------------------------------------------------

def _build_fernet() -> MultiFernet:
    keys = oauth_cc_settings.KEY_ENCRYPTION_KEYS
    if not isinstance(keys, list | tuple) or not keys:
        raise KeyConfigurationError("OAUTH_CC['KEY_ENCRYPTION_KEYS'] must be a non-empty list")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError(
            "OAUTH_CC['KEY_ENCRYPTION_KEYS'] must hold Fernet keys "
            "(32 url-safe base64-encoded bytes)"
        ) from exc


def fernet() -> MultiFernet:
    return oauth_cc_settings.derived("fernet", _build_fernet)


def encrypt_private_key(private_key: Any) -> bytes:
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return fernet().encrypt(der)


def decrypt_private_key(token: bytes | memoryview) -> Any:
    try:
        der = fernet().decrypt(bytes(token))
    except InvalidToken as exc:
        raise KeyConfigurationError(
            "no key in OAUTH_CC['KEY_ENCRYPTION_KEYS'] decrypts a stored signing key"
        ) from exc
    return serialization.load_der_private_key(der, password=None)


# --- generation and JWK export --------------------------------------------------------------

def generate_private_key(algorithm: str) -> Any:
    if algorithm in ("RS256", "PS256"):
        size = max(2048, int(oauth_cc_settings.RSA_KEY_SIZE))
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {algorithm!r}")


# --- lifecycle ------------------------------------------------------------------------------

def create_key(algorithm: str | None = None) -> SigningKey:
    """Create a new key in the ``pending`` state: published, not yet signing."""
    algorithm = algorithm or oauth_cc_settings.SIGNING_ALGORITHM
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}")
    private_key = generate_private_key(algorithm)
    jwk = public_jwk(private_key, algorithm)
    key = SigningKey.objects.create(
        kid=jwk["kid"],
        algorithm=algorithm,
        state=SigningKey.State.PENDING,
        encrypted_private_key=encrypt_private_key(private_key),
        public_jwk_json=json.dumps(jwk, separators=(",", ":")),
    )
    logger.info("created signing key kid=%s alg=%s", key.kid, algorithm)
    return key


def _lock_for_writing() -> None:
    """Take the database's write lock first in a rotation's transaction. On SQLite a
    transaction that reads and then writes fails at once with "database is locked" when
    another connection is writing meanwhile (an opaque token being issued, say); one that
    starts with a write waits its turn instead. The statement changes no row."""
    SigningKey.objects.filter(state="-").update(state="-")


def retention() -> timedelta:
    """How long a retired key stays published after it stops signing."""
    seconds = int(oauth_cc_settings.KEY_CACHE_SECONDS) + int(
        oauth_cc_settings.MAX_ACCESS_TOKEN_LIFETIME
    )
    return timedelta(seconds=seconds) + PUBLISH_MARGIN


@transaction.atomic
def promote(key: SigningKey) -> SigningKey:
    """Make ``key`` the signing key; the previous one is retired but stays published."""
    if key.state not in (SigningKey.State.PENDING, SigningKey.State.RETIRED):
        raise ValueError(f"a {key.state} key cannot be promoted")
    _lock_for_writing()
    at = clock.now()
    for current in SigningKey.objects.select_for_update().filter(state=SigningKey.State.ACTIVE):
        _retire(current, at)
    key.state = SigningKey.State.ACTIVE
    key.activated_at = at
    key.retired_at = None
    key.publish_until = None
    key.save(update_fields=["state", "activated_at", "retired_at", "publish_until"])
    caches.clear()
    logger.info("signing key kid=%s is now active", key.kid)
    return key


def _retire(key: SigningKey, at: Any) -> None:
    key.state = SigningKey.State.RETIRED
    key.retired_at = at
    key.publish_until = at + retention()
    key.save(update_fields=["state", "retired_at", "publish_until"])
    logger.info("signing key kid=%s retired, published until %s", key.kid, key.publish_until)


@transaction.atomic
def retire(key: SigningKey) -> SigningKey:
    """Stop signing with ``key``; it stays published until its tokens have expired."""
    if key.state not in (SigningKey.State.ACTIVE, SigningKey.State.PENDING):
        raise ValueError(f"a {key.state} key cannot be retired")
    _lock_for_writing()
    _retire(key, clock.now())
    caches.clear()
    return key


def prune() -> list[str]:
    """Remove retired keys whose tokens have all expired; erase their private keys."""
    expired = SigningKey.objects.filter(
        state=SigningKey.State.RETIRED, publish_until__lte=clock.now()
    )
    kids = list(expired.values_list("kid", flat=True))
    expired.update(state=SigningKey.State.REMOVED, encrypted_private_key=b"")
    if kids:
        caches.clear()
        logger.info("removed signing keys %s", ", ".join(kids))
    return kids


#: ``pg_advisory_xact_lock`` key that serialises rotation steps (any fixed 64-bit number).
ROTATION_LOCK = 0x6F61757468636331  # "oauthcc1"


def _serialise_rotation() -> None:
    """Hold the rotation lock until the transaction ends, so that concurrent steps (two
    operators, two cron jobs, the admin and the command) run one after the other, each seeing
    what the previous one committed. PostgreSQL only; SQLite already serialises writers
    (``_lock_for_writing``), and elsewhere ``oauth_cc_one_active_key`` still refuses a second
    active key (the caller then gets an IntegrityError)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROTATION_LOCK])


@transaction.atomic
def rotate(*, immediate: bool = False, algorithm: str | None = None) -> list[str]:
    """One step of a zero-downtime rotation. Returns what was done, for the operator.

    - With no active key, create one and activate it at once (bootstrap).
    - Otherwise, with no pending key, create one: it is published but not yet used, so
      resource servers can fetch it before the first token signed with it.
    - Otherwise promote the newest pending key; the old key is retired and stays published.
    ``immediate=True`` creates and promotes a new key in one step (e.g. after a compromise).
    Each call also prunes retired keys that are past ``publish_until``.
    """
    _lock_for_writing()
    _serialise_rotation()
    done = [f"removed {kid}" for kid in prune()]
    if immediate:
        # A key prepared before an emergency rotation may be as compromised as the active
        # one; it never signed anything, so it can go at once.
        stale = SigningKey.objects.filter(state=SigningKey.State.PENDING)
        kids = list(stale.values_list("kid", flat=True))
        stale.update(state=SigningKey.State.REMOVED, encrypted_private_key=b"")
        done.extend(f"removed pending {kid}" for kid in kids)
    has_active = SigningKey.objects.filter(state=SigningKey.State.ACTIVE).exists()
    pending = SigningKey.objects.filter(state=SigningKey.State.PENDING).order_by("-created_at")
    if immediate or not has_active:
        key = create_key(algorithm)
        promote(key)
        done.append(f"created and activated {key.kid} ({key.algorithm})")
    elif not pending.exists():
        key = create_key(algorithm)
        done.append(f"created {key.kid} ({key.algorithm}): published, not yet signing")
    else:
        # exists() above, under the rotation lock: first() finds the key.
        key = promote(cast(SigningKey, pending.first()))
        done.append(f"activated {key.kid}; the previous key is retired and still published")
    return done


@transaction.atomic
def reencrypt() -> int:
    """Re-encrypt every stored private key with the first key-encryption key (all or none)."""
    _lock_for_writing()
    count = 0
    for key in SigningKey.objects.exclude(state=SigningKey.State.REMOVED):
        try:
            key.encrypted_private_key = fernet().rotate(bytes(key.encrypted_private_key))
        except InvalidToken:
            raise KeyConfigurationError(
                f"no key in OAUTH_CC['KEY_ENCRYPTION_KEYS'] decrypts signing key {key.kid}"
            ) from None
        key.save(update_fields=["encrypted_private_key"])
        count += 1
    return count


# --- reading keys ---------------------------------------------------------------------------

def _load_active(previous: SigningMaterial | None) -> SigningMaterial | None:
    row = (
        SigningKey.objects.filter(state=SigningKey.State.ACTIVE)
        .only("kid", "algorithm", "encrypted_private_key")
        .first()
    )
    if row is None:
        return None
    if previous is not None and previous.kid == row.kid:
        return previous  # unchanged: no decryption
    return SigningMaterial(row.kid, row.algorithm,
                           decrypt_private_key(row.encrypted_private_key))


active_key_cache: caches.TimedValue[SigningMaterial | None] = caches.register(
    "signing_key",
    caches.TimedValue(_load_active, lambda: float(oauth_cc_settings.KEY_CACHE_SECONDS)))


def active() -> SigningMaterial | None:
    """The signing key, parsed once and cached for ``KEY_CACHE_SECONDS``; None if none."""
    return active_key_cache.get(clock.timestamp())


def published_keys() -> list[SigningKey]:
    """Keys in the JWKS (``SigningKey.objects.published()``)."""
    return list(SigningKey.objects.published().only(
        "kid", "state", "publish_until", "public_jwk_json", "created_at"))


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The JWK Set document (RFC 7517 §5) of every published key."""
    return {"keys": [key.public_jwk for key in published_keys()]}
