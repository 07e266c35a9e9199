"""Species classification of detections, and each cluster's suggested species."""

from __future__ import annotations

import functools
import os
import tempfile
from collections import Counter

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from core.progress import Progress, ignore_progress
from surveys.models import Cluster, Survey

from ..exceptions import ClassifierError
from ..models import Classifier, Detection
from ..selectors import relevant_detections
from ..taxonomy import MIN_CLASSIFY_AREA, Category
from .detection import load_web_image

BATCH = 256


def square_crop(img: PILImage.Image, box, size: int) -> np.ndarray:
    """The box's crop, expanded to a square padded with black, resized to ``size``."""
    w, h = img.size
    left, top = box.left * w, box.top * h
    right, bottom = box.right * w, box.bottom * h
    side = max(right - left, bottom - top, 1.0)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    # crop() pads with black outside the image.
    square = img.convert("RGB").crop((
        round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)
    ))
    return np.asarray(square.resize((size, size), PILImage.Resampling.BILINEAR), dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _load_model(model_key: str, _stamp: str):
    import keras

    if not default_storage.exists(model_key):
        raise ClassifierError(
            f"The classifier model file {model_key!r} is missing from storage. Upload it "
            "again, or rebuild the demo model with manage.py build_demo_classifier."
        )
    suffix = os.path.splitext(model_key)[1] or ".keras"
    with default_storage.open(model_key, "rb") as src, tempfile.NamedTemporaryFile(
        suffix=suffix
    ) as tmp:
        tmp.write(src.read())
        tmp.flush()
        try:
            return keras.models.load_model(tmp.name, compile=False)
        except Exception as exc:  # keras raises many kinds for a bad file
            raise ClassifierError(
                f"The classifier model {model_key!r} cannot be loaded: {exc}"
            ) from exc


def load_model(classifier: Classifier):
    return _load_model(classifier.model_key, classifier.created_at.isoformat())


def classify_detections(classifier: Classifier, detections: list[Detection]) -> None:
    """Set ``classification``/``classification_score`` on ``detections`` (not saved)."""
    model = load_model(classifier)
    by_image: dict[int, list[Detection]] = {}
    for det in detections:
        by_image.setdefault(det.image_id, []).append(det)
    crops, order = [], []
    for dets in by_image.values():
        picture = load_web_image(dets[0].image)
        for det in dets:
            crops.append(square_crop(picture, det, classifier.input_size))
            order.append(det)
    if not crops:
        return
    probabilities = model.predict(np.stack(crops), verbose=0, batch_size=64)
    if probabilities.shape[-1] != len(classifier.classes) or "" in classifier.classes:
        raise ClassifierError(
            f"The classifier {classifier} names {len(classifier.classes)} classes but its model "
            f"outputs {probabilities.shape[-1]}; fix its class list (no empty names)."
        )
    for det, probs in zip(order, probabilities, strict=True):
        best = int(np.argmax(probs))
        det.classification = classifier.classes[best]
        det.classification_score = round(float(probs[best]), 4)


def do_classify_survey(survey: Survey, *, progress: Progress = ignore_progress) -> int:
    """Classify the survey's unclassified relevant animal boxes, then suggest a species per cluster.

    Relevant: see classifiers.selectors.relevance (detector thresholds, the
    survey's small-box and top-strip options).

    Safe to re-run: classified detections are skipped; suggestions are
    recomputed. ``progress(done, total)`` counts detections. Raises
    ClassifierError when the survey has no usable classifier.
    """
    classifier = survey.classifier
    if classifier is None:
        raise ClassifierError(f"Survey {survey} has no classifier; choose one in the admin.")
    pending = (
        relevant_detections(survey).filter(
            image__cluster__isnull=False, classification="", category=Category.ANIMAL,
        ).select_related("image").order_by("image_id", "id")
    )
    total = pending.count()
    done = 0
    while True:
        batch = list(pending[:BATCH])
        if not batch:
            break
        classify_detections(classifier, batch)
        with transaction.atomic():
            Detection.objects.bulk_update(batch, ["classification", "classification_score"])
        done += len(batch)
        progress(done, total)
    suggest_cluster_species(survey, classifier)
    return done


def suggest_cluster_species(survey: Survey, classifier: Classifier) -> None:
    """Each cluster's suggestion: the class with the most qualifying detections."""
    rows = relevant_detections(survey).filter(
        image__cluster__isnull=False, classification_score__gte=classifier.threshold,
    ).exclude(classification="").values_list(
        "image__cluster_id", "classification", "classification_score",
        "left", "top", "right", "bottom",
    )
    votes: dict[int, Counter] = {}
    best_score: dict[tuple[int, str], float] = {}
    for cluster_id, label, score, left, top, right, bottom in rows:
        if (right - left) * (bottom - top) < MIN_CLASSIFY_AREA:
            continue
        votes.setdefault(cluster_id, Counter())[label] += 1
        key = (cluster_id, label)
        best_score[key] = max(score, best_score.get(key, 0.0))
    clusters = list(Cluster.objects.filter(survey=survey).only("id"))
    for cluster in clusters:
        counter = votes.get(cluster.pk)
        if counter:
            label, _ = max(counter.items(), key=lambda kv: (kv[1], best_score[(cluster.pk, kv[0])]))
            cluster.suggestion, cluster.suggestion_score = label, best_score[(cluster.pk, label)]
        else:
            cluster.suggestion, cluster.suggestion_score = "", None
    Cluster.objects.bulk_update(clusters, ["suggestion", "suggestion_score"], batch_size=1000)
