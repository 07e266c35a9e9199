from django.db import models


class SurveyStatus(models.TextChoices):
    """The stages a survey walks through; see surveys.services.pipeline."""

    NEW = "new", "New"
    IMPORTING = "importing", "Importing"
    CLUSTERING = "clustering", "Clustering"
    DETECTING = "detecting", "Detecting"
    STATIC = "static", "Finding static detections"
    CLASSIFYING = "classifying", "Classifying"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class TriggerSource(models.TextChoices):
    MOTION = "motion", "Motion"
    TIMELAPSE = "timelapse", "Time-lapse"


class NamesFrom(models.TextChoices):
    """What a survey's site and camera regexes are applied to (services.naming)."""

    FOLDER = "folder", "Folder path (StationA/100MEDIA)"
    FILENAME = "filename", "File name (StationA__2009-04-21.JPG)"
    PATH = "path", "Whole relative path (folder and file name)"


class TimestampSource(models.TextChoices):
    """Where an image's timestamp was read (services.timestamps: the chain, in this order)."""

    DATETIME_ORIGINAL = "exif_original", "EXIF DateTimeOriginal"
    DATETIME_DIGITIZED = "exif_digitized", "EXIF DateTimeDigitized"
    DATETIME = "exif_datetime", "EXIF DateTime"
    FILE_NAME = "file_name", "file name"
    FOLDER_NAME = "folder_name", "folder name"


class SurveyType(models.TextChoices):
    TRAILS = "trails", "Trails"
    PLAINS = "plains", "Plains"
    WATERHOLE = "waterhole", "Waterhole"
    BAITED = "baited", "Baited"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# "default": the default animal detector (classifiers.services.default_detector), registered
# at first use. Then the weight-free detectors (classifiers.services.detectors.DETECTORS),
# chosen explicitly; detectors from users' model files are classifiers.Detector rows.
DEFAULT_DETECTOR = "default"
DETECTOR_CHOICES = [
    (DEFAULT_DETECTOR, "The default animal detector (YOLOX-tiny, one class: animal)"),
    ("motion", "Motion difference within each cluster (weight-free)"),
    ("whole", "Whole image, one box per image (weight-free)"),
]

# Clustering rules (domain: motion-triggered cameras).
CLUSTER_GAP_SECONDS = 60
CLUSTER_MAX_SECONDS = 15 * 60
JPEG_SUFFIXES = (".jpg", ".jpeg")
# Image.hash_version of services.images.content_hash: 1 skipped APP1 (EXIF/XMP) only;
# 2 skips every APPn and COM segment (IPTC, ICC, comments too).
HASH_VERSION = 2

# Static-detection search defaults (classifiers.services.static): MegaDetector's
# repeat-detection elimination — occurrenceThreshold 20, iouThreshold 0.9 and
# maxSuspiciousDetectionSize 0.2, which MegaDetector compares with the box's *area*
# (w * h as a fraction of the image), not its sides. Each survey may change them.
STATIC_MIN_COUNT = 20
STATIC_IOU = 0.9
STATIC_MAX_AREA = 0.2
