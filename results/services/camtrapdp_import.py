"""Camtrap DP import: a package into a new or empty survey, the inverse of camtrapdp.py.

The mapping (the export's, read backwards):

* deployment → a site per locationID (named by locationName, else locationID; its
  coordinates) and one camera per deployment (path and ``external_id``: the
  deploymentID; start, end and camera model; other columns in ``Camera.extra``).
* media → images. A file the package holds (filePath relative to datapackage.json,
  else ``media/<fileName>``) is read and stored as a folder import stores a JPEG
  (EXIF-free hash, size, web copy) under ``surveys/<id>/originals/<its path>``; the
  timestamp is media.csv's. Other media (URLs, videos, files not in the package) become
  images without a stored file that keep their filePath (``remote_path``).
* event (eventID) → a cluster at its deployment's site. An image joins the event of its
  media-level observation, else the event of its deployment whose span holds its time.
* event-level human observations → the labels of a finished task “Camtrap DP import”
  (animal → a label named by scientificName; blank → Nothing; unknown → Unknown;
  human or vehicle → Vehicles/Humans/Livestock; unclassified → no label).
* event-level machine observations → the cluster's suggestion (the most probable animal).
* media-level observations with a box → detections (human-drawn: status added); without
  a box → kept on their image (TrapTagger labels clusters, not images).

What TrapTagger does not model is kept (``external_id``, ``extra``) so that exporting
the survey gives the same deployments, media and observations (see camtrapdp.py).
The whole package is checked before anything is stored; everything is written in one
transaction, and files stored before a failure are deleted.
"""

from __future__ import annotations

import csv
import json
import re
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.models import ClusterAnnotation, Label
from annotation.services.common import ensure_special_labels
from annotation.services.task_setup import do_create_task, do_finish_task
from classifiers.models import Detection
from classifiers.taxonomy import Category, DetectionStatus
from core.text import file_utf8_problem, not_utf8_message
from surveys.exceptions import UnreadableImage
from surveys.models import Camera, Cluster, Image, ImportRun, Site, Survey
from surveys.services.images import read_image
from surveys.services.importing import image_keys, name_problem, read_source_file
from surveys.services.pipeline import ANY, do_transition
from surveys.services.surveys import do_get_or_create_survey
from surveys.taxonomy import SurveyStatus

from ..exceptions import PackageError
from .camtrapdp import TABLES, table_schema
from .camtrapdp_check import check_camtrapdp, read_descriptor
from .results import safe_cell

TASK_NAME = "Camtrap DP import"
BOX_SOURCE = "camtrapdp"
PAGE = 500  # media rows read, stored and inserted at a time
_MISSING = frozenset({"NA", "NaN", "nan"})  # the tables' missingValues (besides "")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_JPEG = (".jpg", ".jpeg")


def _chars(model, name: str) -> int:
    return model._meta.get_field(name).max_length


# Cells stored in CharFields, and their lengths: the columns' own (a deploymentID is
# both a camera's path and its external id).
_LIMITS = {("deployments", "deploymentID"): min(_chars(Camera, "path"),
                                                _chars(Camera, "external_id")),
           ("deployments", "locationID"): _chars(Site, "external_id"),
           ("deployments", "locationName"): _chars(Site, "name"),
           ("deployments", "cameraModel"): _chars(Camera, "camera_model"),
           ("media", "mediaID"): _chars(Image, "external_id"),
           ("media", "filePath"): _chars(Image, "remote_path"),
           ("observations", "eventID"): _chars(Cluster, "external_id"),
           ("observations", "scientificName"): _chars(Label, "name")}
_CATEGORY = {"animal": Category.ANIMAL, "human": Category.PERSON, "vehicle": Category.VEHICLE}
_TYPE = {category: kind for kind, category in _CATEGORY.items()}
_SPECIAL = {"blank": "Nothing", "unknown": "Unknown", "human": "Vehicles/Humans/Livestock",
            "vehicle": "Vehicles/Humans/Livestock"}
