"""Django REST framework integration (``oauth_cc.resource.rest_framework``)::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["oauth_cc.rest_framework.BearerTokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["oauth_cc.rest_framework.HasScope"],
    }
"""

from .resource.rest_framework import (
    AnyOf,
    BearerTokenAuthentication,
    HasScope,
    OAuthAPIException,
    required_scopes,
)

__all__ = ["AnyOf", "BearerTokenAuthentication", "HasScope", "OAuthAPIException",
           "required_scopes"]
