from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Plumbing under every app: the event outbox and relay, storage helpers, base errors.

    Nothing here imports another app of the project.
    """

    name = "core"
    verbose_name = "Core"
    default_auto_field = "django.db.models.BigAutoField"
