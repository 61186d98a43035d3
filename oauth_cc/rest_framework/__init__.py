"""Django REST framework integration: ``BearerTokenAuthentication`` and ``HasScope``."""

from .authentication import BearerTokenAuthentication
from .permissions import AnyOf, HasScope, required_scopes

__all__ = ["AnyOf", "BearerTokenAuthentication", "HasScope", "required_scopes"]
