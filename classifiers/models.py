from django.db import models

from accounts.access import AccessQuerySet

from .taxonomy import Category, DetectionStatus


class Classifier(models.Model):
    """A species classifier: a saved Keras/TensorFlow model and its classes.

    ``organisation`` empty means available to every organisation.
    """

    org_path = "organisation"
    org_shared_if_null = True

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, null=True, blank=True,
        related_name="classifiers",
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    model_key = models.CharField(max_length=500, help_text="Storage key of the saved model.")
    classes = models.JSONField(default=list, help_text="Class names in output order.")
    input_size = models.PositiveSmallIntegerField(default=64)
    threshold = models.FloatField(default=0.5)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"],
                                    name="classifier_name_unique"),
            models.UniqueConstraint(fields=["name"], condition=models.Q(organisation=None),
                                    name="shared_classifier_name_unique"),
        ]

    def __str__(self):
        return self.name


class Detection(models.Model):
    """A box on an image, normalised 0..1 with the origin top-left."""

    org_path = "image__camera__site__survey__organisation"

    image = models.ForeignKey("surveys.Image", on_delete=models.CASCADE, related_name="detections")
    left = models.FloatField()
    top = models.FloatField()
    right = models.FloatField()
    bottom = models.FloatField()
    score = models.FloatField()
    category = models.PositiveSmallIntegerField(choices=Category.choices, default=Category.ANIMAL)
    source = models.CharField(max_length=50, help_text="Which detector made the box.")
    status = models.CharField(
        max_length=20, choices=DetectionStatus.choices, default=DetectionStatus.ACTIVE
    )
    static = models.BooleanField(default=False)
    classification = models.CharField(max_length=100, blank=True)
    classification_score = models.FloatField(null=True, blank=True)
    # The observation columns of a box imported from Camtrap DP that TrapTagger has no
    # field for ({"row": {column: cell}}), written back over the derived ones on export.
    extra = models.JSONField(default=dict, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["image", "-score"]
        # Counting an image's boxes by kind and state (exports, suggestions) reads this
        # index alone, not every box row.
        indexes = [models.Index(fields=["image", "category", "status", "static"],
                                name="detection_counted_idx")]

    def __str__(self):
        return f"{self.get_category_display()} {self.score:.2f} on image {self.image_id}"

    @property
    def area(self) -> float:
        return max(0.0, self.right - self.left) * max(0.0, self.bottom - self.top)
