"""Client identifiers and secrets.

Secrets are generated here, never chosen by users: ``CLIENT_SECRET_PREFIX`` followed by 44
characters from ``[A-Za-z0-9]`` (about 262 bits, GEN-06). Only the SHA-256 digest is stored
(GEN-07). A slow password hash buys nothing against a 262-bit random value and would make each
token request cost a large amount of CPU; SHA-256 with a constant-time compare is the right
tool (CAUTH-07).

The alphabet is RFC 3986 "unreserved", so the form-urlencoded id and secret equal the raw ones
(CAUTH-02 REC).
"""

from __future__ import annotations

import hashlib
import secrets
import string

from .settings import oauth_cc_settings

_ALPHANUMERIC = string.ascii_letters + string.digits
_LOWER_ALPHANUMERIC = string.ascii_lowercase + string.digits

SECRET_RANDOM_LENGTH = 44  # 44 * log2(62) ≈ 262 bits
CLIENT_ID_LENGTH = 24  # 24 * log2(36) ≈ 124 bits: unique, not secret
HINT_LENGTH = 4


def generate_client_id() -> str:
    """A new URL-safe, unguessable client identifier (never user-chosen, BCP-06)."""
    return "".join(secrets.choice(_LOWER_ALPHANUMERIC) for _ in range(CLIENT_ID_LENGTH))


def generate_secret(length: int = SECRET_RANDOM_LENGTH) -> str:
    """A new client secret in plaintext, with ``length`` random characters after the prefix.
    Show it once; store only ``digest(secret)``."""
    body = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(max(length, SECRET_RANDOM_LENGTH)))
    prefix: str = oauth_cc_settings.CLIENT_SECRET_PREFIX
    return prefix + body


def digest(secret: str) -> str:
    """Hex SHA-256 of the UTF-8 secret: what the database stores."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hint(secret: str) -> str:
    """A short, non-sensitive label for a secret: its prefix and first random characters."""
    prefix = oauth_cc_settings.CLIENT_SECRET_PREFIX
    if secret.startswith(prefix):
        return secret[: len(prefix) + HINT_LENGTH] + "…"
    return "…"


#: Compared against when the client is unknown, so that an unknown client costs the same
#: work as a wrong secret.
DUMMY_DIGEST = digest("occs_this-secret-is-never-issued")