_DEPLOYMENT_FIELDS = {"deploymentID", "locationID", "locationName", "latitude", "longitude",
                      "deploymentStart", "deploymentEnd", "cameraModel"}
_MEDIA_FIELDS = {"mediaID", "deploymentID", "timestamp", "filePath", "fileName"}
_MEDIA_DEFAULTED = {"captureMethod", "filePublic", "fileMediatype"}  # the export fills these
_BOX_FIELDS = {"deploymentID", "mediaID", "observationLevel", "observationType",
               "scientificName", "bboxX", "bboxY", "bboxWidth", "bboxHeight",
               "classificationMethod", "classificationProbability"}
_BOX = ("bboxX", "bboxY", "bboxWidth", "bboxHeight")


@dataclass
class Row:
    """One CSV row: its cells (missing values as ""), where it came from."""

    table: str
    number: int  # as the checker counts: the header is row 1
    cells: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")

    def where(self, column: str) -> str:
        return f"{self.table}.csv row {self.number}, field {column}"

    def kept(self, leave_out=frozenset(), always=frozenset()) -> dict[str, str]:
        """The cells to keep: non-empty ones (and ``always``), less ``leave_out``."""
        return {k: v for k, v in self.cells.items()
                if k not in leave_out and (v or k in always)}


@dataclass
class _Event:
    key: tuple
    external: str
    deployment: str
    start: datetime | None = None
    end: datetime | None = None
    human: list[Row] = field(default_factory=list)
    machine: list[Row] = field(default_factory=list)
    images: int = 0

    def cover(self, start: datetime, end: datetime) -> None:
        self.start = start if self.start is None else min(self.start, start)
        self.end = end if self.end is None else max(self.end, end)


@dataclass
class _Plan:
    """The package read, checked and grouped; nothing stored yet."""

    folder: Path
    deployments: list[Row]
    media: list[Row]
    events: dict[tuple, _Event] = field(default_factory=dict)
    event_of_media: dict[str, tuple] = field(default_factory=dict)
    media_rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    boxes: list[Row] = field(default_factory=list)
    files: dict[str, Path | None] = field(default_factory=dict)  # mediaID -> file to store


def _when(row: Row, column: str) -> datetime | None:
    value = row[column]
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PackageError(f"{row.where(column)}: {value!r} is not an ISO 8601 time.") from exc
    if moment.tzinfo is None:
        raise PackageError(f"{row.where(column)}: {value!r} has no UTC offset.")
    return moment


def _number(row: Row, column: str) -> float | None:
    return float(row[column]) if row[column] else None  # the checker saw it is a number


# Reading and checking -------------------------------------------------------------------

def _table_paths(folder: Path) -> dict[str, Path]:
    """The tables' files as datapackage.json names them (those inside the package)."""
    try:
        descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8-sig"))
        resources = descriptor.get("resources", [])
    except (ValueError, AttributeError):
        return {}  # the checker names the problem
    paths = {}
    for resource in resources if isinstance(resources, list) else []:
        if isinstance(resource, dict) and resource.get("name") in TABLES:
            path = resource.get("path")
            if isinstance(path, str) and (folder / path).resolve().is_relative_to(
                    folder.resolve()) and (folder / path).is_file():
                paths[resource["name"]] = folder / path
    return paths


def _not_utf8(path: Path) -> PackageError:
    return PackageError(not_utf8_message(path.name, file_utf8_problem(path))
                        + " Nothing was imported.")


def _check_header(name: str, path: Path) -> None:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
    except UnicodeDecodeError as exc:
        raise _not_utf8(path) from exc
    expected = [f["name"] for f in table_schema(name)["fields"]]
    missing = [c for c in expected if c not in header]
    unknown = [c for c in header if c not in expected]
    if missing or unknown:
        raise PackageError(
            f"{path.name}: " + "; ".join(
                part for part in (
                    f"missing column(s) {', '.join(missing)}" if missing else "",
                    f"unknown column(s) {', '.join(unknown)}" if unknown else "") if part)
            + f". A Camtrap DP 1.0 {name} table has every column of its schema, in order "
            "(cells may be empty). Nothing was imported.")


