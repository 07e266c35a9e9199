"""Results exports: a CSV row per cluster and species (or per cluster, species joined).

Options (``ResultsOptions``): which columns and in what order, names for them,
one row per species or the species joined in one cell, which labels, and a
date range. The CSV streams a page of clusters at a time.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Q

from annotation.models import ClusterAnnotation, Task
from classifiers.models import Detection
from classifiers.taxonomy import Category, DetectionStatus
from surveys.models import Image, Site

from ..exceptions import ExportError

RESULT_COLUMNS = ["cluster_id", "site", "camera", "first_timestamp", "species", "count",
                  "annotator"]
# Every column a cluster-level row can carry, in the order the help lists them.
AVAILABLE_COLUMNS = {
    "cluster_id": "the cluster's id",
    "site": "the site's name",
    "latitude": "the site's latitude (WGS84)",
    "longitude": "the site's longitude (WGS84)",
    "camera": "the camera folder of the cluster's first image",
    "first_timestamp": "when the first image was taken (corrected), in the survey's time zone",
    "first_timestamp_original": "what the camera wrote for the first image",
    "species": "the label (or, joined, every label of the cluster)",
    "count": "animal boxes on the busiest image (single-species clusters)",
    "annotator": "who labelled the cluster",
    "notes": "the annotator's note",
    "labelled_at": "when the label was saved",
}
JOIN_SEPARATOR = "; "


@dataclass
class ResultsOptions:
    columns: list[str] = field(default_factory=lambda: list(RESULT_COLUMNS))
    rename: dict[str, str] = field(default_factory=dict)
    joined: bool = False  # one row per cluster, its labels joined in the species cell
    labels: list[str] | None = None  # only these labels (names, any case)
    since: date | None = None  # clusters starting on or after this day (survey time)
    until: date | None = None  # …and on or before this day


def check_options(options: ResultsOptions) -> None:
    """Raise ExportError naming the option to fix."""
    unknown = [c for c in options.columns if c not in AVAILABLE_COLUMNS]
    if unknown or not options.columns:
        raise ExportError(
            f"Unknown column(s) {', '.join(unknown) or '(none given)'}; choose from: "
            f"{', '.join(AVAILABLE_COLUMNS)}.")
    if len(set(options.columns)) != len(options.columns):
        raise ExportError("A column is listed twice in --columns.")
    stray = [old for old in options.rename if old not in options.columns]
    if stray:
        raise ExportError(f"--rename names column(s) not exported: {', '.join(stray)}.")
    headers = [options.rename.get(c, c) for c in options.columns]
    if any(not h.strip() for h in headers) or len(set(headers)) != len(headers):
        raise ExportError("Each column needs a distinct, non-empty name (check --rename).")
    if options.since and options.until and options.since > options.until:
        raise ExportError(f"--since {options.since} is after --until {options.until}.")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A CSV cell that spreadsheets will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


# Clusters written per page: each page costs five queries, whatever the task's size,
# and only one page is held in memory (MySQL drivers buffer a whole result set, so
# pages are fetched by key, never by one long cursor).
PAGE = 2000
_COUNTED = [DetectionStatus.ACTIVE, DetectionStatus.EDITED, DetectionStatus.ADDED]


def _pages(task: Task, options: ResultsOptions):
    """Labelled annotations as ``(site, [annotation row])`` pages, site a (name, lat, lon).

    In the order of the export: site name, then cluster start (clusters without
    one first), then cluster id; each page is fetched by key after the last.
    """
    labelled = ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
    tz = ZoneInfo(task.survey.timezone)
    if options.since:
        labelled = labelled.filter(cluster__start__gte=datetime.combine(
            options.since, time(), tzinfo=tz))
    if options.until:
        labelled = labelled.filter(cluster__start__lt=datetime.combine(
            options.until + timedelta(days=1), time(), tzinfo=tz))
    columns = ("pk", "cluster_id", "cluster__start", "annotator__username", "note",
               "labelled_at")
    for site_id, *site in (Site.objects.filter(survey=task.survey).order_by("name", "id")
                           .values_list("id", "name", "latitude", "longitude")):
        rows = labelled.filter(cluster__site_id=site_id)
        last_id = 0
        while page := list(rows.filter(cluster__start__isnull=True, cluster_id__gt=last_id)
                           .order_by("cluster_id").values_list(*columns)[:PAGE]):
            yield site, page
            last_id = page[-1][1]
        last = None
        while True:
            dated = rows.filter(cluster__start__isnull=False)
            if last is not None:
                dated = dated.filter(Q(cluster__start__gt=last[0])
                                     | Q(cluster__start=last[0], cluster_id__gt=last[1]))
            page = list(dated.order_by("cluster__start", "cluster_id").values_list(*columns)
                        [:PAGE])
            if not page:
                break
            yield site, page
            last = (page[-1][2], page[-1][1])


def _labels_of(annotation_ids) -> dict[int, list[tuple[str, bool, bool]]]:
    """Per annotation: its labels as (name, special, exclusive), sorted by name."""
    through = ClusterAnnotation.labels.through
    found: dict[int, list] = defaultdict(list)
    for annotation_id, name, task_id, exclusive in (
        through.objects.filter(clusterannotation_id__in=annotation_ids)
        .values_list("clusterannotation_id", "label__name", "label__task_id",
                     "label__exclusive")
    ):
        found[annotation_id].append((name, task_id is None, exclusive))
    for labels in found.values():
        labels.sort()
    return found


def _first_images(cluster_ids) -> dict[int, tuple[str, object, object]]:
    """Per cluster: (camera folder, corrected and original timestamp) of its first image."""
    first: dict[int, tuple[str, object, object]] = {}
    rows = (
        Image.objects.filter(cluster_id__in=cluster_ids)
        .order_by("cluster_id", "corrected_timestamp", "filename")
        .values_list("cluster_id", "camera__path", "corrected_timestamp", "timestamp")
    )
    for cluster_id, camera, taken, original in rows:
        first.setdefault(cluster_id, (camera, taken, original))
    return first


def animal_counts(cluster_ids) -> dict[int, int]:
    """Per cluster: the most animal boxes seen on any one of its images."""
    per_image = (
        Detection.objects.filter(
            image__cluster_id__in=cluster_ids, static=False, category=Category.ANIMAL,
            status__in=_COUNTED,
        ).values("image_id", "image__cluster_id").annotate(n=Count("id"))
        .values_list("image__cluster_id", "n")
    )
    counts: dict[int, int] = defaultdict(int)
    for cluster_id, n in per_image:
        counts[cluster_id] = max(counts[cluster_id], n)
    return counts


def _count(special: bool, exclusive: bool, species: int, animals: int):
    """The row's count: animal boxes for a single-species cluster.

    Nothing/Knocked Down count 0. Unknown, Vehicles/Humans/Livestock and the
    species of a multi-species cluster are left blank: the boxes are not yet
    split per species (that comes with per-box labels).
    """
    if exclusive:
        return 0
    if special or species != 1:
        return ""
    return animals


def write_results_csv(task: Task, out, options: ResultsOptions | None = None) -> int:
    """Write the task's labelled clusters to ``out``, a page at a time; return the rows.

    Memory stays that of one page whatever the task's size (see ``PAGE``).
    Raises ExportError for bad options (see ``check_options``).
    """
    options = options or ResultsOptions()
    check_options(options)
    tz = ZoneInfo(task.survey.timezone)
    wanted = {name.casefold() for name in options.labels} if options.labels else None
    writer = csv.writer(out)
    writer.writerow([safe_cell(options.rename.get(c, c)) for c in options.columns])
    rows = 0
    for (site_name, latitude, longitude), page in _pages(task, options):
        cluster_ids = [row[1] for row in page]
        labels = _labels_of([row[0] for row in page])
        first = _first_images(cluster_ids)
        counts = animal_counts(cluster_ids)
        for annotation_id, cluster_id, _start, annotator, note, labelled_at in page:
            camera, taken, original = first.get(cluster_id, ("", None, None))
            own = labels.get(annotation_id, [])
            species = sum(1 for _name, special, _exclusive in own if not special)
            if wanted is not None:
                own = [label for label in own if label[0].casefold() in wanted]
            if not own:
                continue
            cells = {
                "cluster_id": cluster_id, "site": site_name, "latitude": latitude,
                "longitude": longitude, "camera": camera,
                "first_timestamp": taken.astimezone(tz).isoformat() if taken else "",
                "first_timestamp_original":
                    original.astimezone(tz).replace(tzinfo=None).isoformat() if original else "",
                "annotator": annotator or "", "notes": note,
                "labelled_at": labelled_at.astimezone(tz).isoformat() if labelled_at else "",
            }
            groups = [own] if options.joined else [[label] for label in own]
            for group in groups:
                cells["species"] = JOIN_SEPARATOR.join(name for name, _s, _e in group)
                if len(group) == 1:
                    _name, special, exclusive = group[0]
                    cells["count"] = _count(special, exclusive, species,
                                            counts.get(cluster_id, 0))
                else:
                    cells["count"] = ""  # several labels in one row: no single count
                writer.writerow([_cell(cells[c]) for c in options.columns])
                rows += 1
    return rows


def _cell(value):
    return value if isinstance(value, int | float) else safe_cell(value)
