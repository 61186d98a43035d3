"""DRF authentication by RFC 9068 JWT access token (RFC 6750 §2.1 header)."""

from __future__ import annotations

import logging

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .. import resource
from ..errors import BearerError, BearerInvalidRequest, NoCredentials
from ..principal import ClientPrincipal
from ..validation import AccessToken

logger = logging.getLogger("oauth_cc.rest_framework")

#: Attribute of the DRF request holding the challenge for this request's 401.
CHALLENGE_ATTRIBUTE = "_oauth_cc_challenge"


class BadBearerRequest(exceptions.APIException):
    """400 invalid_request with its Bearer challenge (BEARER-04, BEARER-09)."""

    status_code = 400
    default_code = "invalid_request"

    def __init__(self, error: BearerError) -> None:
        super().__init__(detail=error.as_dict())
        self.auth_header = error.challenge()


class BearerTokenAuthentication(BaseAuthentication):
    """Authenticate with ``Authorization: Bearer <access token>``.

    On success ``request.user`` is a ``ClientPrincipal`` and ``request.auth`` an
    ``AccessToken``. No token: returns None, so DRF answers 401 with
    ``WWW-Authenticate: Bearer realm="api"`` when the view needs authentication. A bad token:
    401 ``invalid_token``; a malformed request: 400 ``invalid_request``. Put this class first
    in ``authentication_classes``: DRF takes the 401 challenge from the first one.
    """

    def authenticate(self, request: Request) -> tuple[ClientPrincipal, AccessToken] | None:
        try:
            token = resource.authenticate(request._request)
        except NoCredentials:
            return None
        except BearerInvalidRequest as error:
            raise BadBearerRequest(error) from None
        except BearerError as error:
            logger.info("access token refused: %s", error.description)
            setattr(request, CHALLENGE_ATTRIBUTE, error.challenge())
            raise exceptions.AuthenticationFailed(detail=error.as_dict()) from None
        return ClientPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return getattr(request, CHALLENGE_ATTRIBUTE, None) or NoCredentials().challenge()


