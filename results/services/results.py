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
from django.urls import reverse

from annotation.models import ClusterAnnotation, Label, Task
from classifiers.models import Detection
from classifiers.selectors import Relevance, relevance_of
from classifiers.taxonomy import Category
from core.paging import PAGE
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
    "count": "relevant animal boxes on the busiest image (single-species clusters)",
    "annotator": "who labelled the cluster",
    "notes": "the annotator's note",
    "labelled_at": "when the label was saved",
}
# Columns only rows of one image (image and detection levels) or one box can carry.
IMAGE_COLUMNS = {
    "image_id": "the image's id",
    "file": "the image's path in the survey (camera folder / file name)",
    "timestamp": "when the image was taken (corrected), in the survey's time zone",
    "timestamp_original": "what the camera wrote",
    "image_url": "the image's address in TrapTagger (members only)",
}
DETECTION_COLUMNS = {
    "detection_id": "the box's id",
    "box": "the box as x y width height, relative to the image, origin top-left",
    "score": "the detector's confidence",
    "classification": "the species classifier's guess for the box",
}
# Aggregate levels: one row per group and label.
AGGREGATE_COLUMNS = {
    "clusters": "labelled clusters with the label",
    "individuals": "summed counts of single-species clusters",
    "first_seen": "the earliest cluster's first time",
    "last_seen": "the latest cluster's first time",
}
LEVELS = ("detection", "image", "cluster", "camera", "site", "survey")
_GROUP_COLUMNS = {"camera": ["site", "camera"], "site": ["site", "latitude", "longitude"],
                  "survey": []}
JOIN_SEPARATOR = "; "


def columns_for(level: str) -> dict[str, str]:
    """The columns a row of ``level`` can carry, with what each holds."""
    if level in _GROUP_COLUMNS:
        return {**{c: AVAILABLE_COLUMNS[c] for c in _GROUP_COLUMNS[level]},
                "species": AVAILABLE_COLUMNS["species"], **AGGREGATE_COLUMNS}
    columns = dict(AVAILABLE_COLUMNS)
    if level in ("image", "detection"):
        columns.update(IMAGE_COLUMNS)
    if level == "detection":
        columns.update(DETECTION_COLUMNS)
    return columns


def default_columns(level: str) -> list[str]:
    if level in _GROUP_COLUMNS:
        return list(columns_for(level))
    extra = {"image": ["image_id", "file", "timestamp"],
             "detection": ["detection_id", "file", "timestamp", "box", "score"]}
    return [*RESULT_COLUMNS[:4], *extra.get(level, []), *RESULT_COLUMNS[4:]]


@dataclass
class ResultsOptions:
    columns: list[str] = field(default_factory=lambda: list(RESULT_COLUMNS))
    level: str = "cluster"  # one row per detection, image, cluster; or per camera/site/survey
    rename: dict[str, str] = field(default_factory=dict)
    joined: bool = False  # one row per cluster, its labels joined in the species cell
    labels: list[str] | None = None  # only these labels (names, any case)
    since: date | None = None  # clusters starting on or after this day (survey time)
    until: date | None = None  # …and on or before this day


def check_options(options: ResultsOptions) -> None:
    """Raise ExportError naming the option to fix."""
    if options.level not in LEVELS:
        raise ExportError(f"Unknown level {options.level!r}; choose one of {', '.join(LEVELS)}.")
    available = columns_for(options.level)
    unknown = [c for c in options.columns if c not in available]
    if unknown or not options.columns:
        raise ExportError(
            f"Unknown column(s) for {options.level} rows: {', '.join(unknown) or '(none given)'}"
            f"; choose from: {', '.join(available)}.")
    if options.joined and options.level in _GROUP_COLUMNS:
        raise ExportError(f"--joined makes no sense for {options.level} rows (one row per "
                          "label and group); leave it out.")
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
# pages are fetched by key, never by one long cursor). PAGE (paging) stays under 1,000.


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


def label_facts(task: Task) -> dict[int, tuple[str, bool, bool]]:
    """The task's labels and the special ones: id → (name, special, exclusive)."""
    return {pk: (name, task_id is None, exclusive) for pk, name, task_id, exclusive in
            Label.objects.filter(Q(task=task) | Q(task__isnull=True))
            .values_list("pk", "name", "task_id", "exclusive")}


