"""Camtrap DP 1.0 export: datapackage.json, deployments.csv, media.csv, observations.csv.

The mapping (the format: https://camtrap-dp.tdwg.org/data/):

* deployment: a camera folder, from its first to its last timestamped image; its
  location is the site (coordinates required by the standard).
* media: each timestamped image. ``filePath`` is ``media/<camera folder>/<file>``,
  where ``copy_media`` puts the file; ``filePublic`` is false (files are private).
* observations, event level: each label of a labelled cluster in the task
  (``classificationMethod`` human, by the annotator), and the AI suggestion of a
  cluster nobody labelled (machine, with its probability).
* observations, media level: each relevant box (``classifiers.selectors.relevance``:
  the survey's threshold and box options apply; machine, with the classifier's
  species and probability when it has one; human when a person drew or moved it).

Timestamps are ISO 8601 with the survey's offset; boxes are relative, top-left.
Everything streams by pages of primary keys, so memory stays flat.

What a Camtrap DP import kept (camtrapdp_import) is used when set, so that importing
a package and exporting it again gives the same rows: IDs (``external_id``), a
deployment's start, end and camera model, columns TrapTagger has no field for
(``extra["row"]``, written over the derived cells), and observation rows it does not
model (``extra["observations"]``: media-level rows without a box; event rows, written
while the cluster's labels or suggestion are still the ones imported).
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.files.storage import default_storage
from django.db.models import Max, Min, Q

from annotation.models import ClusterAnnotation, Task
from annotation.taxonomy import SPECIAL_LABELS
from classifiers.models import Detection
from classifiers.selectors import Relevance, relevance_of
from classifiers.taxonomy import HUMAN_STATUSES, Category
from core.paging import pages_by_pk
from core.progress import Progress, ignore_progress
from surveys.models import Camera, Cluster, Image, Survey
from surveys.taxonomy import TriggerSource

from ..exceptions import ExportError
from ..selectors import task_for
from .results import animal_counts, label_facts, safe_cell

VERSION = "1.0.2"
PROFILE_URL = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}/camtrap-dp-profile.json"
SCHEMA_URL = (f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}/"
              "{name}-table-schema.json")
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas" / f"camtrap-dp-{VERSION}"
TABLES = ("deployments", "media", "observations")
_TYPE_OF_CATEGORY = {Category.ANIMAL: "animal", Category.PERSON: "human",
                     Category.VEHICLE: "vehicle"}
# The special labels as Camtrap DP observation types (and a tag saying which label).
_SPECIAL_TYPES = {"Nothing": ("blank", ""), "Knocked Down": ("blank", "knockedDown"),
                  "Unknown": ("unknown", ""),
                  "Vehicles/Humans/Livestock": ("unknown", "vehiclesHumansLivestock")}
# Cells people type (names, notes): defused against spreadsheet formulas. Numbers and
# timestamps are not, as a leading minus belongs to them.
_FREE_TEXT = frozenset({"deploymentID", "locationID", "locationName", "fileName",
                        "scientificName", "classifiedBy", "observationComments"})
assert set(_SPECIAL_TYPES) == {name for name, _key, _excl in SPECIAL_LABELS}


def table_schema(name: str) -> dict:
    """The shipped copy of a Camtrap DP table schema."""
    return json.loads((SCHEMAS / f"{name}-table-schema.json").read_text(encoding="utf-8"))


def _columns(name: str) -> list[str]:
    return [f["name"] for f in table_schema(name)["fields"]]


# The observations table's columns, as box rows are written out by position.
OBSERVATION_COLUMNS = [
    "observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd",
    "observationLevel", "observationType", "cameraSetupType", "scientificName", "count",
    "lifeStage", "sex", "behavior", "individualID", "individualPositionRadius",
    "individualPositionAngle", "individualSpeed", "bboxX", "bboxY", "bboxWidth",
    "bboxHeight", "classificationMethod", "classifiedBy", "classificationTimestamp",
    "classificationProbability", "observationTags", "observationComments"]
assert _columns("observations") == OBSERVATION_COLUMNS


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else ""


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def media_path(camera_path: str, filename: str) -> str:
    """The file's path inside the package (never absolute, never with '..')."""
    parts = [p for p in f"{camera_path}/{filename}".replace("\\", "/").split("/")
             if p not in ("", ".", "..")]
    return "/".join(["media", *parts])


