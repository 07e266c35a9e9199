"""The AI-check tagging level: people check the classifier's suggestions that differ
from the labels people gave (domain: tagging levels, AI check).

Launched once every cluster of the task has a label (only top-level labelling
is open until then). A cluster is queued when its suggestion, translated to
the task's labels (annotation.models.Translation), is not among its labels.
Each queued cluster is leased to one person at a time (services.leases), who
answers:

* accept: the suggestion is right; it becomes the cluster's only label;
* reject: the labels stay;
* other: neither is right; the labels the person gives replace them.

A check is done once: launching again queues only clusters never checked.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from surveys.taxonomy import SurveyStatus

from ..exceptions import AnnotationError, StaleLease
from ..models import ClusterAnnotation, Label, Task
from ..selectors import suggested_label
from ..taxonomy import AI_VERDICTS, AiCheck, TaggingLevel, TaskStatus
from .auto_label import do_match_translations
from .common import check_may_change, ensure_special_labels
from .leases import check_labels, check_may_annotate, check_note, end_lease, holds_lease
from .progress import count_done, forget_progress

PAGE = 900
# Clusters set aside because the camera moved are not checked.
NOT_CHECKED = ("Knocked Down",)


def check_ready_for_ai_check(task: Task) -> None:
    """Raise AnnotationError unless ``task`` can be checked against the AI's suggestions."""
    survey = task.survey
    if survey.status != SurveyStatus.READY:
        raise AnnotationError(
            f"The survey {survey} is still {survey.get_status_display().lower()}; "
            "launch the task once it is ready.")
    if survey.classifier_id is None:
        raise AnnotationError(
            f"The survey {survey} has no classifier, so there are no AI suggestions to check; "
            "run a classifier on it first.")
    unlabelled = ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=True).count()
    missing = survey.clusters.exclude(annotations__task=task).count()
    if unlabelled or missing:
        raise AnnotationError(
            f"{unlabelled + missing} cluster(s) of {task} have no label yet. The AI check "
            "opens once every cluster is labelled: launch the task at the species level "
            "first and finish it.")


def pending_checks(task: Task) -> list[int]:
    """Annotations of ``task`` never checked whose translated suggestion is not a label of theirs.

    Three queries whatever the size of the task.
    """
    translated = dict(task.translations.filter(label__isnull=False)
                      .values_list("classification", "label_id"))
    rows = list(ClusterAnnotation.objects.filter(
        task=task, ai_check=AiCheck.NONE, labelled_at__isnull=False,
        cluster__suggestion__in=list(translated),
    ).values_list("pk", "cluster__suggestion"))
    labels_of: dict[int, set[int]] = defaultdict(set)
    through = ClusterAnnotation.labels.through
    set_aside = set(Label.objects.filter(task=None, name__in=NOT_CHECKED)
                    .values_list("pk", flat=True))
    for annotation_id, label_id in through.objects.filter(
            clusterannotation__task=task, clusterannotation__ai_check=AiCheck.NONE
    ).values_list("clusterannotation_id", "label_id"):
        labels_of[annotation_id].add(label_id)
    return [pk for pk, suggestion in rows
            if translated[suggestion] not in labels_of[pk] and not labels_of[pk] & set_aside]


def do_launch_ai_check(task: Task, *, acting_user) -> int:
    """Open ``task`` at the AI-check level; returns how many clusters were queued.

    Needs the CHANGE capability on the survey, a ready survey with a
    classifier and every cluster of the task labelled (check_ready_for_ai_check).
    """
    check_may_change(acting_user, task.survey, "launch tasks")
    check_ready_for_ai_check(task)
    ensure_special_labels()
    do_match_translations(task, acting_user=acting_user)  # classes new since the first launch
    queued = pending_checks(task)
    with transaction.atomic():
        for start in range(0, len(queued), PAGE):
            ClusterAnnotation.objects.filter(
                pk__in=queued[start:start + PAGE], ai_check=AiCheck.NONE
            ).update(ai_check=AiCheck.PENDING)
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.LAUNCHED)
        task.status = TaskStatus.LAUNCHED
        forget_progress(task.pk)
    return len(queued)


def do_save_check(task: Task, user, *, annotation_id: int, token: str, verdict: str,
                  label_ids: list[int] | None = None, note: str = "") -> ClusterAnnotation:
    """Save ``user``'s answer to the AI check of the cluster leased to them; end the lease.

    ``verdict``: accepted, rejected or other (then ``label_ids`` are the new
    labels). Raises AnnotationError for a bad answer and StaleLease when the
    lease is no longer the user's. Sending the same answer again after it was
    saved changes nothing and succeeds.
    """
    check_may_annotate(task, user)
    if verdict not in AI_VERDICTS:
        raise AnnotationError("Answer accept, reject or other.")
    labels = check_labels(task, label_ids or []) if verdict == AiCheck.OTHER else None
    check_note(note)
    with transaction.atomic():
        annotation = (ClusterAnnotation.objects.select_for_update()
                      .filter(pk=annotation_id, task=task).select_related("cluster").order_by()
                      .first())  # no ordering: it would lock the task's row (leases)
        if annotation is not None and annotation.ai_check == verdict and (
                annotation.checked_by_id == user.pk):
            return annotation  # a page resending what was saved before its socket dropped
        if not holds_lease(annotation, user, token) or annotation.ai_check != AiCheck.PENDING:
            raise StaleLease(
                "This cluster is no longer yours to check (your lease ran out and it was "
                "handed to someone else); your answer was not saved.")
        if verdict == AiCheck.ACCEPTED:
            label = suggested_label(task, annotation.cluster.suggestion)
            if label is None:
                raise AnnotationError(
                    "The AI's suggestion has no label in this task any more; reject it or "
                    "give other labels.")
            labels = [label]
        annotation.ai_check = verdict
        annotation.checked_by = user
        annotation.checked_at = timezone.now()
        if note:
            annotation.note = note
        annotation.save(update_fields=["ai_check", "checked_by", "checked_at", "note",
                                       *end_lease(annotation)])
        if labels is not None:
            annotation.labels.set(labels)
        count_done(task.pk, TaggingLevel.AI_CHECK)
    return annotation
