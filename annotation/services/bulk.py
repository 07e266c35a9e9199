"""Labelling many clusters in one action: accept the AI's suggestions, relabel a selection.

Both record a BulkAction (who, when, what) and, per cluster changed, a
LabelChange holding what the cluster had before, so the history says a bulk
action gave these labels and what they replaced. A cluster an annotator holds
under a lease loses the lease: the page's late answer is then refused as stale
(leases.do_save_labels), never written over the bulk labels. The same number
of queries for any number of clusters up to 5,000 (a few more per 5,000 past that).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..exceptions import AnnotationError
from ..models import BulkAction, ClusterAnnotation, Label, LabelChange, Task
from ..selectors import suggested_label
from ..taxonomy import BulkKind
from .common import check_may_change
from .leases import check_labels
from .progress import forget_progress

MAX_RELABEL = 10_000
CHUNK = 5_000


@dataclass(frozen=True)
class AcceptPreview:
    """What accepting a class's suggestions would do, shown before the admin confirms."""

    classification: str
    min_score: float
    label: Label
    count: int


def _accept_candidates(task: Task, classification: str, min_score: float) -> QuerySet:
    return ClusterAnnotation.objects.filter(
        task=task, labelled_at__isnull=True, cluster__suggestion=classification,
        cluster__suggestion_score__gte=min_score)


def check_accept(task: Task, classification: str, min_score: float, *,
                 acting_user) -> AcceptPreview:
    """How many unlabelled clusters the AI suggests ``classification`` for at ≥ ``min_score``.

    Needs the CHANGE capability. Raises AnnotationError when the score is not
    in 0–1 or the class has no label in the task (its translation).
    """
    check_may_change(acting_user, task.survey, "label clusters in bulk")
    if not 0.0 <= min_score <= 1.0:
        raise AnnotationError(f"The confidence must be between 0 and 1 (it is {min_score}).")
    label = suggested_label(task, classification)
    if label is None:
        raise AnnotationError(
            f"The AI class “{classification}” has no label in the task {task}; choose its "
            "label under the task's translations first.")
    return AcceptPreview(classification, min_score, label,
                         _accept_candidates(task, classification, min_score).count())


def do_accept_suggestions(task: Task, classification: str, min_score: float, *,
                          acting_user) -> BulkAction:
    """Label every unlabelled cluster suggested as ``classification`` at ≥ ``min_score``.

    The label is the class's translation in the task. Clusters that someone
    labels meanwhile are left as that person labelled them. Returns the
    BulkAction (``count``: clusters labelled). Raises as ``check_accept``.
    """
    preview = check_accept(task, classification, min_score, acting_user=acting_user)
    description = (f"AI class “{classification}” at confidence ≥ {min_score:.2f} "
                   f"labelled {preview.label.name}")
    with transaction.atomic():
        ids = list(_accept_candidates(task, classification, min_score)
                   .select_for_update().values_list("pk", flat=True))
        return _apply(task, ids, [preview.label], BulkKind.ACCEPT_AI, description,
                      acting_user, before={pk: {"labels": [], "annotator": None,
                                                "labelled_at": None} for pk in ids})


def do_relabel(task: Task, annotation_ids: list[int], label_ids: list[int], *,
               acting_user) -> BulkAction:
    """Give the clusters ``annotation_ids`` of ``task`` the labels ``label_ids`` (replacing theirs).

    Needs the CHANGE capability; labels follow the task's rules (its own or
    special, an exclusive one alone). Ids of another task are refused, and
    nothing is written then. Returns the BulkAction.
    """
    check_may_change(acting_user, task.survey, "label clusters in bulk")
    labels = check_labels(task, label_ids)
    wanted = set(annotation_ids)
    if not wanted:
        raise AnnotationError("Select at least one cluster.")
    if len(wanted) > MAX_RELABEL:
        raise AnnotationError(f"Select at most {MAX_RELABEL:,} clusters at a time.")
    with transaction.atomic():
        rows = list(ClusterAnnotation.objects.filter(task=task, pk__in=wanted)
                    .select_for_update().values_list("pk", "annotator_id", "labelled_at"))
        if len(rows) != len(wanted):
            raise AnnotationError(f"{len(wanted) - len(rows)} of the selected clusters are not "
                                  f"in the task {task}; nothing was changed.")
        names: dict[int, list[str]] = {}
        through = ClusterAnnotation.labels.through
        for annotation_id, name in (through.objects.filter(clusterannotation_id__in=wanted)
                                    .values_list("clusterannotation_id", "label__name")):
            names.setdefault(annotation_id, []).append(name)
        before = {pk: {"labels": sorted(names.get(pk, [])), "annotator": annotator,
                       "labelled_at": labelled_at.isoformat() if labelled_at else None}
                  for pk, annotator, labelled_at in rows}
        description = (f"{len(rows)} selected cluster(s) labelled "
                       + " + ".join(sorted(label.name for label in labels)))
        return _apply(task, [pk for pk, _, _ in rows], labels, BulkKind.RELABEL, description,
                      acting_user, before=before)


def _apply(task, ids, labels, kind, description, acting_user, *, before) -> BulkAction:
    """Write one bulk action (the caller holds the rows' locks in its transaction)."""
    action = BulkAction.objects.create(task=task, kind=kind, description=description[:300],
                                       done_by=acting_user, count=len(ids))
    LabelChange.objects.bulk_create(
        [LabelChange(action=action, annotation_id=pk, before=before[pk]) for pk in ids],
        batch_size=1000)
    through = ClusterAnnotation.labels.through
    now = timezone.now()
    for start in range(0, len(ids), CHUNK):  # SQLite caps the parameters of one query
        chunk = ids[start:start + CHUNK]
        ClusterAnnotation.objects.filter(pk__in=chunk).update(
            labelled_at=now, annotator=acting_user, bulk_action=action, auto_labelled=False,
            leased_to=None, lease_token="", lease_expires_at=None)
        through.objects.filter(clusterannotation_id__in=chunk).delete()
        through.objects.bulk_create(
            [through(clusterannotation_id=pk, label_id=label.pk)
             for pk in chunk for label in labels], batch_size=1000)
    forget_progress(task.pk)
    return action