def labels_by_annotation(annotation_ids, facts) -> dict[int, list[tuple[str, bool, bool]]]:
    """Per annotation: its labels as (name, special, exclusive), sorted by name.

    Read from the link table alone (by its annotation index) and named from ``facts``
    (label_facts): joined to the few labels, MariaDB would start from them and read the
    whole link table for every page.
    """
    through = ClusterAnnotation.labels.through
    found: dict[int, list] = defaultdict(list)
    for annotation_id, label_id in (
        through.objects.filter(clusterannotation_id__in=annotation_ids)
        .values_list("clusterannotation_id", "label_id")
    ):
        found[annotation_id].append(facts[label_id])
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


def animal_counts(cluster_ids, relevant: Relevance) -> dict[int, int]:
    """Per cluster: the most relevant animal boxes seen on any one of its images.

    ``relevant``: the survey's (``classifiers.selectors.relevance_of``), worked out
    once per export rather than once per page.
    """
    per_image = (
        relevant.apply(Detection.objects.filter(image__cluster_id__in=cluster_ids,
                                                category=Category.ANIMAL))
        .values("image_id", "image__cluster_id").annotate(n=Count("id"))
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


def images_of(cluster_ids) -> dict[int, list[tuple]]:
    """Per cluster: its images (id, camera folder, file, corrected, original, width,
    height), in time order."""
    found = defaultdict(list)
    for cluster_id, *image in (
        Image.objects.filter(cluster_id__in=cluster_ids)
        .order_by("cluster_id", "corrected_timestamp", "filename", "pk")
        .values_list("cluster_id", "pk", "camera__path", "filename", "corrected_timestamp",
                     "timestamp", "width", "height")
    ):
        found[cluster_id].append(tuple(image))
    return found


def boxes_of(cluster_ids, relevant: Relevance) -> dict[int, list[tuple]]:
    """Per image: its relevant boxes (id, category, left, top, right, bottom, score, guess).

    ``relevant``: as for ``animal_counts``.
    """
    found = defaultdict(list)
    for image_id, *box in (
        relevant.apply(Detection.objects.filter(image__cluster_id__in=cluster_ids))
        .order_by("image_id", "-score", "pk")
        .values_list("image_id", "pk", "category", "left", "top", "right", "bottom", "score",
                     "classification")
    ):
        found[image_id].append(tuple(box))
    return found


def _first_and_counts(images, boxes) -> tuple[dict, dict]:
    """From a page's images and boxes: each cluster's first timed image (as
    ``_first_images``) and most animal boxes on one image (as ``animal_counts``)."""
    first, counts = {}, {}
    for cluster_id, rows in images.items():
        timed = [row for row in rows if row[3] is not None]
        if timed:
            _pk, folder, _file, taken, original, *_size = timed[0]
            first[cluster_id] = (folder, taken, original)
        counts[cluster_id] = max((sum(1 for box in boxes.get(row[0], ())
                                      if box[1] == Category.ANIMAL) for row in rows), default=0)
    return first, counts


def _label_rows(task: Task, options: ResultsOptions, tz):
    """Each labelled cluster's label rows: (cells, count rule, images, boxes) per label group.

    ``count rule`` is None when the row's count is fixed (0 or blank), else "animals"
    (the row is one species of a single-species cluster: its animal boxes count).
    """
    wanted = {name.casefold() for name in options.labels} if options.labels else None
    per_image = options.level in ("image", "detection")
    facts = label_facts(task)
    relevant = relevance_of(task.survey)  # once for the export: boxes and counts
    for (site_name, latitude, longitude), page in _pages(task, options):
        cluster_ids = [row[1] for row in page]
        labels = labels_by_annotation([row[0] for row in page], facts)
        if per_image:  # the first image and the counts follow from the rows read anyway
            images, boxes = images_of(cluster_ids), boxes_of(cluster_ids, relevant)
            first, counts = _first_and_counts(images, boxes)
        else:
            images, boxes = {}, {}
            first, counts = _first_images(cluster_ids), animal_counts(cluster_ids, relevant)
        for annotation_id, cluster_id, _start, annotator, note, labelled_at in page:
            camera, taken, original = first.get(cluster_id, ("", None, None))
            own = labels.get(annotation_id, [])
            species = sum(1 for _name, special, _exclusive in own if not special)
            if wanted is not None:
                own = [label for label in own if label[0].casefold() in wanted]
            if not own:
                continue
            base = {
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
                cells = dict(base, species=JOIN_SEPARATOR.join(n for n, _s, _e in group))
                rule = None
                if len(group) == 1:
                    _name, special, exclusive = group[0]
                    cells["count"] = _count(special, exclusive, species,
                                            counts.get(cluster_id, 0))
                    rule = "animals" if isinstance(cells["count"], int) and not exclusive \
                        else None
                else:
                    cells["count"] = ""  # several labels in one row: no single count
                yield cells, rule, taken, images.get(cluster_id, []), boxes


def _image_cells(cells, rule, image, boxes, tz, image_url: str):
    image_id, folder, filename, taken, original, *_size = image
    animals = sum(1 for box in boxes.get(image_id, ()) if box[1] == Category.ANIMAL)
    return dict(
        cells, image_id=image_id, file=f"{folder}/{filename}" if folder else filename,
        timestamp=taken.astimezone(tz).isoformat() if taken else "",
        timestamp_original=original.astimezone(tz).replace(tzinfo=None).isoformat()
        if original else "",
        image_url=image_url.format(image_id),
        count=animals if rule == "animals" else cells["count"],
    )


def _write_sums(task: Task, options: ResultsOptions, tz, write) -> int:
    """Camera, site or survey rows: per group and label, clusters, individuals, first/last."""
    keys = _GROUP_COLUMNS[options.level]
    sums: dict[tuple, dict] = {}
    for cells, _rule, taken, _images, _boxes in _label_rows(task, options, tz):
        key = (*(cells[k] for k in keys), cells["species"])
        found = sums.setdefault(key, {**{k: cells[k] for k in keys},
                                      "species": cells["species"], "clusters": 0,
                                      "individuals": 0, "first_seen": None,
                                      "last_seen": None})
        found["clusters"] += 1
        if isinstance(cells["count"], int):
            found["individuals"] += cells["count"]
        if taken:
            found["first_seen"] = min(filter(None, (found["first_seen"], taken)))
            found["last_seen"] = max(filter(None, (found["last_seen"], taken)))
    for key in sorted(sums, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        found = sums[key]
        for edge in ("first_seen", "last_seen"):
            found[edge] = found[edge].astimezone(tz).isoformat() if found[edge] else ""
        write(found)
    return len(sums)


def write_results_csv(task: Task, out, options: ResultsOptions | None = None) -> int:
    """Write the task's results to ``out`` at ``options.level``; return the rows written.

    Detection, image and cluster rows stream a page of clusters at a time; camera,
    site and survey rows are sums kept per group and label. Memory stays that of
    one page (or of the groups) whatever the task's size (see ``PAGE``). Raises
    ExportError for bad options (see ``check_options``).
    """
    options = options or ResultsOptions()
    check_options(options)
    # One reverse() for the export, not one per image.
    image_url = reverse("image_file", args=[987654321, "original"]).replace("987654321", "{}")
    tz = ZoneInfo(task.survey.timezone)
    writer = csv.writer(out)
    writer.writerow([safe_cell(options.rename.get(c, c)) for c in options.columns])

    def write(cells) -> None:
        writer.writerow([_cell(cells.get(c, "")) for c in options.columns])

    if options.level in _GROUP_COLUMNS:
        return _write_sums(task, options, tz, write)
    rows = 0
    for cells, rule, _taken, images, boxes in _label_rows(task, options, tz):
        if options.level == "cluster":
            write(cells)
            rows += 1
            continue
        for image in images:
            image_cells = _image_cells(cells, rule, image, boxes, tz, image_url)
            if options.level == "image":
                write(image_cells)
                rows += 1
                continue
            for box_id, category, left, top, right, bottom, score, guess in \
                    boxes.get(image[0], ()):
                write(dict(
                    image_cells, detection_id=box_id, score=round(score, 4),
                    box=" ".join(f"{v:.4f}" for v in (left, top, right - left, bottom - top)),
                    classification=guess,
                    count=1 if rule == "animals" and category == Category.ANIMAL else "",
                ))
                rows += 1
    return rows


def _cell(value):
    return value if isinstance(value, int | float) else safe_cell(value)