def _read(name: str, path: Path) -> list[Row]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [Row(name, number, {k: "" if v is None or v in _MISSING else v
                                       for k, v in cells.items() if k is not None})
                    for number, cells in enumerate(csv.DictReader(fh), start=2)]
    except UnicodeDecodeError as exc:
        raise _not_utf8(path) from exc


def read_package(folder: Path) -> tuple[list[Row], list[Row], list[Row]]:
    """The package's deployments, media and observations rows, once it passes the checks.

    Raises PackageError naming the file, row and field: no datapackage.json, a table
    with missing or unknown columns, anything the Camtrap DP 1.0.2 profile and table
    schemas refuse (check_camtrapdp). A UTF-8 byte order mark is accepted.
    """
    if not folder.is_dir():
        raise PackageError(f"{folder} is not a folder; give the folder that holds "
                           "datapackage.json.")
    if not (folder / "datapackage.json").is_file():
        raise PackageError(f"{folder}: no datapackage.json; give the folder that holds the "
                           "package (datapackage.json beside deployments.csv, media.csv and "
                           "observations.csv).")
    _descriptor, problems = read_descriptor(folder)
    if problems:
        raise PackageError("The package cannot be read as it is, so nothing was imported:\n"
                           + "\n".join(problems))
    paths = _table_paths(folder)
    for name, path in paths.items():
        _check_header(name, path)
    if "media" in paths:  # said more plainly than the schema's pattern would
        for row in _read("media", paths["media"]):
            _check_file_path(row)
    problems = check_camtrapdp(folder)
    if problems:
        raise PackageError("The package does not pass the Camtrap DP 1.0.2 checks, so "
                           "nothing was imported:\n" + "\n".join(problems))
    paths = _table_paths(folder)
    missing = [name for name in TABLES if name not in paths]
    if missing:  # e.g. a table split over several files
        raise PackageError(f"datapackage.json: the {', '.join(missing)} resource(s) must each "
                           "be one CSV file in the package.")
    return tuple(_read(name, paths[name]) for name in TABLES)


def _check_cells(rows: list[Row]) -> None:
    for row in rows:
        for (table, column), limit in _LIMITS.items():
            if table == row.table and len(row[column]) > limit:
                raise PackageError(f"{row.where(column)}: longer than {limit} characters.")
        name = row["scientificName"]
        if name and safe_cell(name) != name:
            raise PackageError(
                f"{row.where('scientificName')}: {name!r} starts with {name[0]!r}, which "
                "spreadsheets run as a formula; a scientific name never does. Fix the name "
                "and import again.")


def _check_file_path(row: Row) -> None:
    """Raise PackageError for a filePath that is absolute or climbs out with '..'."""
    path = row["filePath"]
    if _URL.match(path):
        return
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path) or ".." in parts:
        raise PackageError(f"{row.where('filePath')}: {path!r} points outside the package; "
                           "give a path relative to datapackage.json, without '..'. Nothing "
                           "was imported.")


def _media_file(folder: Path, row: Row) -> Path | None:
    """The file of a media row inside the package; None when the package does not hold it.

    Raises PackageError for a filePath that leads outside the package.
    """
    path, root = row["filePath"], folder.resolve()
    candidates = []
    if not _URL.match(path):
        _check_file_path(row)
        candidates.append((folder / path.replace("\\", "/"), "filePath"))
    if row["fileName"] and "/" not in row["fileName"] and "\\" not in row["fileName"] \
            and row["fileName"] not in (".", ".."):
        candidates.append((folder / "media" / row["fileName"], "fileName"))
    for candidate, column in candidates:
        if candidate.is_file() or candidate.is_symlink():
            if not candidate.resolve().is_relative_to(root):
                raise PackageError(f"{row.where(column)}: {candidate.relative_to(folder)} is a "
                                   "link to a file outside the package.")
            if candidate.is_file():
                return candidate
    return None


