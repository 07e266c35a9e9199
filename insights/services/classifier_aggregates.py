"""How a survey's classifier did against a task's human labels, from two GROUP BY queries.

Definitions (the page repeats them):

* **Compared clusters**: clusters of the task labelled by a person, except those labelled
  Unknown (the person could not tell, so there is nothing to compare with).
* **The AI's answer** is the cluster's suggestion (``Cluster.suggestion``): what annotators
  are shown and auto-labelling uses. Its score (``suggestion_score``) is the best score of a
  box of that class in the cluster. At a chosen **threshold** a suggestion scoring below it
  counts as no answer; a suggestion without a score counts as scoring 0. Suggestions were
  made from boxes over the classifier's own threshold, so a lower one here adds nothing.
  Box-level classifications are not compared: people label clusters, not boxes, and a box
  of a two-species cluster has no human label of its own.
* Class and label names are compared without case (as translations match them).
* For class *c*: **recall** = compared clusters labelled *c* whose answer is *c* / compared
  clusters labelled *c*; **precision** = compared clusters answered *c* that a person
  labelled *c* (among their labels) / compared clusters answered *c*.
* **Confusion matrix**: one row per human label of a compared cluster (a cluster with two
  labels is in two rows), one column per answer, "no answer" included.
"""

from __future__ import annotations

import bisect
import functools
from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef

from annotation.models import ClusterAnnotation, Task
from annotation.taxonomy import SPECIAL_LABELS

UNKNOWN = SPECIAL_LABELS[1][0]
NO_ANSWER = "(no answer)"
CURVE_THRESHOLDS = [round(0.05 * i, 2) for i in range(20)]  # 0.00 … 0.95


@functools.lru_cache(maxsize=4096)
def key(name: str) -> str:
    """A class or label name as compared: without case or surrounding space. Cached: a
    page compares the same few names for every one of thousands of grouped rows."""
    return name.strip().casefold()


def answer(suggestion: str, score: float | None, threshold: float) -> str:
    """The AI's answer for a cluster at ``threshold``: its suggestion, or "" for none."""
    if not suggestion or (score or 0.0) < threshold:
        return ""
    return suggestion


@dataclass
class ClassMetrics:
    name: str
    in_classifier: bool
    support: int  # compared clusters a person labelled with the class
    answered: int  # compared clusters the AI answered with the class
    agreed: int  # both

    @property
    def precision(self) -> float | None:
        return self.agreed / self.answered if self.answered else None

    @property
    def recall(self) -> float | None:
        return self.agreed / self.support if self.support else None


class AtLeast:
    """How many of some scores are at least a threshold, for many thresholds (bisect)."""

    def __init__(self, counts: Counter):
        self.scores = sorted(counts)
        self.tail = [0] * (len(self.scores) + 1)  # tail[i]: how many at index i or later
        for i in range(len(self.scores) - 1, -1, -1):
            self.tail[i] = self.tail[i + 1] + counts[self.scores[i]]

    def __call__(self, threshold: float) -> int:
        return self.tail[bisect.bisect_left(self.scores, threshold)]


