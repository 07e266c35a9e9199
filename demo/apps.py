from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo (accounts, a generated survey, a task) and the local runner behind make run."""

    name = "demo"
    verbose_name = "Demo"
    default_auto_field = "django.db.models.BigAutoField"
