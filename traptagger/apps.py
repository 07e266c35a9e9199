from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting pieces of the project: the event outbox, the local runner."""

    name = "traptagger"
    label = "traptagger"
    verbose_name = "TrapTagger"
    default_auto_field = "django.db.models.BigAutoField"
