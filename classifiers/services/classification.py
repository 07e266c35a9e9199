"""Species classification of detections, and each cluster's suggested species."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from PIL import Image as PILImage

from core.progress import Progress, ignore_progress
from surveys.models import Cluster, Survey

from ..exceptions import ClassifierError
from ..models import Classifier, Detection
from ..selectors import cluster_votes, relevant_detections
from ..taxonomy import Category
from .geofence import roll_up
from .inference import ImageBoxes, LoadedModel, predictions, stored_model

PAGE_IMAGES = 500


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


def _pending(survey: Survey, classifier: Classifier) -> QuerySet:
    """Relevant animal boxes in clusters that this classifier version has not classified."""
    return relevant_detections(survey).filter(
        image__cluster__isnull=False, category=Category.ANIMAL,
    ).exclude(classified_by=classifier).exclude(image__key="", image__web_key="")


def _pages(pending: QuerySet) -> Iterator[tuple[list[ImageBoxes], dict[int, tuple]]]:
    """The pending boxes, PAGE_IMAGES images at a time, grouped by image (two queries a page).

    With each page: box id -> (country, region) of its site, for the geofence.
    """
    last = 0
    while True:
        image_ids = list(pending.filter(image_id__gt=last).order_by("image_id").values_list(
            "image_id", flat=True).distinct()[:PAGE_IMAGES])
        if not image_ids:
            return
        rows = pending.filter(image_id__in=image_ids).order_by("image_id", "id").values_list(
            "image_id", "image__key", "image__web_key", "image__width", "image__height",
            "image__camera__site__country", "image__camera__site__region",
            "id", "left", "top", "right", "bottom")
        items: dict[int, ImageBoxes] = {}
        places: dict[int, tuple] = {}
        for image_id, key, web_key, width, height, country, region, pk, *box in rows:
            item = items.get(image_id)
            if item is None:
                # The original when stored (small animals need its pixels), else the web copy.
                item = items[image_id] = ImageBoxes(key or web_key, [], [],
                                                    width if key else None,
                                                    height if key else None)
            item.ids.append(pk)
            item.boxes.append(tuple(box))
            places[pk] = (country, region)
        yield list(items.values()), places
        last = image_ids[-1]


def _save(classifier: Classifier, ids, best, scores, places: dict[int, tuple]) -> None:
    names = classifier.classes
    rows = [Detection(pk=int(pk), classification=roll_up(classifier, names[int(b)],
                                                         *places[int(pk)]),
                      classification_score=round(float(score), 4), classified_by=classifier)
            for pk, b, score in zip(ids, best, scores, strict=True)]
    with transaction.atomic():
        Detection.objects.bulk_update(
            rows, ["classification", "classification_score", "classified_by"])


def check_outputs(classifier: Classifier, model: LoadedModel) -> None:
    """Refuse a label index that does not match the model's outputs (names both sizes)."""
    if model.outputs != len(classifier.classes) or "" in classifier.classes:
        raise ClassifierError(
            f"The classifier {classifier} names {len(classifier.classes)} classes but its model "
            f"outputs {model.outputs}; fix its label index (one non-empty name per output).")


def do_classify_survey(survey: Survey, *, progress: Progress = ignore_progress) -> int:
    """Classify the survey's relevant animal boxes, then suggest a species per cluster.

    Relevant: see classifiers.selectors.relevance (detector thresholds, the
    survey's small-box and top-strip options). Crops go through the batched
    pipeline of services.inference; results are saved every batch, rolled up
    by the classifier's geofence (services.geofence) when it has one on.

    Idempotent: boxes this classifier version already classified are
    skipped, so a run cut off anywhere (a killed worker) loses at most the
    batch in flight, and the next run does only what is left. Suggestions are
    recomputed. ``progress(done, total)`` counts boxes. Raises
    ClassifierError when the survey has no usable classifier.
    """
    classifier = survey.classifier
    if classifier is None:
        raise ClassifierError(f"Survey {survey} has no classifier; choose one in the admin.")
    model = stored_model(classifier)
    check_outputs(classifier, model)
    pending = _pending(survey, classifier)
    total, done = pending.count(), 0
    for items, places in _pages(pending):
        for ids, best, scores in predictions(model, items, classifier.input_size,
                                             classifier.preprocessing):
            _save(classifier, ids, best, scores, places)
            done += len(ids)
            progress(done, total)
    suggest_cluster_species(survey, classifier)
    return done


def suggest_cluster_species(survey: Survey, classifier: Classifier) -> None:
    """Each cluster's suggestion: the class with the most qualifying detections.

    Qualifying: relevant, classified by ``classifier``, scoring at least the
    class's threshold (``Classifier.threshold_of``), and not tiny
    (classifiers.selectors.cluster_votes).
    """
    votes = cluster_votes(survey, classifier)
    clusters = list(Cluster.objects.filter(survey=survey).only("id"))
    for cluster in clusters:
        found = votes.get(cluster.pk)
        label = found.top() if found else None
        if label:
            cluster.suggestion, cluster.suggestion_score = label, found.best[label]
        else:
            cluster.suggestion, cluster.suggestion_score = "", None
    Cluster.objects.bulk_update(clusters, ["suggestion", "suggestion_score"], batch_size=1000)
