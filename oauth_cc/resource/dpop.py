"""DPoP-bound access tokens (RFC 9449): the ``DPoP`` token type.

At the token endpoint (``bind``), a request with a valid ``DPoP`` proof gets a token bound to
the proof's key: ``cnf.jkt``, the key's RFC 7638 thumbprint, and ``token_type`` ``DPoP``
(DPOP-11). An invalid proof is 400 ``invalid_dpop_proof`` (DPOP-12), as is a missing one from
a client registered with ``dpop_bound_access_tokens`` (DPOP-14, X-10); with
``DPOP_REQUIRE_NONCE`` a proof without a fresh server nonce is 400 ``use_dpop_nonce`` with a
``DPoP-Nonce`` header (DPOP-13).

At a resource server (``confirm``, on every request, after the shared and cached
verification), ``Authorization: DPoP <token>`` needs a ``DPoP`` proof for this method and
URI, for this token (``ath``) and by the token's key (``cnf.jkt``) (DPOP-16, DPOP-10). A
missing or bad proof is 401 ``invalid_dpop_proof``; a proof by another key, or an unbound
token, is 401 ``invalid_token`` (DPOP-21); every challenge is a ``DPoP`` one with ``algs``
(DPOP-18), and a request without credentials is challenged for both schemes (DPOP-20).

The proof checks themselves live in ``oauth_cc.dpop_proof``. On an event loop the proof is
checked inline when ``REPLAY_CACHE`` is a per-process cache (the ``jti``'s ``add()`` is a
dictionary write), and in a thread when it is shared (Redis, Memcached, the database cache),
whose ``add()`` waits on the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from .. import caches, dpop_proof
from ..errors import (
    CHALLENGE_PARAMETERS,
    InvalidDPoPProof,
    InvalidToken,
    ResourceInvalidDPoPProof,
    ResourceUnavailable,
    TemporarilyUnavailable,
    UseDPoPNonce,
)
from ..registry import token_types
from ..replay import ReplayCacheUnavailable
from ..settings import oauth_cc_settings
from .token_types import RequestContext, TokenType
from .verification import AccessToken

#: The ``cnf`` member of a DPoP-bound token (RFC 9449 §6.1).
CNF_MEMBER = "jkt"


def bound_key(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.jkt`` of a token's claims, or None when it is not DPoP-bound."""
    confirmation = claims.get("cnf")
    if not isinstance(confirmation, Mapping):
        return None
    jkt = confirmation.get(CNF_MEMBER)
    return jkt if isinstance(jkt, str) and jkt else None


class DPoP(TokenType):
    """RFC 9449 DPoP: a token bound to a key that the client proves it holds on every
    request."""

    name = "DPoP"

    def bind(self, request: HttpRequest, client: Any) -> dict[str, Any] | None:
        """``{"jkt": thumbprint}`` for a request with a valid proof; None without a proof,
        unless the client must use DPoP (RFC 9449 §5, §5.2)."""
        try:
            proof = dpop_proof.header_value(request)
            if proof is None:
                if getattr(client, "dpop_bound_access_tokens", False):
                    raise InvalidDPoPProof("A DPoP proof is required.")
                return None
            checked = dpop_proof.check(
                request, proof, nonce_required=bool(oauth_cc_settings.DPOP_REQUIRE_NONCE))
        except dpop_proof.InvalidProof as failure:
            raise InvalidDPoPProof(failure.description) from None
        except dpop_proof.NonceRequired:
            raise UseDPoPNonce(dpop_proof.new_nonce()) from None
        except ReplayCacheUnavailable:
            raise TemporarilyUnavailable("The service is temporarily unavailable.",
                                         headers={"Retry-After": "5"}) from None
        return {CNF_MEMBER: checked.jkt}

    @sensitive_variables("raw")
    def confirm(self, token: AccessToken, context: RequestContext) -> None:
        """DPOP-10, DPOP-16, DPOP-21: the request's proof, for this token and its key."""
        jkt = bound_key(token.claims)
        if jkt is None:
            raise InvalidToken("The access token is not bound to a DPoP key.")
        request = context.request
        # The token authenticate() verified, read again: a cheap match of the header.
        raw = self.extract(request)
        if raw is None:
            raise InvalidToken("The access token is not a DPoP token.")
        try:
            proof = dpop_proof.header_value(request)
            if proof is None:
                raise ResourceInvalidDPoPProof("A DPoP proof is required.")
            dpop_proof.check(request, proof, access_token=raw, bound_to=jkt)
        except dpop_proof.KeyMismatch as failure:
            raise InvalidToken(failure.description) from None
        except dpop_proof.InvalidProof as failure:
            raise ResourceInvalidDPoPProof(failure.description) from None
        except ReplayCacheUnavailable:
            raise ResourceUnavailable("The service is temporarily unavailable.") from None

    async def aconfirm(self, token: AccessToken, context: RequestContext) -> None:
        if caches.per_process(str(oauth_cc_settings.REPLAY_CACHE)):
            self.confirm(token, context)
        else:
            await super().aconfirm(token, context)

    def describes(self, claims: Any) -> bool:
        return isinstance(claims, Mapping) and bound_key(claims) is not None

    def metadata(self) -> dict[str, Any]:
        """DPOP-15: ``dpop_signing_alg_values_supported``."""
        algorithms = dpop_proof.signing_algorithms()
        return {"dpop_signing_alg_values_supported": algorithms} if algorithms else {}


def _challenge_parameters() -> str | None:
    """``algs="..."`` for the DPoP challenges (DPOP-18), while this type is registered."""
    if DPoP.name not in token_types:
        return None
    return f'algs="{" ".join(dpop_proof.signing_algorithms())}"'


token_types.register(DPoP(), replace=True)
CHALLENGE_PARAMETERS[DPoP.name] = _challenge_parameters