def _plan(folder: Path) -> _Plan:
    """Read and check the whole package, grouping observations; nothing is stored."""
    deployments, media, observations = read_package(folder)
    _check_cells(deployments)
    _check_cells(media)
    _check_cells(observations)
    plan = _Plan(folder, deployments, media)
    for row in media:
        mediatype, name = row["fileMediatype"].lower(), row["fileName"] or row["filePath"]
        found = _media_file(folder, row)
        jpeg = mediatype == "image/jpeg" or name.lower().endswith(_JPEG)
        plan.files[row["mediaID"]] = found if jpeg else None
    for row in observations:
        _plan_observation(plan, row)
    _place_media(plan)
    return plan


def _plan_observation(plan: _Plan, row: Row) -> None:
    media_level = row["observationLevel"] == "media"
    box = [row[c] for c in _BOX]
    if any(box) and not all(box):
        raise PackageError(f"{row.where('bboxX')}: bboxX, bboxY, bboxWidth and bboxHeight go "
                           "together; give all four or none.")
    if media_level and not row["mediaID"]:
        raise PackageError(f"{row.where('mediaID')}: a media-level observation needs the "
                           "media it is about.")
    if media_level and all(box):
        plan.boxes.append(row)
    elif media_level:
        plan.media_rows[row["mediaID"]].append(row)
    start, end = _when(row, "eventStart"), _when(row, "eventEnd")
    key = (row["eventID"],) if row["eventID"] else ("", row["deploymentID"], start, end)
    if media_level and not row["eventID"]:
        return  # a media-level observation outside any event
    event = plan.events.get(key)
    if event is None:
        event = plan.events[key] = _Event(key, row["eventID"], row["deploymentID"])
    elif event.deployment != row["deploymentID"]:
        raise PackageError(f"{row.where('deploymentID')}: event {row['eventID']!r} is at "
                           f"deployment {event.deployment!r} in an earlier row.")
    if media_level:
        plan.event_of_media.setdefault(row["mediaID"], key)
        if not (event.human or event.machine):
            event.cover(start, end)
    else:
        if not (event.human or event.machine):
            event.start = event.end = None  # an event's own rows give its span
        event.cover(start, end)
        (event.machine if row["classificationMethod"] == "machine" else event.human).append(row)


def _place_media(plan: _Plan) -> None:
    """Media without a media-level observation join their deployment's event by time."""
    spans = defaultdict(list)
    for event in plan.events.values():
        if event.start is not None:
            spans[event.deployment].append((event.start, event.end, event.key))
    for found in spans.values():
        found.sort(key=lambda span: span[0])
    starts = {deployment: [s[0] for s in found] for deployment, found in spans.items()}
    for row in plan.media:
        key = plan.event_of_media.get(row["mediaID"])
        if key is None and row["deploymentID"] in spans:
            taken = _when(row, "timestamp")
            i = bisect_right(starts[row["deploymentID"]], taken) - 1
            if i >= 0 and taken <= spans[row["deploymentID"]][i][1]:
                key = plan.event_of_media[row["mediaID"]] = spans[row["deploymentID"]][i][2]
        if key is not None:
            plan.events[key].images += 1


# Storing ---------------------------------------------------------------------------------

def _empty_survey(organisation, name: str, acting_user) -> tuple[Survey, bool]:
    """The organisation's survey ``name``, created if new and locked; refused unless empty."""
    survey, created = do_get_or_create_survey(organisation, name, acting_user=acting_user)
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    held = {"site(s)": Site.objects.filter(survey=survey).count(),
            "import(s)": ImportRun.objects.filter(survey=survey).count(),
            "task(s)": survey.tasks.count()}
    if any(held.values()):
        raise PackageError(
            f"Survey “{survey.name}” of “{organisation.name}” already holds "
            + ", ".join(f"{n} {what}" for what, n in held.items() if n)
            + "; a Camtrap DP package is imported into a new or empty survey. Give another "
            "--survey name.")
    return survey, created


