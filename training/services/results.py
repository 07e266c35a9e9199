"""Results exports: one CSV row per cluster and species."""

from __future__ import annotations

import csv
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.db.models import Count, Q

from annotation.models import ClusterAnnotation, Task
from classifiers.models import Detection
from classifiers.taxonomy import Category, DetectionStatus
from surveys.models import Image, Site

RESULT_COLUMNS = ["cluster_id", "site", "camera", "first_timestamp", "species", "count",
                  "annotator"]
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


def _pages(task: Task):
    """Labelled annotations as ``(site name, [(annotation_id, cluster_id, annotator)])`` pages.

    In the order of the export: site name, then cluster start (clusters without
    one first), then cluster id; each page is fetched by key after the last.
    """
    labelled = ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
    columns = ("pk", "cluster_id", "cluster__start", "annotator__username")
    for site_id, site_name in (Site.objects.filter(survey=task.survey)
                               .order_by("name", "id").values_list("id", "name")):
        rows = labelled.filter(cluster__site_id=site_id)
        last_id = 0
        while page := list(rows.filter(cluster__start__isnull=True, cluster_id__gt=last_id)
                           .order_by("cluster_id").values_list(*columns)[:PAGE]):
            yield site_name, page
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
            yield site_name, page
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


def _first_images(cluster_ids) -> dict[int, tuple[str, object]]:
    first: dict[int, tuple[str, object]] = {}
    rows = (
        Image.objects.filter(cluster_id__in=cluster_ids)
        .order_by("cluster_id", "corrected_timestamp", "filename")
        .values_list("cluster_id", "camera__path", "corrected_timestamp")
    )
    for cluster_id, camera, taken in rows:
        first.setdefault(cluster_id, (camera, taken))
    return first


def _animal_counts(cluster_ids) -> dict[int, int]:
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


def write_results_csv(task: Task, out) -> int:
    """Write the task's labelled clusters to ``out``, a page at a time; return the rows.

    Memory stays that of one page whatever the task's size (see ``PAGE``).
    """
    tz = ZoneInfo(task.survey.timezone)
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    rows = 0
    for site_name, page in _pages(task):
        cluster_ids = [row[1] for row in page]
        labels = _labels_of([row[0] for row in page])
        first = _first_images(cluster_ids)
        counts = _animal_counts(cluster_ids)
        site = safe_cell(site_name)
        for annotation_id, cluster_id, _start, annotator in page:
            camera, taken = first.get(cluster_id, ("", None))
            own = labels.get(annotation_id, [])
            species = sum(1 for _name, special, _exclusive in own if not special)
            for name, special, exclusive in own:
                writer.writerow([
                    cluster_id, site, safe_cell(camera),
                    taken.astimezone(tz).isoformat() if taken else "",
                    safe_cell(name),
                    _count(special, exclusive, species, counts.get(cluster_id, 0)),
                    safe_cell(annotator or ""),
                ])
                rows += 1
    return rows
