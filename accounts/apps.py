from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # revocation: stops websockets when a session or a right ends.
        from . import revocation  # noqa: F401 - connects its receivers
