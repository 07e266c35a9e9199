from django.db import models


class Category(models.IntegerChoices):
    """MegaDetector's detection categories."""

    ANIMAL = 1, "Animal"
    PERSON = 2, "Person"
    VEHICLE = 3, "Vehicle"


class Preprocessing(models.TextChoices):
    """How a classifier wants crop pixels (0..255 RGB) scaled."""

    RAW = "raw", "0..255 (the model rescales itself)"
    UNIT = "unit", "0..1"
    SYMMETRIC = "symmetric", "-1..1 (MobileNet, Inception style)"


class DetectorOutput(models.TextChoices):
    """What a registered detector's model gives, declared at registration: how its outputs
    are decoded (services.detector_inference), never guessed from their shapes."""

    BOXES = "boxes", ("Boxes, scores and classes, boxes 0..1 of the input (TensorFlow Object "
                      "Detection API)")
    YOLOV5 = "yolov5", ("YOLOv5 rows [batch, N, 5 + classes]: cx, cy, w, h in input pixels, "
                        "objectness, class scores (MegaDetector v5)")
    YOLOX = "yolox", ("YOLOX head rows exported without decoding: cell offsets and log sizes "
                      "at strides 8, 16, 32, objectness, class scores")


class BoxOrder(models.TextChoices):
    """The order of a detector's box coordinates (normalised 0..1 over the model's input)."""

    YXYX = "yxyx", "y1, x1, y2, x2 (TensorFlow Object Detection API)"
    XYXY = "xyxy", "x1, y1, x2, y2"


class DetectorInput(models.TextChoices):
    """Which copy of a photo a registered detector reads."""

    WEB = "web", "The 800 px web copy"
    ORIGINAL = "original", "The original (decoded at reduced scale when much larger)"


class Placement(models.TextChoices):
    """Where the resized photo sits in a detector's square input."""

    CENTRED = "centred", "Centred (YOLOv5, MegaDetector)"
    TOP_LEFT = "top_left", "Top-left corner (YOLOX)"


class Fill(models.TextChoices):
    """What fills the rest of a detector's square input."""

    GREY = "grey", "Grey 114 (YOLOv5, MegaDetector)"
    BLACK = "black", "Black (YOLOX)"


class DetectionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DELETED = "deleted", "Deleted"
    HIDDEN = "hidden", "Hidden"
    MASKED = "masked", "Masked"
    EDITED = "edited", "Edited"
    ADDED = "added", "Added"


# Boxes people drew or corrected. Which boxes count, are shown and exported is
# classifiers.selectors.relevance (status, static, score threshold, survey options).
HUMAN_STATUSES = (DetectionStatus.EDITED, DetectionStatus.ADDED)

# Statuses that nothing sets or reads yet: hidden from the admin until wired.
# (MASKED is set by masks: classifiers.services.masks.)
UNWIRED_DETECTION_STATUSES = frozenset({DetectionStatus.HIDDEN})

# A box smaller than this fraction of the image does not vote for a cluster's species.
MIN_CLASSIFY_AREA = 0.0025


class StaticStatus(models.TextChoices):
    """A person's decision on a group of recurring boxes (classifiers.services.static)."""

    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Static (not an animal)"
    REJECTED = "rejected", "Not static"


DECIDED_STATIC_STATUSES = (StaticStatus.ACCEPTED, StaticStatus.REJECTED)

