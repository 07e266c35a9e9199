from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from accounts.access import AccessQuerySet

from .geometry import polygon_problem
from .taxonomy import (
    BoxOrder,
    Category,
    DetectionStatus,
    DetectorInput,
    DetectorOutput,
    Fill,
    Placement,
    Preprocessing,
    StaticStatus,
)


class RegisteredModel(models.Model):
    """What every model registered from a user's file has: owner, name, version, stored file.

    ``organisation`` empty means available to every organisation. Each
    version is its own row (name + version unique per owner).
    """

    org_path = "organisation"
    org_shared_if_null = True

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, null=True, blank=True,
        related_name="%(class)ss",
    )
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40, default="1")
    description = models.TextField(blank=True)
    model_key = models.CharField(max_length=500, help_text="Storage key of the saved model.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name", "version"],
                                    name="%(class)s_version_unique"),
            models.UniqueConstraint(fields=["name", "version"],
                                    condition=models.Q(organisation=None),
                                    name="shared_%(class)s_version_unique"),
        ]


class Classifier(RegisteredModel):
    """A species classifier: a saved Keras/TensorFlow model, one version of it, and its classes.

    Detections remember exactly which version classified them
    (``Detection.classified_by``). Registered through
    classifiers.services.registration.
    """

    region = models.CharField(max_length=100, blank=True,
                              help_text="Where the classifier was trained to work.")
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
    geofence = models.BooleanField(
        default=False, help_text="Roll predictions of species outside their range (see the "
        "range table and each site's country) up to their parent, or to Animal.")
    species_ranges = models.JSONField(
        default=dict, blank=True, help_text='The range table: {class: {"allowed": [ISO 3166 '
        'codes], "parent": name}}; classes not listed are allowed everywhere.')

    class Meta(RegisteredModel.Meta):
        pass

    def __str__(self):
        return f"{self.name} {self.version}" if self.version else self.name

    def threshold_of(self, class_name: str) -> float:
        """The score a prediction of ``class_name`` needs to count."""
        return float(self.class_thresholds.get(class_name, self.threshold))


class Detector(RegisteredModel):
    """An object detector from a user's model file: one version of it and its categories.

    The boxes it makes carry ``source`` ("name version", hence the short
    name and version), and its ``threshold`` decides which of them are
    relevant (classifiers.selectors.relevance). Registered through
    classifiers.services.registration; run by
    classifiers.services.detector_inference. The weight-free detectors
    (``motion``, ``whole``) need no record.
    """

    name = models.CharField(max_length=40)
    version = models.CharField(max_length=9, default="1")
    input_size = models.PositiveSmallIntegerField(
        help_text="Side of the square the image is letterboxed to for the model.")
    output_format = models.CharField(max_length=10, choices=DetectorOutput.choices,
                                     default=DetectorOutput.BOXES)
    box_order = models.CharField(
        max_length=4, choices=BoxOrder.choices, default=BoxOrder.YXYX,
        help_text="Order of the coordinates of the model's boxes (boxes output only).")
    preprocessing = models.CharField(
        max_length=10, choices=Preprocessing.choices, default=Preprocessing.RAW,
        help_text="How pixels are scaled before the model sees them.")
    input_source = models.CharField(
        max_length=10, choices=DetectorInput.choices, default=DetectorInput.WEB,
        help_text="Which copy of each photo the model reads.")
    placement = models.CharField(
        max_length=10, choices=Placement.choices, default=Placement.CENTRED,
        help_text="Where the resized photo sits in the model's square input.")
    fill = models.CharField(
        max_length=10, choices=Fill.choices, default=Fill.GREY,
        help_text="What fills the rest of the square.")
    category_map = models.JSONField(
        default=dict, help_text="Model class number → category (1 animal, 2 person, "
        "3 vehicle); boxes of classes not listed are dropped.")
    threshold = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Relevance threshold of this detector's boxes: lower-scoring ones are kept "
        "but not classified or counted.")
    nms_iou = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.01), MaxValueValidator(1.0)],
        help_text="Non-max suppression: of two boxes of one category overlapping more than "
        "this (intersection over union), the lower-scoring one is dropped.")

    class Meta(RegisteredModel.Meta):
        pass

    def __str__(self):
        return self.source

    @property
    def source(self) -> str:
        """What its boxes' ``Detection.source`` says (at most 50 characters)."""
        return f"{self.name} {self.version}"


