from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OAuthCCConfig(AppConfig):
    name = "oauth_cc"
    verbose_name = _("OAuth client credentials")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each import registers something: the system checks, the built-in client
        # authentication methods and grant, the Bearer and DPoP token types, and the local adapter
        # through which resource servers in this project read keys, revocations and
        # opaque tokens.
        from . import checks  # noqa: F401
        from .resource import dpop, local, token_types  # noqa: F401
        from .server import (  # noqa: F401
            client_assertion,
            client_secret,
            grants,
            mtls,
        )