class _Loader:
    """Writes a checked plan into an empty survey; remembers every file it stored."""

    def __init__(self, survey: Survey, plan: _Plan, stored: list[str], acting_user):
        self.survey, self.plan, self.stored = survey, plan, stored
        self.acting_user = acting_user
        self.tz = ZoneInfo(survey.timezone)
        self.cameras: dict[str, Camera] = {}
        self.clusters: dict[tuple, Cluster] = {}
        self.images: dict[str, int] = {}
        self.files: dict[Path, tuple] = {}  # a file two media rows share is stored once
        self.taken: set[tuple[int, str]] = set()  # (camera, filename) is unique
        self.boxed = {row["mediaID"] for row in plan.boxes}
        self.counts = defaultdict(int)

    def run(self) -> dict:
        self._deployments()
        self._events()
        for start in range(0, len(self.plan.media), PAGE):
            self._media(self.plan.media[start:start + PAGE])
        self._boxes()
        task = self._task()
        survey = self.survey
        survey.image_count = len(self.images)
        survey.cluster_count = len(self.clusters)
        survey.save(update_fields=["image_count", "cluster_count"])
        do_transition(survey, ANY, SurveyStatus.READY,
                      f"Imported from the Camtrap DP package {self.plan.folder.name}.")
        return {"survey": survey.name, "survey_id": survey.pk, "task_id": task.pk,
                "task": task.name, "sites": Site.objects.filter(survey=survey).count(),
                "deployments": len(self.cameras), "media": len(self.images),
                "clusters": len(self.clusters), **self.counts}

    def _deployments(self) -> None:
        sites: dict[str, Site] = {}
        names: set[str] = set()
        for row in self.plan.deployments:
            key = row["locationID"] or row["locationName"] or row["deploymentID"]
            if key in sites:
                continue
            name = row["locationName"] or row["locationID"] or row["deploymentID"]
            if name.casefold() in names:  # two locations of one name (MariaDB ignores case)
                name = f"{name} ({key})"[:_chars(Site, "name")]
            names.add(name.casefold())
            sites[key] = Site(survey=self.survey, name=name, external_id=row["locationID"],
                              latitude=_number(row, "latitude"),
                              longitude=_number(row, "longitude"))
        Site.objects.bulk_create(sites.values())
        cameras = []
        for row in self.plan.deployments:
            site = sites[row["locationID"] or row["locationName"] or row["deploymentID"]]
            kept = row.kept(_DEPLOYMENT_FIELDS)
            # What the site cannot give back for this deployment.
            if row["locationName"] != site.name:
                kept["locationName"] = row["locationName"]
            for column, value in (("latitude", site.latitude), ("longitude", site.longitude)):
                if _number(row, column) != value:
                    kept[column] = row[column]
            cameras.append(Camera(
                site=site, path=row["deploymentID"], external_id=row["deploymentID"],
                deployment_start=_when(row, "deploymentStart"),
                deployment_end=_when(row, "deploymentEnd"), camera_model=row["cameraModel"],
                extra={"row": kept} if kept else {}))
        Camera.objects.bulk_create(cameras)
        self.cameras = {camera.external_id: camera for camera in cameras}

    def _events(self) -> None:
        for key, event in self.plan.events.items():
            suggestion, score = _suggestion(event.machine)
            extra = {}
            if event.machine:
                extra = {"observations": [row.kept() for row in event.machine],
                         "suggestion": [suggestion, score]}
            self.clusters[key] = Cluster(
                survey=self.survey, site=self.cameras[event.deployment].site,
                start=event.start, end=event.end, image_count=event.images,
                suggestion=suggestion, suggestion_score=score, external_id=event.external,
                extra=extra)
        Cluster.objects.bulk_create(self.clusters.values(), batch_size=1000)
        self.counts["suggestions"] = sum(1 for c in self.clusters.values() if c.suggestion)
        assert all(c.pk for c in self.clusters.values()), "the database must return new ids"

    def _media(self, rows: list[Row]) -> None:
        images = []
        for row in rows:
            camera = self.cameras[row["deploymentID"]]
            found = self.plan.files[row["mediaID"]]
            stored = self._store(row, found) if found else None
            filename = row["fileName"] or PurePosixPath(row["filePath"]).name
            kept = row.kept(_MEDIA_FIELDS, always=_MEDIA_DEFAULTED)
            if not row["fileName"] or len(filename) > _chars(Image, "filename") or (
                    camera.pk, filename.casefold()) in self.taken:
                filename, kept["fileName"] = row["mediaID"], row["fileName"]
            self.taken.add((camera.pk, filename.casefold()))
            if stored:
                kept["filePath"] = row["filePath"]
            moment = _when(row, "timestamp")
            key, web_key, info, size = stored or ("", "", None, 0)
            extra = {"row": kept}
            if self.plan.media_rows.get(row["mediaID"]):
                extra["observations"] = [obs.kept({"mediaID"})
                                         for obs in self.plan.media_rows[row["mediaID"]]]
                self.counts["kept_media_observations"] += len(extra["observations"])
            event = self.plan.event_of_media.get(row["mediaID"])
            images.append(Image(
                camera=camera, cluster=self.clusters[event] if event else None,
                filename=filename, key=key, web_key=web_key,
                content_hash=info.content_hash if info else "", timestamp=moment,
                corrected_timestamp=moment, width=info.width if info else None,
                height=info.height if info else None, file_size=size,
                detected=not stored or row["mediaID"] in self.boxed,
                external_id=row["mediaID"], remote_path="" if stored else row["filePath"],
                extra=extra))
        Image.objects.bulk_create(images)
        self.images.update((image.external_id, image.pk) for image in images)
        self.counts["stored_files"] += sum(1 for image in images if image.key)

    def _store(self, row: Row, path: Path) -> tuple:
        """Read and store the media row's file like a folder import; PackageError if bad."""
        if path in self.files:
            return self.files[path]
        rel = path.relative_to(self.plan.folder).as_posix()
        problem = name_problem(rel)
        try:
            if problem:
                raise UnreadableImage(problem)
            data = read_source_file(path, cap=settings.MAX_IMPORT_FILE_BYTES,
                                    seconds=settings.IMPORT_FILE_READ_SECONDS)
            info = read_image(data, self.tz)
        except OSError as exc:
            raise PackageError(f"{row.where('filePath')}: {rel} cannot be read "
                               f"({exc.strerror or exc}). Nothing was imported.") from exc
        except UnreadableImage as exc:
            raise PackageError(f"{row.where('filePath')}: {rel} {exc}. Nothing was "
                               "imported.") from exc
        original, web = image_keys(self.survey.pk, rel)
        key = default_storage.save(original, ContentFile(data))
        self.stored.append(key)
        web_key = default_storage.save(web, ContentFile(info.web_jpeg))
        self.stored.append(web_key)
        self.files[path] = (key, web_key, info, len(data))
        return self.files[path]

    def _boxes(self) -> None:
        detections = []
        for row in self.plan.boxes:
            kind = row["observationType"]
            category = _CATEGORY.get(kind, Category.ANIMAL)
            probability = _number(row, "classificationProbability")
            by_person = row["classificationMethod"] == "human"
            named = kind == "animal" and bool(row["scientificName"])
            kept = row.kept(_BOX_FIELDS, always={"eventID", "classifiedBy"})
            if _TYPE[category] != kind:
                kept["observationType"] = kind
            if row["scientificName"] and not named:
                kept["scientificName"] = row["scientificName"]
            if not row["classificationMethod"]:
                kept["classificationMethod"] = ""
            if by_person and probability is not None:
                kept["classificationProbability"] = row["classificationProbability"]
            x, y = _number(row, "bboxX"), _number(row, "bboxY")
            detections.append(Detection(
                image_id=self.images[row["mediaID"]], left=x, top=y,
                right=x + _number(row, "bboxWidth"), bottom=y + _number(row, "bboxHeight"),
                score=1.0 if probability is None else probability, category=category,
                source=BOX_SOURCE,
                status=DetectionStatus.ADDED if by_person else DetectionStatus.ACTIVE,
                classification=row["scientificName"] if named else "",
                classification_score=probability if named else None, extra={"row": kept}))
        Detection.objects.bulk_create(detections, batch_size=1000)
        self.counts["detections"] = len(detections)

    def _task(self):
        """The finished task holding the events' human labels."""
        # One label per name whatever its case (MariaDB compares names without case).
        species: dict[str, str] = {}
        for event in self.plan.events.values():
            for row in event.human:
                if row["observationType"] == "animal" and row["scientificName"]:
                    species.setdefault(row["scientificName"].casefold(), row["scientificName"])
        task = do_create_task(self.survey, name=TASK_NAME,
                              labels=[(n, "") for n in sorted(species.values())],
                              acting_user=self.acting_user)
        ensure_special_labels()
        ids = {("species", name.casefold()): pk for name, pk in
               Label.objects.filter(task=task).values_list("name", "pk")}
        ids.update((("special", name), pk) for name, pk in Label.objects.filter(
            task=None, parent=None).values_list("name", "pk"))
        annotations, labels = [], {}
        now = timezone.now()
        for key, cluster in self.clusters.items():
            event = self.plan.events[key]
            given = sorted({ids[label] for label in map(_label_of, event.human) if label})
            annotation = ClusterAnnotation(task=task, cluster=cluster)
            if event.human:
                times = [t for t in (_when(row, "classificationTimestamp")
                                     for row in event.human) if t]
                annotation.labelled_at = (max(times) if times else now) if given else None
                annotation.extra = {"observations": [row.kept() for row in event.human],
                                    "labels": given}
                labels[cluster.pk] = given
                self.counts["labelled_clusters"] += bool(given)
            annotations.append(annotation)
        do_finish_task(task, annotations, labels, acting_user=self.acting_user)
        return task


