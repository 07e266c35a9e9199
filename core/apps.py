from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Plumbing under every app: the event outbox and relay, storage helpers, base errors.

    Nothing here imports another app of the project.
    """

    name = "core"
    verbose_name = "Core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.core import checks

        checks.register(_setting_checks)


def _setting_checks(app_configs, **kwargs):
    """manage.py's view of core.startup.setting_problems."""
    from django.core.checks import Error

    from .startup import setting_problems

    return [Error(line, id="core.E001") for line in setting_problems()]