class _Writer:
    """A CSV table with the schema's columns, written from keyword fields."""

    def __init__(self, folder: Path, name: str):
        self.columns = _columns(name)
        self._index = {column: i for i, column in enumerate(self.columns)}
        self._text = [self._index[c] for c in _FREE_TEXT if c in self._index]
        self.path = folder / f"{name}.csv"
        self._fh = self.path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._fh)
        self._csv.writerow(self.columns)
        self.rows = 0

    def write(self, row: dict) -> None:
        cells = [""] * len(self.columns)
        for column, value in row.items():
            cells[self._index[column]] = value  # KeyError: not a column of this table
        for i in self._text:
            if cells[i]:
                cells[i] = safe_cell(cells[i])
        self._csv.writerow(cells)
        self.rows += 1

    def blank_and_positions(self, *columns: str) -> tuple[list[str], list[int]]:
        """An empty row and the positions of ``columns``, for rows built by position
        (the box rows: a million dicts cost more than the CSV writing itself)."""
        return [""] * len(self.columns), [self._index[c] for c in columns]

    def write_cells(self, cells: list) -> None:
        """Write a row built by position; free text in it must already be defused."""
        self._csv.writerow(cells)
        self.rows += 1

    def close(self) -> None:
        self._fh.close()


def _deployments(survey: Survey) -> dict[int, dict]:
    """Per camera with a timestamped image or an imported deployment span: its
    deployment row fields (two queries)."""
    spans = {
        camera_id: (first, last) for camera_id, first, last in (
            Image.objects.filter(camera__site__survey=survey, corrected_timestamp__isnull=False)
            .values_list("camera_id").annotate(first=Min("corrected_timestamp"),
                                               last=Max("corrected_timestamp"))
            .order_by("camera_id"))
    }
    deployments, unplaced = {}, set()
    for camera_id, path, site, lat, lon, external, location, start, end, model, extra in (
        Camera.objects.filter(Q(pk__in=list(spans)) | Q(
            site__survey=survey, deployment_start__isnull=False, deployment_end__isnull=False))
        .order_by("site__name", "path")
        .values_list("pk", "path", "site__name", "site__latitude", "site__longitude",
                     "external_id", "site__external_id", "deployment_start",
                     "deployment_end", "camera_model", "extra")
    ):
        if lat is None or lon is None:
            unplaced.add(site)
        first, last = spans.get(camera_id, (None, None))
        deployments[camera_id] = {"id": external or path or site, "site": site,
                                  "location": location or site, "lat": lat, "lon": lon,
                                  "start": start or first, "end": end or last,
                                  "model": model, "row": (extra or {}).get("row", {})}
    if unplaced:
        names = sorted(unplaced)
        raise ExportError(
            f"Camtrap DP needs the coordinates of every deployment; site(s) "
            f"{', '.join(names[:5])}{' and more' if len(names) > 5 else ''} have none. Set "
            "their latitude and longitude (WGS84) in the admin under Sites, then export again.")
    return deployments


