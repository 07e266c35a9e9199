"""Reads about detections: which boxes are relevant."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet

from surveys.models import Camera, Cluster, Image, Survey

from .models import Classifier, Detection, Detector, StaticGroup
from .taxonomy import HUMAN_STATUSES, MIN_CLASSIFY_AREA, Category, DetectionStatus


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def threshold_for(source: str, registered: dict[str, float] | None = None) -> float:
    """The relevance threshold of boxes from ``source``.

    A registered detector's source ("name version", in ``registered``: see
    ``detector_thresholds``) has that detector's own threshold. Otherwise
    settings.DETECTION_THRESHOLDS decides: the longest key that starts
    ``source`` wins, both compared in lower case without punctuation
    ("md_v5a.0.0.pt" matches "mdv5a"); any other source gets
    settings.DETECTION_THRESHOLD_DEFAULT.
    """
    if registered and source in registered:
        return registered[source]
    plain = _plain(source)
    best, value = "", settings.DETECTION_THRESHOLD_DEFAULT
    for key, threshold in settings.DETECTION_THRESHOLDS.items():
        key = _plain(key)
        if key and plain.startswith(key) and len(key) > len(best):
            best, value = key, threshold
    return value


def detector_thresholds(survey: Survey, sources) -> dict[str, float]:
    """Source → threshold of the registered detectors among ``sources`` that ``survey`` may use.

    The organisation's own detector wins over a shared one of the same name
    and version. No query when no source looks like "name version".
    """
    names = {source.rsplit(" ", 1)[0] for source in sources if " " in source}
    if not names:
        return {}
    rows = Detector.objects.of_organisations([survey.organisation_id], include_shared=True).filter(
        name__in=names).order_by(F("organisation").asc(nulls_first=True)).values_list(
        "name", "version", "threshold")
    return {f"{name} {version}": threshold for name, version, threshold in rows}


def relevance(survey: Survey, sources) -> Q:
    """The condition a box of ``survey`` meets when relevant, for boxes of ``sources``.

    Relevant: not static; drawn or corrected by a person; or active, scoring
    at least its threshold (the survey's detection_threshold, else its
    detector's: ``threshold_for``), and not set aside by the survey's options
    (small boxes, the top strip). Needs the ``box_area`` alias (see
    ``relevant_detections``) when the survey ignores small boxes.
    """
    if survey.detection_threshold is not None:
        machine = Q(score__gte=survey.detection_threshold)
    else:
        registered = detector_thresholds(survey, sources)
        by_threshold: dict[float, list[str]] = {}
        for source in sources:
            by_threshold.setdefault(threshold_for(source, registered), []).append(source)
        machine = Q(pk__in=[])
        for threshold, names in sorted(by_threshold.items()):
            machine |= Q(source__in=names, score__gte=threshold)
    if survey.ignore_small_boxes:
        machine &= Q(box_area__gte=MIN_CLASSIFY_AREA)
    if survey.ignore_top_strip > 0:
        machine &= Q(bottom__gt=survey.ignore_top_strip)
    return Q(static=False) & (
        # People's boxes count whatever their score (domain: user boxes 0).
        Q(status__in=HUMAN_STATUSES) | (Q(status=DetectionStatus.ACTIVE) & machine))


@dataclass(frozen=True)
class Relevance:
    """``relevance`` worked out once, to filter any number of querysets of the survey's
    boxes (an export's pages, a subquery) without another query."""

    condition: Q

    def apply(self, boxes: QuerySet) -> QuerySet:
        """The relevant ones among ``boxes`` (with the ``box_area`` alias it may need)."""
        return boxes.alias(box_area=(F("right") - F("left")) * (F("bottom") - F("top"))).filter(
            self.condition)

    def flag(self, rows: QuerySet, path: str, name: str) -> QuerySet:
        """``rows`` annotated with ``name``: whether the box reached through ``path``
        (``"cluster__images__detections"``) is relevant; rows with no box get None.

        For reading boxes joined to other rows in one query, the rule unchanged. A join
        reaches every box, superseded ones too (managers do not filter joins): those are
        never relevant.
        """
        def via(field):
            return F(f"{path}__{field}")

        current = self.condition & Q(superseded=False)
        return rows.alias(box_area=(via("right") - via("left")) * (via("bottom") - via("top"))
                          ).annotate(**{name: ExpressionWrapper(
                              _prefixed(current, f"{path}__"),
                              output_field=BooleanField())})


def _prefixed(condition: Q, prefix: str) -> Q:
    """``condition`` with every lookup but the ``box_area`` alias reached through ``prefix``."""
    copy = Q(*(_prefixed(child, prefix) if isinstance(child, Q) else (
        child if child[0].startswith("box_area") else (prefix + child[0], child[1]))
        for child in condition.children), _connector=condition.connector,
        _negated=condition.negated)
    return copy


def relevance_of(survey: Survey, boxes: QuerySet | None = None) -> Relevance:
    """The relevance of ``survey``'s boxes: one query for their sources (and one for
    registered detectors when a source looks like "name version").

    ``boxes``: only these of the survey's boxes (one cluster's, say), so that the
    sources query reads them rather than the whole survey; the result is then
    right only for them. They may include other surveys' boxes (an id range, read
    without a join): other sources change no threshold of this survey's boxes, which
    ``threshold_for`` and ``detector_thresholds`` set from the source and the survey.
    """
    if survey.detection_threshold is not None:
        return Relevance(relevance(survey, []))  # one threshold for all: no sources needed
    if boxes is None:
        boxes = Detection.objects.filter(image__camera__site__survey=survey)
    sources = list(boxes.order_by().values_list("source", flat=True).distinct())
    return Relevance(relevance(survey, sources))


def relevant_detections(survey: Survey, boxes: QuerySet | None = None) -> QuerySet:
    """The survey's relevant boxes (see ``relevance``); one query to learn their sources.

    ``boxes``: only these of the survey's boxes (see ``relevance_of``).
    """
    if boxes is None:
        boxes = Detection.objects.filter(image__camera__site__survey=survey)
    return relevance_of(survey, boxes).apply(boxes)


def classifier_named(name: str, survey: Survey, version: str | None = None) -> Classifier | None:
    """The classifier called ``name`` that ``survey`` may use: its organisation's, else shared.

    ``version`` None: the newest version registered.
    """
    found = Classifier.objects.of_organisations(
        [survey.organisation_id], include_shared=True).filter(name=name)
    if version is not None:
        found = found.filter(version=version)
    return found.order_by(F("organisation").asc(nulls_last=True), "-created_at", "-pk").first()


def detector_named(name: str, survey: Survey) -> Detector | None:
    """The registered detector ``name`` (or ``name:version``) that ``survey`` may use.

    Its organisation's before a shared one; without a version, the newest.
    """
    name, _, version = name.partition(":")
    found = Detector.objects.of_organisations(
        [survey.organisation_id], include_shared=True).filter(name=name.strip())
    if version.strip():
        found = found.filter(version=version.strip())
    return found.order_by(F("organisation").asc(nulls_last=True), "-created_at", "-pk").first()


def detectors_for(survey: Survey) -> list[str]:
    """``name:version`` of every registered detector ``survey`` may use."""
    rows = Detector.objects.of_organisations([survey.organisation_id], include_shared=True
                                             ).order_by("name", "version")
    return [f"{name}:{version}" for name, version in rows.values_list("name", "version")]


def detection_counts(survey: Survey) -> dict:
    """Images, detected images, and boxes per source of ``survey`` (three queries)."""
    images = Image.objects.filter(camera__site__survey=survey)
    by_source = dict(Detection.objects.filter(image__camera__site__survey=survey).order_by()
                     .values_list("source").annotate(n=Count("id")))
    return {"images": images.count(), "detected": images.filter(detected=True).count(),
            "detections": sum(by_source.values()), "by_source": by_source}


def classification_counts(survey: Survey) -> dict:
    """Relevant animal boxes, how many are classified, and clusters with a suggestion."""
    boxes = relevant_detections(survey).filter(image__cluster__isnull=False,
                                               category=Category.ANIMAL)
    return {"relevant_animal_boxes": boxes.count(),
            "classified": boxes.filter(classified_by=survey.classifier_id).count()
            if survey.classifier_id else 0,
            "clusters_with_suggestion": Cluster.objects.filter(survey=survey).exclude(
                suggestion="").count()}


# --- static groups and masks -------------------------------------------------------
EXAMPLES = 4  # example crops shown per static group


def same_location_cameras(camera: Camera) -> QuerySet:
    """Cameras at ``camera``'s location in every survey of its organisation (itself included).

    The same location: the same site name and camera folder. Static-group
    decisions carry over between these.
    """
    return Camera.objects.filter(
        site__survey__organisation_id=camera.site.survey.organisation_id,
        site__name=camera.site.name, path=camera.path)


def static_group_example(group: StaticGroup, number: int) -> Detection | None:
    """The ``number``-th of EXAMPLES boxes of ``group``, spread over its members."""
    if not 0 <= number < EXAMPLES:
        return None
    members = group.detections.order_by("image_id", "id")
    total = members.count()
    if number >= total:
        return None
    return members.select_related("image__camera__site")[number * total // EXAMPLES]


def camera_example_image(camera: Camera) -> Image | None:
    """An image of ``camera`` to draw masks on: the first one in time that has a copy."""
    return camera.images.exclude(key="").order_by("corrected_timestamp", "id").first()


@dataclass
class ClusterVotes:
    """What a cluster's relevant boxes say: the classes they vote for, and how many are people."""

    votes: Counter = field(default_factory=Counter)  # class -> qualifying boxes
    best: dict[str, float] = field(default_factory=dict)  # class -> its best score
    boxes: int = 0  # relevant boxes of any category
    people: int = 0  # relevant person and vehicle boxes

    def top(self) -> str | None:
        """The class with the most qualifying boxes (ties: the better best score)."""
        if not self.votes:
            return None
        return max(self.votes, key=lambda label: (self.votes[label], self.best[label]))


def cluster_votes(survey: Survey, classifier: Classifier | None) -> dict[int, ClusterVotes]:
    """Per cluster of ``survey``, its relevant boxes' votes (one query, read in a stream).

    A box votes when ``classifier`` classified it with at least its class's
    threshold (``Classifier.threshold_of``) and it is not tiny (MIN_CLASSIFY_AREA).
    """
    rows = relevant_detections(survey).filter(image__cluster__isnull=False).values_list(
        "image__cluster_id", "category", "classification", "classification_score",
        "classified_by_id", "left", "top", "right", "bottom").iterator(chunk_size=5000)
    found: dict[int, ClusterVotes] = {}
    for cluster_id, category, label, score, by, left, top, right, bottom in rows:
        votes = found.get(cluster_id) or found.setdefault(cluster_id, ClusterVotes())
        votes.boxes += 1
        if category != Category.ANIMAL:
            votes.people += 1
            continue
        if (classifier is None or by != classifier.pk or not label or score is None
                or score < classifier.threshold_of(label)
                or (right - left) * (bottom - top) < MIN_CLASSIFY_AREA):
            continue
        votes.votes[label] += 1
        votes.best[label] = max(score, votes.best.get(label, 0.0))
    return found
