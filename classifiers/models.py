from django.db import models

from accounts.access import AccessQuerySet

from .taxonomy import Category, DetectionStatus, Preprocessing


class Classifier(models.Model):
    """A species classifier: a saved Keras/TensorFlow model, one version of it, and its classes.

    ``organisation`` empty means available to every organisation. Each
    version is its own row (name + version unique), so detections remember
    exactly which model classified them (``Detection.classified_by``).
    Registered through classifiers.services.registration.
    """

    org_path = "organisation"
    org_shared_if_null = True

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, null=True, blank=True,
        related_name="classifiers",
    )
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40, default="1")
    region = models.CharField(max_length=100, blank=True,
                              help_text="Where the classifier was trained to work.")
    description = models.TextField(blank=True)
    model_key = models.CharField(max_length=500, help_text="Storage key of the saved model.")
    classes = models.JSONField(default=list,
                               help_text="The label index: class names in output order.")
    input_size = models.PositiveSmallIntegerField(default=64)
    preprocessing = models.CharField(
        max_length=10, choices=Preprocessing.choices, default=Preprocessing.RAW,
        help_text="How crop pixels are scaled before the model sees them.")
    threshold = models.FloatField(
        default=0.5, help_text="Score a prediction needs to count, for classes without "
        "their own threshold.")
    class_thresholds = models.JSONField(
        default=dict, blank=True, help_text="Per-class thresholds: {class name: score}.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name", "version"],
                                    name="classifier_version_unique"),
            models.UniqueConstraint(fields=["name", "version"],
                                    condition=models.Q(organisation=None),
                                    name="shared_classifier_version_unique"),
        ]

    def __str__(self):
        return f"{self.name} {self.version}" if self.version else self.name

    def threshold_of(self, class_name: str) -> float:
        """The score a prediction of ``class_name`` needs to count."""
        return float(self.class_thresholds.get(class_name, self.threshold))


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
    # The classifier version that set ``classification`` (a re-run skips its boxes).
    classified_by = models.ForeignKey(Classifier, on_delete=models.SET_NULL, null=True,
                                      blank=True, related_name="+")
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