def _copy(key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with default_storage.open(key, "rb") as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


class _Media:
    """One pass over the survey's images, a page at a time: media rows, then the boxes
    of those images as media-level observations (fetched by image id: no join, no
    timestamp to convert per box)."""

    def __init__(self, survey, deployments, tables, folder: Path, copy_media: bool, species,
                 relevant: Relevance):
        self.survey, self.deployments, self.folder = survey, deployments, folder
        self.relevant = relevant
        self.media, self.observations = tables["media"], tables["observations"]
        self.copy_media, self.species = copy_media, species
        self.tz = ZoneInfo(survey.timezone)
        self.capture = "timeLapse" if survey.trigger_source == TriggerSource.TIMELAPSE else \
            "activityDetection"
        self.classifier = survey.classifier.name if survey.classifier_id else ""
        self.untimed = self.copied = 0
        self.media_ids: dict[int, str] = {}  # this page's images: id -> mediaID

    def run(self, progress: Progress, total: int) -> None:
        cameras = dict(Camera.objects.filter(site__survey=self.survey)
                       .values_list("pk", "path"))
        # By camera ids, not a join to the survey: MariaDB then pages by primary key.
        images = Image.objects.filter(camera_id__in=list(cameras))
        # Rows an import kept are read only for a survey made from a package: decoding an
        # empty JSON object per box costs seconds on a million boxes, and looking for
        # non-empty ones would read every box.
        kept_media = self.kept_box_rows = _from_package(self.survey)
        blank, at = self.media.blank_and_positions(*self._MEDIA_COLUMNS)
        done = 0
        for page in pages_by_pk(images, ("pk", "camera_id", "cluster_id",
                                         "corrected_timestamp", "filename", "key",
                                         "external_id", "remote_path",
                                         "extra" if kept_media else "pk")):
            events = _event_ids({row[2] for row in page if row[2]}) if kept_media else {}
            timed, carried, self.media_ids = {}, [], {}
            for pk, camera_id, cluster_id, taken, filename, key, external, remote, extra in page:
                extra = extra if kept_media else None
                if taken is None or camera_id not in self.deployments:
                    self.untimed += 1
                    continue
                when, deployment = _when(taken, self.tz), self.deployments[camera_id]["id"]
                media_id = self.media_ids[pk] = external or str(pk)
                timed[pk] = (when, safe_cell(deployment),  # defused once per image
                             events.get(cluster_id, str(cluster_id or "")))
                path = remote or media_path(cameras[camera_id], filename)
                values = (media_id, timed[pk][1], self.capture, when, path, "false",
                          safe_cell(filename), "image/jpeg")
                if extra:  # an imported media row: its own columns over the derived ones
                    row = {**dict(zip(self._MEDIA_COLUMNS, values, strict=True)),
                           **extra.get("row", {})}
                    self.media.write(row)
                    path = row["filePath"]
                    carried.extend({**obs, "mediaID": media_id}
                                   for obs in extra.get("observations", ()))
                else:
                    cells = blank.copy()
                    for position, value in zip(at, values, strict=True):
                        cells[position] = value
                    self.media.write_cells(cells)
                target = _package_file(path)
                if self.copy_media and key and target:
                    _copy(key, self.folder / target)
                    self.copied += 1
            self._boxes(timed)
            _write_kept(carried, self.observations, self.species)  # media-level, as kept
            done += len(page)
            progress(done, total)

    _MEDIA_COLUMNS = ("mediaID", "deploymentID", "captureMethod", "timestamp", "filePath",
                      "filePublic", "fileName", "fileMediatype")
    _BOX_COLUMNS = ("observationID", "deploymentID", "mediaID", "eventID", "eventStart",
                    "eventEnd", "observationLevel", "observationType", "scientificName",
                    "bboxX", "bboxY", "bboxWidth", "bboxHeight", "classificationMethod",
                    "classifiedBy", "classificationProbability")

    def _boxes(self, timed: dict) -> None:
        if not timed:
            return
        columns = ["pk", "image_id", "left", "top", "right", "bottom", "score", "category",
                   "source", "status", "classification", "classification_score"]
        if self.kept_box_rows:  # only an imported package's boxes carry rows of their own
            columns.append("extra")
        rows = (self.relevant.apply(Detection.objects.filter(image_id__in=list(timed)))
                .order_by("image_id", "pk").values_list(*columns))
        write, species, classifier = self.observations.write_cells, self.species, \
            safe_cell(self.classifier)
        for pk, image_id, left, top, right, bottom, score, category, source, status, \
                species_name, species_score, *extra in rows:
            left, top = min(max(left, 0.0), 1.0), min(max(top, 0.0), 1.0)
            width, height = min(right, 1.0) - left, min(bottom, 1.0) - top
            if width <= 0 or height <= 0:
                continue
            when, deployment, event = timed[image_id]
            kind = _TYPE_OF_CATEGORY.get(category, "unknown")
            named = kind == "animal" and bool(species_name)
            if named:
                species.add(species_name)
            by_person = status in HUMAN_STATUSES
            if extra and (extra[0] or {}).get("row"):  # an imported box: its own row
                values = (f"d{pk}", deployment, self.media_ids[image_id], event, when, when,
                          "media", kind, safe_cell(species_name) if named else "",
                          _number(left), _number(top), _number(width), _number(height),
                          "human" if by_person else "machine",
                          "" if by_person else (classifier if named else safe_cell(source)),
                          "" if by_person else _number(
                              species_score if named and species_score is not None
                              else score))
                self.observations.write({**dict(zip(self._BOX_COLUMNS, values, strict=True)),
                                         **extra[0]["row"]})
                continue
            # The row in the schema's column order (OBSERVATION_COLUMNS), written out: a
            # million boxes make this the export's hottest line.
            write([
                f"d{pk}", deployment, self.media_ids[image_id], event, when, when, "media",
                kind, "", safe_cell(species_name) if named else "", "", "", "", "", "", "",
                "", "", _number(left), _number(top), _number(width), _number(height),
                "human" if by_person else "machine",
                "" if by_person else (classifier if named else safe_cell(source)), "",
                "" if by_person else _number(
                    species_score if named and species_score is not None else score),
                "", "",
            ])


def _event_ids(cluster_ids) -> dict[int, str]:
    """The eventID a Camtrap DP import kept for each of these clusters (one query)."""
    if not cluster_ids:
        return {}
    return dict(Cluster.objects.filter(pk__in=list(cluster_ids)).exclude(external_id="")
                .values_list("pk", "external_id"))


def _package_file(path: str) -> Path | None:
    """Where a media row's filePath puts a copied file in the package; None for a URL."""
    if "://" in path:
        return None
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return Path(*parts) if parts else None


def _write_kept(rows: list[dict], out: _Writer, species: set) -> None:
    """Observation rows an import kept, as they were."""
    for row in rows:
        if row.get("scientificName"):
            species.add(row["scientificName"])
        out.write(row)


def _cluster_places(cluster_ids, deployments) -> dict[int, str]:
    """Per cluster: the deployment of its first timestamped image."""
    first: dict[int, str] = {}
    for cluster_id, camera_id in (
        Image.objects.filter(cluster_id__in=cluster_ids, corrected_timestamp__isnull=False)
        .order_by("cluster_id", "corrected_timestamp", "filename")
        .values_list("cluster_id", "camera_id")
    ):
        if cluster_id not in first and camera_id in deployments:
            first[cluster_id] = deployments[camera_id]["id"]
    return first


def _from_package(survey: Survey) -> bool:
    """Whether the survey was made from a Camtrap DP package (its cameras carry deployment
    ids), so that rows the import kept are worth reading."""
    return Camera.objects.filter(site__survey=survey).exclude(external_id="").exists()


def _write_human_events(task: Task, deployments, out: _Writer, tz, species: set,
                        relevant: Relevance) -> set[int]:
    """Event rows for the task's labels (counts of ``relevant`` boxes); return the
    clusters labelled."""
    labelled: set[int] = set()
    through = ClusterAnnotation.labels.through
    facts = label_facts(task)
    # Labelled, or holding rows an import kept (an event it left unlabelled, e.g.
    # observationType unclassified).
    packaged = _from_package(task.survey)
    blank, at = out.blank_and_positions(
        "observationID", "deploymentID", "eventID", "eventStart", "eventEnd",
        "observationLevel", "observationType", "scientificName", "count",
        "classificationMethod", "classifiedBy", "observationTags", "classificationTimestamp",
        "observationComments")
    annotations = ClusterAnnotation.objects.filter(task=task)
    annotations = annotations.filter(Q(labelled_at__isnull=False) | Q(
        extra__has_key="observations")) if packaged else annotations.filter(
        labelled_at__isnull=False)
    # Keyed on the cluster: (task, cluster) is unique and indexed, so pages are ranges.
    for page in pages_by_pk(annotations, ("cluster_id", "pk", "cluster__start",
                                          "cluster__end", "annotator__username",
                                          "labelled_at", "note",
                                          "extra" if packaged else "pk",
                                          "cluster__external_id"), key="cluster_id"):
        page = [(pk, cluster_id, *rest) for cluster_id, pk, *rest in page]
        cluster_ids = [row[1] for row in page]
        labelled.update(cluster_ids)
        places = _cluster_places(cluster_ids, deployments)
        counts = animal_counts(cluster_ids, relevant)
        labels = defaultdict(list)
        for annotation_id, label_id in (  # the link table alone: see labels_by_annotation
            through.objects.filter(clusterannotation_id__in=[row[0] for row in page])
            .values_list("clusterannotation_id", "label_id")
        ):
            name, special, _exclusive = facts[label_id]
            labels[annotation_id].append((label_id, name, special))
        for own in labels.values():
            own.sort(key=lambda label: label[1])
        for pk, cluster_id, start, end, annotator, labelled_at, note, extra, event in page:
            kept = (extra or {}).get("observations") if packaged else None
            if kept is not None and sorted(i for i, _n, _s in labels[pk]) == sorted(
                    extra.get("labels", [])):
                _write_kept(kept, out, species)  # still labelled as imported
                continue
            if labelled_at is None or start is None or cluster_id not in places:
                continue
            own = [name for _id, name, special in labels[pk] if not special]
            for label_id, name, special in labels[pk]:
                kind, tag = _SPECIAL_TYPES.get(name, ("unknown", "")) if special else \
                    ("animal", "")
                count = counts.get(cluster_id, 0) if not special and len(own) == 1 else 0
                if kind == "animal":
                    species.add(name)
                cells = blank.copy()
                for position, value in zip(at, (
                    f"e{cluster_id}-{label_id}", safe_cell(places[cluster_id]),
                    event or str(cluster_id), _when(start, tz), _when(end or start, tz),
                    "event", kind, safe_cell(name) if kind == "animal" else "", count or "",
                    "human", safe_cell(annotator or ""), tag, _when(labelled_at, tz),
                    safe_cell(note),
                ), strict=True):
                    cells[position] = value
                out.write_cells(cells)
    return labelled


def _write_machine_events(survey, labelled: set[int], deployments, out: _Writer, tz,
                          species: set) -> None:
    """Event rows for the AI suggestion of every cluster nobody labelled (and the
    machine rows an import kept, while the cluster's suggestion is the one imported)."""
    by = survey.classifier.name if survey.classifier_id else "species classifier"
    clusters = Cluster.objects.filter(survey=survey, start__isnull=False).filter(
        ~Q(suggestion="") | Q(extra__has_key="observations"))
    for page in pages_by_pk(clusters, ("pk", "start", "end", "suggestion", "suggestion_score",
                                       "external_id", "extra")):
        todo = []
        for row in page:
            extra = row[6] or {}
            if "observations" in extra and extra.get("suggestion") == [row[3], row[4]]:
                _write_kept(extra["observations"], out, species)
            elif row[0] not in labelled and row[3]:
                todo.append(row)
        places = _cluster_places([row[0] for row in todo], deployments)
        for pk, start, end, suggestion, score, event, _extra in todo:
            if pk not in places:
                continue
            species.add(suggestion)
            out.write({
                "observationID": f"e{pk}-ai", "deploymentID": places[pk],
                "eventID": event or str(pk),
                "eventStart": _when(start, tz), "eventEnd": _when(end or start, tz),
                "observationLevel": "event", "observationType": "animal",
                "scientificName": suggestion, "classificationMethod": "machine",
                "classifiedBy": by,
                "classificationProbability": _number(score) if score is not None else "",
            })


def _descriptor(survey: Survey, deployments: dict, species: set, task: Task | None,
                tz: ZoneInfo) -> dict:
    points = sorted({(d["lon"], d["lat"]) for d in deployments.values()})
    if len(points) == 1:
        spatial = {"type": "Point", "coordinates": list(points[0])}
    else:
        (w, e), (s, n) = ((min(p[0] for p in points), max(p[0] for p in points)),
                          (min(p[1] for p in points), max(p[1] for p in points)))
        spatial = {"type": "Polygon",
                   "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    starts = [d["start"] for d in deployments.values()]
    ends = [d["end"] for d in deployments.values()]
    slug = re.sub(r"[^a-z0-9._-]+", "-", f"{survey.organisation.name}-{survey.name}".lower())
    capture = "timeLapse" if survey.trigger_source == TriggerSource.TIMELAPSE else \
        "activityDetection"
    return {
        "profile": PROFILE_URL,
        "name": slug.strip("-") or "survey",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"traptagger:survey:{survey.pk}")),
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "title": survey.name,
        "description": survey.description or f"Camera-trap survey “{survey.name}”.",
        "contributors": [{"title": survey.organisation.name, "role": "rightsHolder"}],
        "sources": [{"title": "TrapTagger"}],
        "project": {
            "title": survey.name, "samplingDesign": "opportunistic",
            "captureMethod": [capture], "individualAnimals": False,
            "observationLevel": ["media", "event"],
        },
        "spatial": spatial,
        "temporal": {"start": min(starts).astimezone(tz).date().isoformat(),
                     "end": max(ends).astimezone(tz).date().isoformat()},
        "taxonomic": [{"scientificName": name} for name in sorted(species)],
        "resources": [
            {"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource",
             "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
             "schema": SCHEMA_URL.format(name=name)}
            for name in TABLES
        ],
    }


