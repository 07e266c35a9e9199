import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_countries.fields import CountryField

from accounts.access import AccessQuerySet
from core.places import region_problem
from core.user_regex import UserRegexValidator

from .taxonomy import (
    DETECTOR_CHOICES,
    HASH_VERSION,
    STATIC_IOU,
    STATIC_MAX_AREA,
    STATIC_MIN_COUNT,
    ImportStatus,
    NamesFrom,
    SurveyStatus,
    SurveyType,
    TimestampSource,
    TriggerSource,
)


def validate_regex(value: str) -> None:
    """Kept for migration 0001; fields use core.user_regex.UserRegexValidator."""
    UserRegexValidator("regex")(value)


TIMEZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")


def validate_timezone(value: str) -> None:
    # Checked by shape first: ZoneInfo opens a file named after the value, and odd
    # names (very long, control characters) raise OS errors rather than "not found".
    problem = len(value) > 64 or not TIMEZONE_NAME.match(value)
    if not problem:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            problem = True
    if problem:
        shown = value if len(value) <= 64 else value[:60] + "…"
        raise ValidationError(
            f"“{shown}” is not a time zone name; use one like Africa/Nairobi or UTC.")


def default_detector_choice() -> str:
    """A new survey's detector: settings.SURVEY_DETECTOR (the default animal detector)."""
    return settings.SURVEY_DETECTOR


class Survey(models.Model):
    org_path = "organisation"

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="surveys"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    site_regex = models.CharField(
        max_length=300, default=r"^[^/]+", validators=[UserRegexValidator("site regex")],
        help_text="Applied to each folder path relative to the survey root (or to the file "
        "name or whole path: see “names from”); the first match names the site. The default "
        "takes the top folder. Images directly in the survey root belong to one site named "
        "after the root folder.",
    )
    camera_regex = models.CharField(
        max_length=300, blank=True, validators=[UserRegexValidator("camera regex")],
        help_text="Optional. Applied like the site regex; the first match names the physical "
        "camera, so several folders of one camera (e.g. Station/Species/… or one folder per "
        "card) are one camera. Empty, or no match: each folder is its own camera.")
    names_from = models.CharField(
        max_length=20, choices=NamesFrom.choices, default=NamesFrom.FOLDER,
        help_text="What the site regex and camera regex are applied to: each file's folder "
        "path (the default), its file name, or its whole path relative to the import folder.")
    trigger_source = models.CharField(
        max_length=20, choices=TriggerSource.choices, default=TriggerSource.MOTION
    )
    survey_type = models.CharField(
        max_length=20, choices=SurveyType.choices, default=SurveyType.TRAILS
    )
    timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone],
        help_text="The time zone the cameras' clocks were set to.",
    )
    status = models.CharField(
        max_length=20, choices=SurveyStatus.choices, default=SurveyStatus.NEW
    )
    status_detail = models.CharField(max_length=500, blank=True)
    # Set when a worker claims the current stage and touched as it reports
    # progress; empty while the stage waits in its queue (services.pipeline).
    stage_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    classifier = models.ForeignKey(
        "classifiers.Classifier", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="surveys",
    )
    detector = models.CharField(
        max_length=50, choices=DETECTOR_CHOICES, default=default_detector_choice,
        help_text="How animals are found before classification when no registered detector "
        "is chosen: the default animal detector, or a weight-free one.",
    )
    registered_detector = models.ForeignKey(
        "classifiers.Detector", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="surveys",
        help_text="A detector registered from a model file; when chosen, it is used instead "
        "of the weight-free one.",
    )
    # Which boxes are relevant (classified, counted): classifiers.selectors.relevant_detections.
    detection_threshold = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Boxes scoring below this are not relevant: not classified, not counted. "
        "Empty: each detector's own threshold (MegaDetector v5a 0.2, v5b 0.1, v4 0.8).",
    )
    ignore_small_boxes = models.BooleanField(
        default=False, help_text="Boxes covering less than 0.25% of the image are not relevant.")
    ignore_top_strip = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Boxes lying wholly within this top fraction of the frame are not relevant "
        "(e.g. 0.08 for a timestamp banner, 0.33 for sky); 0 keeps them.",
    )
    # Static detections (classifiers.services.static): boxes that recur at one camera.
    static_min_count = models.PositiveIntegerField(
        default=STATIC_MIN_COUNT, validators=[MinValueValidator(2)],
        help_text="A box must recur on at least this many images of one camera to be offered "
        "as a static detection (MegaDetector: 20).")
    static_iou = models.FloatField(
        default=STATIC_IOU, validators=[MinValueValidator(0.5), MaxValueValidator(0.99)],
        help_text="How closely boxes must overlap (intersection over union) to be the same "
        "static object (MegaDetector: 0.9).")
    static_max_area = models.FloatField(
        default=STATIC_MAX_AREA, validators=[MinValueValidator(0.001), MaxValueValidator(1.0)],
        help_text="Boxes covering more than this fraction of the image area are never static "
        "(MegaDetector: 0.2).")
    image_count = models.PositiveIntegerField(default=0)
    cluster_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["organisation", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="survey_name_unique"),
        ]

    def __str__(self):
        return self.name

    @property
    def detector_source(self) -> str:
        """What the boxes of the survey's detector are marked with (``Detection.source``)."""
        if self.registered_detector_id is not None:
            return self.registered_detector.source
        return self.detector


