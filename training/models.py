from django.conf import settings
from django.db import models

from accounts.access import AccessQuerySet

from .taxonomy import TrainingStatus


class TrainingRun(models.Model):
    """One classifier training started from the admin, run by a ``gpu`` worker.

    The options are the train_classifier command's; the worker trains on the
    training-data export's zip and registers the result as ``classifier``.
    """

    org_path = "organisation"

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE,
                                     related_name="training_runs")
    export = models.ForeignKey("results.Export", on_delete=models.SET_NULL, null=True,
                               related_name="training_runs",
                               help_text="A finished training-data export.")
    name = models.CharField(max_length=100, blank=True,
                            help_text="Classifier name (default “Trained <date>”).")
    version = models.CharField(max_length=40, blank=True,
                               help_text="Version to register (default: the next number).")
    epochs = models.PositiveSmallIntegerField(default=10)
    architecture = models.CharField(max_length=20, default="mobilenet",
                                    choices=[("mobilenet", "MobileNetV3-Small"),
                                             ("compact", "Compact CNN (a few hundred crops)")])
    input_size = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Crop side in pixels (default 96; the fine-tuned "
        "classifier's when fine-tuning).")
    target_precision = models.FloatField(default=0.9)
    fine_tune = models.ForeignKey("classifiers.Classifier", on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+",
                                  help_text="Start from this classifier's network.")
    status = models.CharField(max_length=20, choices=TrainingStatus.choices,
                              default=TrainingStatus.PENDING)
    message = models.CharField(max_length=1000, blank=True)
    done = models.PositiveIntegerField(default=0)  # epochs
    total = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    classifier = models.ForeignKey("classifiers.Classifier", on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="training_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Training {self.name or 'a classifier'} ({self.get_status_display()})"