@dataclass
class ClassifierInsights:
    task: Task
    classifier: str | None  # the survey's classifier's name, if it has one
    classes: list[str]  # its classes in output order
    threshold: float
    # (human label, suggestion, score) -> label rows (a cluster once per label)
    label_rows: Counter
    # (suggestion, score) -> compared clusters
    cluster_rows: Counter

    def names(self) -> dict[str, str]:
        """Display name by key: the classifier's spelling, else the first label's."""
        shown: dict[str, str] = {}
        for name in self.classes:
            shown.setdefault(key(name), name)
        # Each (label, suggestion) pair once: the rows differ mostly by score, and the
        # plots ask for names once per row or column drawn.
        for label, suggestion in sorted({row[:2] for row in self.label_rows}):
            shown.setdefault(key(label), label)
            if suggestion:
                shown.setdefault(key(suggestion), suggestion)
        return shown

    @property
    def compared(self) -> int:
        return sum(self.cluster_rows.values())

    @property
    def answered(self) -> int:
        return sum(n for (s, score), n in self.cluster_rows.items()
                   if answer(s, score, self.threshold))

    @property
    def agreed(self) -> int:
        return sum(m.agreed for m in self.metrics())

    def confusion(self) -> Counter:
        """(human label key, answer key or "") -> label rows, at the threshold."""
        grid = Counter()
        for (label, suggestion, score), n in self.label_rows.items():
            grid[(key(label), key(answer(suggestion, score, self.threshold)))] += n
        return grid

    def metrics(self, threshold: float | None = None) -> list[ClassMetrics]:
        """Precision and recall per class (the classifier's and any suggested), by name."""
        t = self.threshold if threshold is None else threshold
        support, answered, agreed = Counter(), Counter(), Counter()
        for (label, suggestion, score), n in self.label_rows.items():
            support[key(label)] += n
            if answer(suggestion, score, t) and key(label) == key(suggestion):
                agreed[key(label)] += n
        for (suggestion, score), n in self.cluster_rows.items():
            if answer(suggestion, score, t):
                answered[key(suggestion)] += n
        shown, in_classifier = self.names(), {key(c) for c in self.classes}
        keys = in_classifier | set(answered) | {key(s) for _l, s, _sc in self.label_rows if s}
        return [ClassMetrics(shown[k], k in in_classifier, support[k], answered[k],
                             min(agreed[k], answered[k]))
                for k in sorted(keys, key=lambda k: shown[k].casefold())]

    def curve(self, thresholds=CURVE_THRESHOLDS) -> dict[str, list[ClassMetrics]]:
        """Per suggested class, its metrics at each threshold (scores counted by bisect)."""
        answered: dict[str, Counter] = {}
        agreed: dict[str, Counter] = {}
        support = Counter()
        for (label, suggestion, score), n in self.label_rows.items():
            support[key(label)] += n
            if suggestion and key(label) == key(suggestion):
                agreed.setdefault(key(suggestion), Counter())[score or 0.0] += n
        for (suggestion, score), n in self.cluster_rows.items():
            if suggestion:
                answered.setdefault(key(suggestion), Counter())[score or 0.0] += n
        shown, classes = self.names(), {key(c) for c in self.classes}
        curves = {}
        for k, counts in sorted(answered.items(), key=lambda kv: shown[kv[0]].casefold()):
            at_least, agreeing = AtLeast(counts), AtLeast(agreed.get(k, Counter()))
            curves[shown[k]] = [ClassMetrics(shown[k], k in classes, support[k], at_least(t),
                                             min(agreeing(t), at_least(t))) for t in thresholds]
        return curves


def classifier_insights(task: Task, threshold: float = 0.0) -> ClassifierInsights:
    """The task's compared clusters, grouped by human label, suggestion and score.

    Precondition: the caller checked the user may view the task, with ``survey`` and
    ``survey__classifier`` selected (insights.selectors). Two queries.
    """
    through = ClusterAnnotation.labels.through
    unknown = through.objects.filter(clusterannotation=OuterRef("pk"), label__task=None,
                                     label__name=UNKNOWN)
    compared = (ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
                .filter(~Exists(unknown)))
    label_rows = Counter({
        (label, suggestion, score): n for label, suggestion, score, n in
        through.objects.filter(clusterannotation__in=compared.values("id"))
        .values_list("label__name", "clusterannotation__cluster__suggestion",
                     "clusterannotation__cluster__suggestion_score")
        .annotate(n=Count("id")).order_by()})
    cluster_rows = Counter({
        (suggestion, score): n for suggestion, score, n in
        compared.values_list("cluster__suggestion", "cluster__suggestion_score")
        .annotate(n=Count("id")).order_by()})
    classifier = task.survey.classifier
    return ClassifierInsights(
        task=task, classifier=classifier.name if classifier else None,
        classes=[str(c) for c in (classifier.classes if classifier else []) if c],
        threshold=threshold, label_rows=label_rows, cluster_rows=cluster_rows)
