"""Django REST framework integration (``oauth_cc.resource.rest_framework``)::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["oauth_cc.rest_framework.BearerTokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["oauth_cc.rest_framework.HasScope"],
    }

``HasScopeOrStaff`` also lets logged-in Django staff users in (DRF's browsable API).
"""

from .resource.rest_framework import (
    AnyOf,
    BearerTokenAuthentication,
    HasScope,
    HasScopeOrStaff,
    OAuthAPIException,
    required_scopes,
)

__all__ = ["AnyOf", "BearerTokenAuthentication", "HasScope", "HasScopeOrStaff",
           "OAuthAPIException", "required_scopes"]
