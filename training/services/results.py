"""Results exports: one CSV row per cluster and species."""

from __future__ import annotations

import csv
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.db.models import Count

from annotation.models import ClusterAnnotation, Task
from classifiers.models import Detection
from classifiers.taxonomy import Category, DetectionStatus
from surveys.models import Image

RESULT_COLUMNS = ["cluster_id", "site", "camera", "first_timestamp", "species", "count",
                  "annotator"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """A CSV cell that spreadsheets will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _first_images(task: Task) -> dict[int, tuple[str, object]]:
    first: dict[int, tuple[str, object]] = {}
    rows = (
        Image.objects.filter(cluster__survey=task.survey)
        .order_by("cluster_id", "corrected_timestamp", "filename")
        .values_list("cluster_id", "camera__path", "corrected_timestamp")
    )
    for cluster_id, camera, taken in rows.iterator(chunk_size=5000):
        first.setdefault(cluster_id, (camera, taken))
    return first


def _animal_counts(task: Task) -> dict[int, int]:
    """Per cluster: the most animal boxes seen on any one of its images."""
    per_image = (
        Detection.objects.filter(
            image__cluster__survey=task.survey, static=False, category=Category.ANIMAL,
            status__in=[DetectionStatus.ACTIVE, DetectionStatus.EDITED, DetectionStatus.ADDED],
        ).values("image_id", "image__cluster_id").annotate(n=Count("id"))
    )
    counts: dict[int, int] = defaultdict(int)
    for row in per_image.iterator(chunk_size=5000):
        cid = row["image__cluster_id"]
        counts[cid] = max(counts[cid], row["n"])
    return counts


def _count(label, species: list, animals: int):
    """The row's count: animal boxes for a single-species cluster.

    Nothing/Knocked Down count 0. Unknown, Vehicles/Humans/Livestock and the
    species of a multi-species cluster are left blank: the boxes are not yet
    split per species (that comes with per-box labels).
    """
    if label.exclusive:
        return 0
    if label.is_special or len(species) != 1:
        return ""
    return animals


def write_results_csv(task: Task, out) -> int:
    """Write the task's labelled clusters to ``out``; return the number of rows."""
    tz = ZoneInfo(task.survey.timezone)
    first = _first_images(task)
    counts = _animal_counts(task)
    annotations = (
        ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
        .select_related("cluster__site", "annotator")
        .prefetch_related("labels")
        .order_by("cluster__site__name", "cluster__start", "cluster_id")
    )
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    rows = 0
    for annotation in annotations:
        cluster = annotation.cluster
        camera, taken = first.get(cluster.pk, ("", None))
        labels = sorted(annotation.labels.all(), key=lambda lab: lab.name)
        species = [label for label in labels if not label.is_special]
        for label in labels:
            count = _count(label, species, counts.get(cluster.pk, 0))
            writer.writerow([
                cluster.pk,
                safe_cell(cluster.site.name),
                safe_cell(camera),
                taken.astimezone(tz).isoformat() if taken else "",
                safe_cell(label.name),
                count,
                safe_cell(annotation.annotator.username if annotation.annotator else ""),
            ])
            rows += 1
    return rows
