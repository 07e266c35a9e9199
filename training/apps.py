from django.apps import AppConfig


class TrainingConfig(AppConfig):
    """Training data, the data pipeline and classifier training runs."""

    name = "training"
    verbose_name = "Training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Training data is one kind of export: the exports' worker builds it with this.
        from results.services.exports import register_format
        from results.taxonomy import ExportKind

        from .services.training_export import TRAINING_DATA

        register_format(ExportKind.TRAINING_DATA, TRAINING_DATA)
