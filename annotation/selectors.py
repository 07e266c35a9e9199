"""Reads for annotation: which tasks a person may work on, what to show them."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q

from accounts.taxonomy import Capability
from classifiers.models import Detection
from classifiers.selectors import relevant_detections
from surveys.localtime import camera_time, camera_time_iso
from surveys.models import Image

from .models import ClusterAnnotation, Label, Task
from .taxonomy import AI_VERDICTS, AiCheck, TaggingLevel, TaskStatus


def annotatable_tasks(user):
    """Launched tasks of organisations where ``user`` may annotate (accounts.access)."""
    return (
        Task.objects.accessible_to(user, Capability.ANNOTATE)
        .filter(status=TaskStatus.LAUNCHED)
        .select_related("survey", "survey__organisation")
    )


def annotatable_tasks_with_progress(user):
    """The user's launched tasks, each with ``total`` and ``done`` cluster counts (one query).

    At the AI-check level the counts are of the clusters queued for a check.
    """
    species = Q(tagging_level=TaggingLevel.SPECIES)
    checking = Q(tagging_level=TaggingLevel.AI_CHECK)
    return annotatable_tasks(user).annotate(
        total=Count("annotations", filter=species | (
            checking & ~Q(annotations__ai_check=AiCheck.NONE))),
        done=Count("annotations", filter=(species & Q(annotations__labelled_at__isnull=False)) | (
            checking & Q(annotations__ai_check__in=AI_VERDICTS))),
    ).order_by("survey__name", "name")


def annotatable_task(user, task_id) -> Task | None:
    return annotatable_tasks(user).filter(pk=task_id).first()


def labels_for(task: Task) -> list[Label]:
    """Special labels first, then the task's top-level labels."""
    return list(
        Label.objects.filter(Q(task__isnull=True) | Q(task=task), parent__isnull=True)
        .order_by("task_id", "name")
    )


def suggested_label(task: Task, suggestion: str) -> Label | None:
    """The task's label for the classifier class ``suggestion`` (its translation), if any."""
    if not suggestion:
        return None
    translation = task.translations.filter(
        classification=suggestion, label__isnull=False).select_related("label").first()
    return translation.label if translation else None


def image_rank(image: Image) -> float:
    """How well an image shows its cluster's animal: big, centred, classified boxes score high."""
    return boxes_rank([{"left": d.left, "top": d.top, "right": d.right, "bottom": d.bottom,
                        "classification": d.classification} for d in image.detections.all()])


def boxes_rank(boxes: list[dict]) -> float:
    """``image_rank`` of an image with ``boxes`` ({left, top, right, bottom, classification})."""
    best = 0.0
    for d in boxes:
        area = max(0.0, d["right"] - d["left"]) * max(0.0, d["bottom"] - d["top"])
        off_centre = (((d["left"] + d["right"]) / 2 - 0.5) ** 2
                      + ((d["top"] + d["bottom"]) / 2 - 0.5) ** 2)
        centred = 1.0 - min(1.0, (off_centre ** 0.5) / 0.7072)
        best = max(best, area * (0.5 + 0.5 * centred) * (1.0 if d["classification"] else 0.5))
    return best


def cluster_payload(annotation: ClusterAnnotation) -> dict:
    """What the tagging page needs to show one cluster (three queries), best image first.

    Boxes shown are the relevant ones (classifiers.selectors.relevant_detections);
    images are ordered by ``image_rank``, then by time. At the AI-check level
    (two more queries) ``check`` holds the cluster's labels and the label the
    AI suggests instead.
    """
    cluster = annotation.cluster
    task = annotation.task
    images = list(
        Image.objects.filter(cluster=cluster)
        .order_by("corrected_timestamp", "filename")
        .prefetch_related(Prefetch(
            "detections", queryset=relevant_detections(
                cluster.survey, Detection.objects.filter(image__cluster=cluster),
            ).order_by("-score")))
    )
    images.sort(key=image_rank, reverse=True)  # stable: equal ranks keep their time order
    zone = cluster.survey.timezone
    check = None
    if task.tagging_level == TaggingLevel.AI_CHECK:
        suggested = suggested_label(task, cluster.suggestion)
        check = {
            "labels": [{"id": label.pk, "name": label.name}
                       for label in annotation.labels.order_by("name")],
            "suggested": {"id": suggested.pk, "name": suggested.name} if suggested else None,
        }
    return _payload(task.tagging_level, check, annotation.pk, annotation.lease_token,
                    cluster.pk, cluster.site.name, cluster.suggestion, [
                        _image(image.pk, image.filename, image.corrected_timestamp, zone, [
                            _box(d.left, d.top, d.right, d.bottom, d.score, d.classification)
                            for d in image.detections.all()])
                        for image in images])