def export_camtrapdp(survey: Survey, folder: Path, *, task_id: int | None = None,
                     copy_media: bool = False, progress: Progress = ignore_progress) -> dict:
    """Write the survey as a Camtrap DP package into ``folder``; return what was written.

    Human observations come from the task given (default: the survey's latest, if
    any). Raises ExportError when the survey cannot be a valid package (no
    timestamped image; a site without coordinates), before writing anything.
    """
    task = task_for(survey, task_id, required=False)
    tz = ZoneInfo(survey.timezone)
    deployments = _deployments(survey)
    if not deployments:
        raise ExportError(f"Survey “{survey}” has no timestamped image; Camtrap DP needs a "
                          "time for every media file. Import images with EXIF times first.")
    folder.mkdir(parents=True, exist_ok=True)
    total = Image.objects.filter(camera__site__survey=survey).count()
    tables = {name: _Writer(folder, name) for name in TABLES}
    species: set[str] = set()
    try:
        for d in deployments.values():
            tables["deployments"].write({
                "deploymentID": d["id"], "locationID": d["location"], "locationName": d["site"],
                "latitude": _number(d["lat"]), "longitude": _number(d["lon"]),
                "deploymentStart": _when(d["start"], tz), "deploymentEnd": _when(d["end"], tz),
                "cameraModel": d["model"], **d["row"],
            })
        relevant = relevance_of(survey)  # once for the export: boxes and counts
        media = _Media(survey, deployments, tables, folder, copy_media, species, relevant)
        media.run(progress, total)
        labelled = (_write_human_events(task, deployments, tables["observations"], tz, species,
                                        relevant) if task else set())
        _write_machine_events(survey, labelled, deployments, tables["observations"], tz,
                              species)
    finally:
        for table in tables.values():
            table.close()
    descriptor = _descriptor(survey, deployments, species, task, tz)
    (folder / "datapackage.json").write_text(json.dumps(descriptor, indent=2,
                                                        ensure_ascii=False), encoding="utf-8")
    return {"task": task, "untimed": media.untimed, "copied": media.copied,
            **{name: table.rows for name, table in tables.items()}}
