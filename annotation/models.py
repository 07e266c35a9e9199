from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from accounts.access import AccessQuerySet

from .taxonomy import (
    NOTE_MAX_LENGTH,
    AiCheck,
    AutoLabelRule,
    BulkKind,
    TaggingLevel,
    TaskStatus,
    hotkey_problem,
)


class Task(models.Model):
    """An annotation set: a label set for a survey and every cluster's labels."""

    org_path = "survey__organisation"

    survey = models.ForeignKey("surveys.Survey", on_delete=models.CASCADE, related_name="tasks")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.DRAFT)
    tagging_level = models.CharField(
        max_length=20, choices=TaggingLevel.choices, default=TaggingLevel.SPECIES
    )
    batch_size = models.PositiveIntegerField(default=200)
    # Which unlabelled clusters the AI labels at launch (annotation.services.auto_label).
    auto_label = models.CharField(
        max_length=10, choices=AutoLabelRule.choices, default=AutoLabelRule.OFF,
        help_text="Label clusters from the classifier's votes for classes whose translation "
        "says auto-label.")
    label_people_vehicles = models.BooleanField(
        default=True, help_text="At launch, label clusters where most relevant boxes are people "
        "or vehicles as Vehicles/Humans/Livestock.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["survey", "name"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "name"], name="task_name_unique"),
            models.CheckConstraint(
                condition=models.Q(batch_size__gte=1, batch_size__lte=10000),
                name="task_batch_size_range",
            ),
        ]

    def __str__(self):
        return f"{self.survey} / {self.name}"


class Label(models.Model):
    """A label with a one-key hotkey. Labels without a task are shared by every task."""

    org_path = "task__survey__organisation"
    org_shared_if_null = True  # the special labels

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, null=True, blank=True, related_name="labels"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    name = models.CharField(max_length=100)
    hotkey = models.CharField(max_length=1, blank=True)
    description = models.CharField(
        max_length=200, blank=True, help_text="Shown to annotators beside the label's button.")
    exclusive = models.BooleanField(
        default=False, help_text="Cannot be combined with other labels (e.g. Nothing)."
    )

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["task_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["task", "parent", "name"], name="label_name_unique"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_special(self) -> bool:
        return self.task_id is None

    def clean(self):
        self.hotkey = (self.hotkey or "").lower()
        # In an admin inline the task may be new (no id yet) but is set.
        if self.task_id is None and getattr(self, "task", None) is None:
            return  # a special label shared by every task
        taken = {}
        if self.task_id:
            taken = dict(Label.objects.filter(task_id=self.task_id, parent_id=self.parent_id)
                         .exclude(pk=self.pk).exclude(hotkey="").values_list("hotkey", "name"))
        problem = hotkey_problem(self.hotkey, top_level=self.parent_id is None, taken=taken,
                                 name=self.name)
        if problem:
            raise ValidationError({"hotkey": problem})


class ClusterAnnotation(models.Model):
    """One cluster's labels in one task, and the lease of whoever is labelling it."""

    org_path = "task__survey__organisation"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="annotations")
    cluster = models.ForeignKey(
        "surveys.Cluster", on_delete=models.CASCADE, related_name="annotations"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    labelled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=NOTE_MAX_LENGTH, blank=True)
    # Seconds between the cluster being offered and its label being saved.
    seconds_spent = models.FloatField(null=True, blank=True)
    leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    # Labelled by the AI at launch (auto-label rules), not by a person.
    auto_labelled = models.BooleanField(default=False)
    # The AI check of this cluster's labels against the classifier's suggestion.
    ai_check = models.CharField(max_length=10, choices=AiCheck.choices, default=AiCheck.NONE,
                                blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    # The bulk action (explore page, admin) that gave the labels, when it was one.
    bulk_action = models.ForeignKey("BulkAction", on_delete=models.SET_NULL, null=True,
                                    blank=True, related_name="+")
    # A Camtrap DP import's event-level human observation rows and the label ids they
    # became ({"observations": [...], "labels": [...]}); the export writes the rows again
    # while the labels are unchanged.
    extra = models.JSONField(default=dict, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["task", "id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "cluster"], name="annotation_unique"),
        ]
        # A level's waiting clusters in id order with their lease, which the claim reads
        # (services.leases: TODO_INDEX) without touching the rows it skips (held by others,
        # perhaps being saved): reading those rows would lock them and deadlock with saves.
        indexes = [models.Index(fields=["task", "labelled_at", "id", "leased_to",
                                        "lease_expires_at"], name="annotation_todo"),
                   models.Index(fields=["task", "ai_check", "id", "leased_to",
                                        "lease_expires_at"], name="annotation_check_todo")]

    def __str__(self):
        return f"{self.task} / cluster {self.cluster_id}"


class BulkAction(models.Model):
    """One action that labelled many clusters of a task at once, as the history keeps it.

    Each cluster it changed has a LabelChange with what it held before.
    """

    org_path = "task__survey__organisation"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="bulk_actions")
    kind = models.CharField(max_length=20, choices=BulkKind.choices)
    description = models.CharField(max_length=300)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                null=True, blank=True, related_name="+")
    done_at = models.DateTimeField(auto_now_add=True)
    count = models.PositiveIntegerField(default=0, help_text="Clusters labelled.")

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["-done_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.description}"


class LabelChange(models.Model):
    """What one cluster held before a bulk action replaced its labels."""

    org_path = "action__task__survey__organisation"

    action = models.ForeignKey(BulkAction, on_delete=models.CASCADE, related_name="changes")
    annotation = models.ForeignKey(ClusterAnnotation, on_delete=models.CASCADE,
                                   related_name="label_changes")
    # {"labels": [names], "annotator": user id or None, "labelled_at": ISO time or None}
    before = models.JSONField(default=dict)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["action", "annotation"]

    def __str__(self):
        return f"{self.action} / cluster annotation {self.annotation_id}"


class Translation(models.Model):
    """What a classifier class becomes in a task: one of its labels, or nothing.

    Made by name (case-insensitive) when the task is launched; editable in
    the task's admin. ``auto_label`` lets the AI label clusters of this class.
    """

    org_path = "task__survey__organisation"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="translations")
    classification = models.CharField(max_length=100, help_text="The classifier's class.")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+", help_text="Empty: the class is not used.")
    auto_label = models.BooleanField(default=False)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["task", "classification"]
        constraints = [models.UniqueConstraint(fields=["task", "classification"],
                                               name="translation_unique")]

    def __str__(self):
        return f"{self.classification} → {self.label or '—'}"
