"""Running a detector over a survey, cluster by cluster."""

from __future__ import annotations

import io

from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from core.progress import Progress, ignore_progress
from surveys.models import Cluster, Image, Survey

from ..exceptions import ClassifierError
from ..models import Detection
from ..taxonomy import DetectionStatus
from .detectors import DETECTORS

PROGRESS_EVERY = 50


def load_web_image(image: Image) -> PILImage.Image:
    with default_storage.open(image.web_key or image.key, "rb") as fh:
        img = PILImage.open(io.BytesIO(fh.read()))
        img.load()
    return img


def do_detect_survey(survey: Survey, *, progress: Progress = ignore_progress) -> int:
    """Detect boxes on every image of ``survey`` not yet detected; return boxes made.

    Works a cluster at a time (the motion detector compares a cluster's
    images). Safe to re-run: detected images are skipped. ``progress(done,
    total)`` counts clusters.
    """
    detector = DETECTORS.get(survey.detector)
    if detector is None:
        raise ClassifierError(
            f"Unknown detector {survey.detector!r}; choose one of {', '.join(sorted(DETECTORS))}."
        )
    cluster_ids = list(
        Cluster.objects.filter(survey=survey, images__detected=False)
        .distinct().order_by("id").values_list("id", flat=True)
    )
    made = 0
    for n, cluster_id in enumerate(cluster_ids, start=1):
        images = list(Image.objects.filter(cluster_id=cluster_id, detected=False).order_by(
            "corrected_timestamp", "filename"))
        pictures = [load_web_image(image) for image in images]
        boxes = detector(pictures)
        rows = [
            Detection(image=image, left=b.left, top=b.top, right=b.right, bottom=b.bottom,
                      score=b.score, category=b.category, source=survey.detector,
                      status=DetectionStatus.ACTIVE)
            for image, image_boxes in zip(images, boxes, strict=True)
            for b in image_boxes
        ]
        with transaction.atomic():
            Detection.objects.bulk_create(rows)
            Image.objects.filter(id__in=[i.pk for i in images]).update(detected=True)
        if n % PROGRESS_EVERY == 0 or n == len(cluster_ids):
            progress(n, len(cluster_ids))
        made += len(rows)
    return made