def _payload(level, check, annotation_id, lease, cluster_id, site, suggestion, images):
    return {"level": level, "check": check, "annotation_id": annotation_id, "lease": lease,
            "cluster_id": cluster_id, "site": site, "suggestion": suggestion, "images": images}


def _image(pk, filename, timestamp, zone, boxes) -> dict:
    # The camera's local time: ISO with the UTC offset, and as people read it.
    return {"id": pk, "url": f"/images/{pk}/web/", "filename": filename,
            "timestamp": camera_time_iso(timestamp, zone),
            "local_time": camera_time(timestamp, zone, empty=""), "detections": boxes}


def _box(left, top, right, bottom, score, classification) -> dict:
    return {"left": left, "top": top, "right": right, "bottom": bottom, "score": score,
            "classification": classification}


def leased_payloads(task_id: int, level: str, user, token_prefix: str, relevance) -> list[dict]:
    """``cluster_payload`` of every cluster of the task leased to ``user`` under a token
    starting ``token_prefix`` (one claim), in one query: annotations joined to their
    clusters, sites, images and boxes; boxes flagged by ``relevance``
    (classifiers.selectors.Relevance of the survey) and the others left out here.

    Species level only (the AI check's payload needs the labels and the suggestion's
    translation: ``cluster_payload``). Lowest annotation id first.
    """
    rows = relevance.flag(
        ClusterAnnotation.objects.filter(task_id=task_id, leased_to=user,
                                         lease_token__startswith=token_prefix),
        "cluster__images__detections", "relevant",
    ).order_by("pk", "cluster__images__corrected_timestamp", "cluster__images__filename",
               "-cluster__images__detections__score").values_list(
        "pk", "lease_token", "cluster_id", "cluster__site__name", "cluster__suggestion",
        "cluster__survey__timezone",
        "cluster__images__id", "cluster__images__filename",
        "cluster__images__corrected_timestamp", "cluster__images__detections__left",
        "cluster__images__detections__top", "cluster__images__detections__right",
        "cluster__images__detections__bottom", "cluster__images__detections__score",
        "cluster__images__detections__classification", "relevant")
    payloads: dict[int, dict] = {}
    images: dict[int, dict] = {}
    for (pk, lease, cluster_id, site, suggestion, zone, image_id, filename, timestamp,
         left, top, right, bottom, score, classification, relevant) in rows:
        payload = payloads.get(pk)
        if payload is None:
            payload = payloads[pk] = _payload(level, None, pk, lease, cluster_id, site,
                                              suggestion, [])
        if image_id is None:
            continue
        image = images.get(image_id)
        if image is None:
            image = images[image_id] = _image(image_id, filename, timestamp, zone, [])
            payload["images"].append(image)
        if relevant:
            image["detections"].append(_box(left, top, right, bottom, score, classification))
    for payload in payloads.values():  # stable: equal ranks keep their time order
        payload["images"].sort(key=lambda image: boxes_rank(image["detections"]), reverse=True)
    return list(payloads.values())


def task_progress(task: Task) -> dict:
    """Clusters done and in all at the task's level (AI check: those queued for a check)."""
    annotations = ClusterAnnotation.objects.filter(task=task)
    if task.tagging_level == TaggingLevel.AI_CHECK:
        queued = annotations.exclude(ai_check=AiCheck.NONE)
        return {"done": queued.filter(ai_check__in=AI_VERDICTS).count(),
                "total": queued.count()}
    return {
        "done": annotations.filter(labelled_at__isnull=False).count(),
        "total": annotations.count(),
    }