class CurrentDetections(models.Manager):
    """Boxes not superseded: what every reader sees (``Detection.objects``)."""

    def get_queryset(self):
        return super().get_queryset().filter(superseded=False)


class Detection(models.Model):
    """A box on an image, normalised 0..1 with the origin top-left.

    One detector's machine boxes are current on an image at a time: importing
    another detector's results or running another detector marks the earlier
    machine boxes ``superseded`` (classifiers.services.supersede). Superseded
    boxes are kept and can be restored, but ``Detection.objects`` (the default
    manager, hence ``image.detections`` too) leaves them out, so nothing
    shows, counts, classifies or exports them; ``Detection.all_boxes`` holds
    every box.
    """

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
    # The group of recurring boxes this one belongs to (classifiers.services.static);
    # ``static`` follows the group's decision.
    static_group = models.ForeignKey(
        "StaticGroup", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="detections",
    )
    classification = models.CharField(max_length=100, blank=True)
    classification_score = models.FloatField(null=True, blank=True)
    # The classifier version that set ``classification`` (a re-run skips its boxes).
    classified_by = models.ForeignKey(Classifier, on_delete=models.SET_NULL, null=True,
                                      blank=True, related_name="+")
    # The observation columns of a box imported from Camtrap DP that TrapTagger has no
    # field for ({"row": {column: cell}}), written back over the derived ones on export.
    extra = models.JSONField(default=dict, blank=True)
    superseded = models.BooleanField(
        default=False, help_text="Another detector's results replaced this machine box on its "
        "image: kept (restore_detections brings it back) but not shown or counted.")

    objects = CurrentDetections.from_queryset(AccessQuerySet)()
    all_boxes = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["image", "-score"]
        base_manager_name = "all_boxes"
        # Counting an image's boxes by kind and state (exports, suggestions) reads this
        # index alone, not every box row.
        indexes = [models.Index(fields=["image", "category", "status", "static"],
                                name="detection_counted_idx")]

    def __str__(self):
        return f"{self.get_category_display()} {self.score:.2f} on image {self.image_id}"

    @property
    def area(self) -> float:
        return max(0.0, self.right - self.left) * max(0.0, self.bottom - self.top)


class StaticGroup(models.Model):
    """Boxes that recur at one camera across many images: a rock, a branch, a post?

    Found by classifiers.services.static; a person accepts (the boxes become
    static and stop counting) or rejects (they count). The box is the median
    of the members'. ``remembered_from`` is the decided group of an earlier
    survey at the same camera location whose decision this group took over.
    """

    org_path = "camera__site__survey__organisation"

    camera = models.ForeignKey("surveys.Camera", on_delete=models.CASCADE,
                               related_name="static_groups")
    left = models.FloatField()
    top = models.FloatField()
    right = models.FloatField()
    bottom = models.FloatField()
    image_count = models.PositiveIntegerField(help_text="Images the box recurs on.")
    status = models.CharField(max_length=20, choices=StaticStatus.choices,
                              default=StaticStatus.PENDING)
    remembered_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The decided group of an earlier survey at this camera location whose "
        "decision was applied.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["camera", "-image_count", "id"]
        indexes = [models.Index(fields=["camera", "status"], name="static_group_camera_idx")]

    def __str__(self):
        return f"Static group {self.pk} at {self.camera}"

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.right, self.bottom)


def validate_polygon(value) -> None:
    """A mask polygon: at least three [x, y] points with both in 0..1."""
    problem = polygon_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_polygon")


class Mask(models.Model):
    """A polygon over one camera's frame: boxes wholly inside are masked.

    ``polygon`` is a list of [x, y] points, normalised 0..1 with the origin
    top-left like boxes. Saved and deleted through classifiers.services.masks,
    which masks and un-masks the camera's boxes.
    """

    org_path = "camera__site__survey__organisation"

    camera = models.ForeignKey("surveys.Camera", on_delete=models.CASCADE, related_name="masks")
    name = models.CharField(max_length=100, blank=True, help_text="e.g. “swaying grass”.")
    polygon = models.JSONField(
        validators=[validate_polygon],
        help_text="Click on the image to add corners; boxes wholly inside are masked.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["camera", "id"]

    def __str__(self):
        return self.name or f"Mask {self.pk} at {self.camera}"
