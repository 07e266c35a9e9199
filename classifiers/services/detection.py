"""Running a detector over a survey, cluster by cluster."""

from __future__ import annotations

import io

from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from core.progress import Progress, ignore_progress
from surveys.models import Cluster, Image, Survey
from surveys.taxonomy import DEFAULT_DETECTOR

from ..exceptions import ClassifierError
from ..models import Detection, Detector
from ..taxonomy import DetectionStatus, DetectorInput, Fill, Placement
from .default_detector import default_detector
from .detector_inference import PAD_VALUE, DetectImage, detections, stored_detector
from .detectors import DETECTORS, Box
from .supersede import machine_boxes, supersede_others

PROGRESS_EVERY = 50


def load_web_image(image: Image) -> PILImage.Image:
    with default_storage.open(image.web_key or image.key, "rb") as fh:
        img = PILImage.open(io.BytesIO(fh.read()))
        img.load()
    return img


def do_detect_survey(survey: Survey, *, progress: Progress = ignore_progress) -> int:
    """Detect boxes on every image of ``survey`` not yet detected; return boxes made.

    The ``default`` detector is registered at first use (services.default_detector)
    and becomes the survey's registered detector (ClassifierError when its
    weights are not installed). With a registered detector
    (``survey.registered_detector``) its model runs on batches of images
    (services.detector_inference); otherwise the survey's
    weight-free detector works a cluster at a time (the motion detector
    compares a cluster's images). Boxes are marked with
    ``survey.detector_source``. Safe to re-run: detected images are skipped,
    and images are marked detected with their boxes, batch by batch.
    ``progress(done, total)`` counts clusters (weight-free) or images.
    """
    if survey.registered_detector_id is None and survey.detector == DEFAULT_DETECTOR:
        # From now on the survey's boxes are the registered default's ("name version").
        survey.registered_detector = default_detector()
        Survey.objects.filter(pk=survey.pk).update(registered_detector=survey.registered_detector)
    if survey.registered_detector_id is not None:
        return _detect_with_model(survey, survey.registered_detector, progress)
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
        made += _save_boxes([image.pk for image in images], detector(pictures), survey.detector)
        if n % PROGRESS_EVERY == 0 or n == len(cluster_ids):
            progress(n, len(cluster_ids))
    return made


def _save_boxes(image_ids: list[int], boxes: list[list[Box]], source: str) -> int:
    """Store each image's boxes and mark the images detected, in one transaction.

    Other detectors' machine boxes on these images are superseded (services.supersede).
    """
    rows = [
        Detection(image_id=image_id, left=b.left, top=b.top, right=b.right, bottom=b.bottom,
                  score=b.score, category=b.category, source=source,
                  status=DetectionStatus.ACTIVE)
        for image_id, image_boxes in zip(image_ids, boxes, strict=True)
        for b in image_boxes
    ]
    with transaction.atomic():
        # Detecting an image again: the same detector's earlier machine boxes go.
        machine_boxes().filter(image_id__in=image_ids, source=source).delete()
        supersede_others(image_ids, source)
        Detection.objects.bulk_create(rows)
        Image.objects.filter(id__in=image_ids).update(detected=True)
    return len(rows)


def detect_items(detector: Detector, rows) -> list[DetectImage]:
    """What the detector reads of each (id, key, web_key, width, height) row: the web copy,
    or the original (with its longest side, so it decodes at reduced scale) when the
    detector's ``input_source`` says so or the image has no web copy."""
    original = detector.input_source == DetectorInput.ORIGINAL
    return [DetectImage(pk, key, max(width, height) if width and height else None)
            if original or not web_key else DetectImage(pk, web_key)
            for pk, key, web_key, width, height in rows]


def _detect_with_model(survey: Survey, detector: Detector, progress: Progress) -> int:
    """Run a registered detector over the survey's clustered images not yet detected."""
    loaded = stored_detector(detector)
    pending = Image.objects.filter(cluster__survey=survey, detected=False)
    rows = list(pending.order_by("id").values_list("id", "key", "web_key", "width", "height"))
    items = detect_items(detector, rows)
    made = done = 0
    top_left = detector.placement == Placement.TOP_LEFT
    fill = 0.0 if detector.fill == Fill.BLACK else PAD_VALUE
    for image_ids, boxes in detections(loaded, items, detector.preprocessing, top_left=top_left,
                                       fill=fill):
        made += _save_boxes(image_ids, boxes, detector.source)
        done += len(image_ids)
        progress(done, len(items))
    return made