def _label_of(row: Row) -> tuple[str, str] | None:
    """The label an event-level human observation becomes: ("species", name in any
    case) or ("special", name); None: unlabelled."""
    kind = row["observationType"]
    if kind == "animal" and row["scientificName"]:
        return ("species", row["scientificName"].casefold())
    if kind == "animal":
        return ("special", "Unknown")
    return ("special", _SPECIAL[kind]) if kind in _SPECIAL else None


def _suggestion(rows: list[Row]) -> tuple[str, float | None]:
    """The most probable animal among an event's machine observations."""
    named = [row for row in rows if row["observationType"] == "animal" and row["scientificName"]]
    if not named:
        return "", None
    best = max(named, key=lambda row: _number(row, "classificationProbability") or -1.0)
    return best["scientificName"], _number(best, "classificationProbability")


def do_import_camtrapdp(organisation, survey_name: str, folder: Path, *,
                        acting_user=None) -> dict:
    """Import the Camtrap DP package in ``folder`` into the organisation's survey
    ``survey_name`` (created if new; an existing one must be empty); return counts.

    ``acting_user`` None is an operator at the command line. The package is read and
    checked first (PackageError naming the file, row and field); then everything is
    written in one transaction, so on any error nothing is stored (files already
    stored are deleted). Holds a lock on the survey's row while it writes.
    """
    plan = _plan(Path(folder))
    stored: list[str] = []
    try:
        with transaction.atomic():
            survey, created = _empty_survey(organisation, survey_name, acting_user)
            result = _Loader(survey, plan, stored, acting_user).run()
    except BaseException:
        for key in stored:
            try:
                default_storage.delete(key)
            except OSError:
                pass  # best effort: the error being raised matters more
        raise
    return {**result, "created": created}
