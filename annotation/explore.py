"""Reads of the explore page: a task's clusters filtered as a reviewer asks (selectors).

Kept beside ``selectors.py`` (the tagging page's reads) because the page has
its own filters and grid; both go through the access gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery

from accounts.taxonomy import Capability
from surveys.models import Camera, Image, Site

from .models import ClusterAnnotation, Label, Task
from .selectors import cluster_payload

STATES = {"": "labelled or not", "unlabelled": "not labelled yet", "labelled": "labelled"}


@dataclass(frozen=True)
class ExploreFilters:
    """What the explore page shows; every field empty means the whole task."""

    site_id: int | None = None
    camera_id: int | None = None
    since: date | None = None  # first day, in the survey's time zone
    until: date | None = None  # last day, included
    label_id: int | None = None
    suggestion: str = ""
    min_score: float | None = None
    max_score: float | None = None
    state: str = ""


def task_for_explore(user, task_id) -> Task | None:
    """The task if ``user`` may view its organisation's data (admin, write, read roles)."""
    return (Task.objects.accessible_to(user, Capability.VIEW).filter(pk=task_id)
            .select_related("survey", "survey__organisation").first())


def explore_choices(task: Task) -> dict:
    """Sites, cameras, labels and AI classes of ``task``'s survey, for the filter form."""
    survey = task.survey
    return {
        "sites": list(Site.objects.filter(survey=survey).values_list("pk", "name")),
        "cameras": list(Camera.objects.filter(site__survey=survey)
                        .values_list("pk", "path").order_by("path")),
        "labels": list(Label.objects.filter(Q(task=task) | Q(task__isnull=True))
                       .order_by("task_id", "name").values_list("pk", "name")),
        "suggestions": [(name, f"{name} ({n})") for name, n in
                        ClusterAnnotation.objects.filter(task=task)
                        .exclude(cluster__suggestion="")
                        .values_list("cluster__suggestion").annotate(n=Count("pk"))
                        .order_by("cluster__suggestion")],
    }


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def explore_annotations(task: Task, filters: ExploreFilters) -> QuerySet[ClusterAnnotation]:
    """``task``'s clusters that match ``filters``, by site and time, each with its labels
    (prefetched) and ``thumbnail_id`` (its first image). Three queries per page."""
    rows = ClusterAnnotation.objects.filter(task=task)
    tz = ZoneInfo(task.survey.timezone)
    if filters.site_id:
        rows = rows.filter(cluster__site_id=filters.site_id)
    if filters.camera_id:
        rows = rows.filter(Exists(Image.objects.filter(cluster=OuterRef("cluster"),
                                                       camera_id=filters.camera_id)))
    if filters.since:
        rows = rows.filter(cluster__start__gte=_local_midnight(filters.since, tz))
    if filters.until:
        rows = rows.filter(cluster__start__lt=_local_midnight(
            filters.until + timedelta(days=1), tz))
    if filters.label_id:
        rows = rows.filter(labels=filters.label_id)
    if filters.suggestion:
        rows = rows.filter(cluster__suggestion=filters.suggestion)
    if filters.min_score is not None:
        rows = rows.filter(cluster__suggestion_score__gte=filters.min_score)
    if filters.max_score is not None:
        rows = rows.filter(cluster__suggestion_score__lte=filters.max_score)
    if filters.state == "labelled":
        rows = rows.filter(labelled_at__isnull=False)
    elif filters.state == "unlabelled":
        rows = rows.filter(labelled_at__isnull=True)
    first_image = (Image.objects.filter(cluster=OuterRef("cluster"))
                   .order_by("corrected_timestamp", "filename").values("pk")[:1])
    return (rows.select_related("cluster", "cluster__site", "annotator")
            .annotate(thumbnail_id=Subquery(first_image))
            .prefetch_related(Prefetch("labels", queryset=Label.objects.only("id", "name")))
            .order_by("cluster__site__name", "cluster__start", "cluster_id"))


def explore_annotation(task: Task, annotation_id) -> ClusterAnnotation | None:
    """One of ``task``'s clusters, for its page on the explore screen."""
    return (ClusterAnnotation.objects.filter(task=task, pk=annotation_id)
            .select_related("task", "task__survey", "cluster", "cluster__site",
                            "cluster__survey", "annotator", "bulk_action")
            .prefetch_related("labels").first())


def explore_images(annotation: ClusterAnnotation) -> list[dict]:
    """The cluster's images as the tagging page shows them (best first, relevant boxes),
    with times in the camera's local time and boxes in percent of the image."""
    images = []
    for image in cluster_payload(annotation)["images"]:
        images.append({
            "url": image["url"], "filename": image["filename"],
            "local_time": image["local_time"],  # "2014-07-02 02:55:18 (America/Lima)"
            "boxes": [{
                "left": round(d["left"] * 100, 3), "top": round(d["top"] * 100, 3),
                "width": round((d["right"] - d["left"]) * 100, 3),
                "height": round((d["bottom"] - d["top"]) * 100, 3),
                "title": " ".join(filter(None, [d["classification"],
                                                f"{d['score']:.2f}" if d["score"] else ""])),
            } for d in image["detections"]],
        })
    return images
