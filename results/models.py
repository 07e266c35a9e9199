from django.conf import settings
from django.db import models

from accounts.access import AccessQuerySet

from .taxonomy import ExportKind, ExportStatus


class Export(models.Model):
    """One export of a survey, made by a worker and kept in storage until it expires."""

    org_path = "survey__organisation"

    survey = models.ForeignKey("surveys.Survey", on_delete=models.CASCADE,
                               related_name="exports")
    task = models.ForeignKey("annotation.Task", on_delete=models.CASCADE, null=True,
                             blank=True, related_name="exports",
                             help_text="Whose labels are exported (default: the survey's "
                             "latest task).")
    kind = models.CharField(max_length=20, choices=ExportKind.choices)
    status = models.CharField(max_length=20, choices=ExportStatus.choices,
                              default=ExportStatus.PENDING)
    message = models.CharField(max_length=1000, blank=True)
    # What some kinds take besides the survey and task: a training-data export's task ids
    # and TrainingDataOptions; set by the format's check when the export is requested.
    options = models.JSONField(default=dict, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    file_key = models.CharField(max_length=500, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        # The table the model had in the training app, where it was first made: moving
        # the model changed Django's state only (results 0001, training 0005).
        db_table = "training_export"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.survey}"

    @property
    def file_name(self) -> str:
        return self.file_key.rsplit("/", 1)[-1]