class Site(models.Model):
    """A camera station (upstream: trapgroup)."""

    org_path = "survey__organisation"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    altitude = models.FloatField(null=True, blank=True)
    # Where the site lies, for classifiers' species ranges (classifiers.services.geofence).
    country = CountryField(blank=True, help_text="ISO 3166 country.")
    region = models.CharField(max_length=6, blank=True, help_text="ISO 3166-2 subdivision "
                              "(e.g. US-CA, KE-30), when species ranges name regions.")
    # Camtrap DP locationID of an imported site (empty otherwise).
    external_id = models.CharField(max_length=255, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["survey", "name"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "name"], name="site_name_unique"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        self.region = self.region.strip().upper()
        if self.region and (problem := region_problem(self.region, self.country.code)):
            raise ValidationError({"region": f"{problem}."})


class Camera(models.Model):
    """A folder of images at a site."""

    org_path = "site__survey__organisation"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="cameras")
    path = models.CharField(max_length=500, help_text="Folder relative to the survey root.")
    # The physical camera the folder's images were taken by: the survey's camera regex match
    # (services.naming), else the folder path itself.
    physical_camera = models.CharField(max_length=500, blank=True)
    # Kept from a Camtrap DP import (empty otherwise), so that its export gives the
    # deployment back: its deploymentID, start and end, camera model, and in ``extra``
    # the deployment columns TrapTagger has no field for ({"row": {column: cell}}).
    external_id = models.CharField(max_length=255, blank=True)
    deployment_start = models.DateTimeField(null=True, blank=True)
    deployment_end = models.DateTimeField(null=True, blank=True)
    camera_model = models.CharField(max_length=200, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["site", "path"]
        constraints = [
            models.UniqueConstraint(fields=["site", "path"], name="camera_path_unique"),
        ]

    def __str__(self):
        return self.path

    @property
    def physical_name(self) -> str:
        """The physical camera's name: the camera regex's match, else the folder."""
        return self.physical_camera or self.path


class Cluster(models.Model):
    """Images of one site close in time, annotated as one unit (a sequence)."""

    org_path = "survey__organisation"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="clusters")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="clusters")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    image_count = models.PositiveIntegerField(default=0)
    # What the species classifier suggests for the whole cluster.
    suggestion = models.CharField(max_length=100, blank=True)
    suggestion_score = models.FloatField(null=True, blank=True)
    # Kept from a Camtrap DP import: the eventID, and in ``extra`` the event's machine
    # observation rows with the suggestion they gave ({"observations": [...],
    # "suggestion": [name, score]}); the export writes them while the suggestion is unchanged.
    external_id = models.CharField(max_length=255, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["site", "start", "id"]
        indexes = [models.Index(fields=["survey", "site", "start"])]

    def __str__(self):
        return f"Cluster {self.pk} at {self.site_id}"


class Image(models.Model):
    org_path = "camera__site__survey__organisation"

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="images")
    cluster = models.ForeignKey(
        Cluster, on_delete=models.SET_NULL, null=True, blank=True, related_name="images"
    )
    filename = models.CharField(max_length=255)
    key = models.CharField(max_length=700, help_text="Storage key of the original.")
    web_key = models.CharField(
        max_length=700, blank=True, help_text="Storage key of the 800 px copy."
    )
    content_hash = models.CharField(
        max_length=64, db_index=True,
        help_text="SHA-256 of the image data without its metadata (APPn and COM segments).",
    )
    # Which way content_hash was computed (taxonomy.HASH_VERSION); images
    # of an older version are rehashed by surveys.services.rehash.
    hash_version = models.PositiveSmallIntegerField(default=HASH_VERSION, editable=False)
    timestamp = models.DateTimeField(null=True, blank=True, help_text="What the camera wrote.")
    corrected_timestamp = models.DateTimeField(
        null=True, blank=True, help_text="What we believe (after clock corrections)."
    )
    timestamp_source = models.CharField(
        max_length=20, blank=True, choices=TimestampSource.choices, editable=False,
        help_text="Where the timestamp was read (empty: none found, or not recorded).")
    timestamp_suspect = models.BooleanField(
        default=False, editable=False,
        help_text="The only timestamp found is before 2000 or in the future: kept, not used.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    detected = models.BooleanField(default=False)
    # Kept from a Camtrap DP import: the mediaID; the filePath of a file the package did
    # not hold (a URL), so the image has no stored copy; and in ``extra`` the media
    # columns TrapTagger has no field for ({"row": {...}}) and the media-level observation
    # rows without a box ({"observations": [...]}).
    external_id = models.CharField(max_length=255, blank=True)
    remote_path = models.CharField(max_length=2000, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["corrected_timestamp", "filename"]
        constraints = [
            models.UniqueConstraint(fields=["camera", "filename"], name="image_file_unique"),
        ]
        # A camera's images in time order; with ``detected`` in it too, the counts of a
        # survey's (detected) images read this index alone, not every image row.
        indexes = [models.Index(fields=["camera", "corrected_timestamp", "detected"],
                                name="image_camera_time_idx")]

    def __str__(self):
        return self.filename

    @property
    def is_timestamped(self) -> bool:
        return self.corrected_timestamp is not None


class ImportRun(models.Model):
    """One import of files into a survey; its progress and outcome."""

    org_path = "survey__organisation"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="imports")
    source = models.CharField(max_length=1000)
    status = models.CharField(
        max_length=20, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched after every batch; a run silent for long was cut off (see importing).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The last file done (in sorted order): the next slice starts after it.
    cursor = models.TextField(blank=True, editable=False)
    # Moved on whenever the run is sent again; an older message is void (import_queue).
    ticket = models.PositiveIntegerField(default=0, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import {self.pk} into {self.survey}"


class ImportIssue(models.Model):
    """A file an import could not take, or took with a warning, and why."""

    org_path = "import_run__survey__organisation"

    import_run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="issues")
    path = models.CharField(max_length=1000)
    reason = models.CharField(max_length=1000)
    hint = models.CharField(max_length=500, blank=True, help_text="What to do about it.")
    skipped = models.BooleanField(default=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.path}: {self.reason}"
