from django.apps import AppConfig


class OAuthCCConfig(AppConfig):
    name = "oauth_cc"
    verbose_name = "OAuth client credentials"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
