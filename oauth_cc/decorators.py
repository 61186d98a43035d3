"""Protecting plain Django views (``oauth_cc.resource.decorators``)::

    from oauth_cc.decorators import scopes_required
"""

from .resource.decorators import AnyOf, ProtectedResourceMixin, scopes_required

__all__ = ["AnyOf", "ProtectedResourceMixin", "scopes_required"]
