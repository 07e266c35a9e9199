"""Per-cluster leases: who is labelling what, and saving their labels.

A cluster is handed to one annotator at a time. A lease is claimed with a
conditional UPDATE (free or expired → mine) so that two annotators can never
hold the same cluster, on any database, without table locks. A label is only
saved while its lease token is still the annotator's: once a lease expired
and someone else claimed the cluster, the late write is refused.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from ..exceptions import AnnotationError, NotAllowed, StaleLease
from ..models import ClusterAnnotation, Label, Task
from ..selectors import annotatable_task
from ..taxonomy import NOTE_MAX_LENGTH, AiCheck, TaggingLevel

CANDIDATES = 20


def _lease_length() -> timedelta:
    return timedelta(seconds=settings.CLUSTER_LEASE_SECONDS)


def _free(now) -> Q:
    return Q(leased_to__isnull=True) | Q(lease_expires_at__lt=now)


def check_may_annotate(task: Task, user) -> Task:
    """The task as it is now; raises NotAllowed unless ``user`` may still annotate it.

    Checked on every claim and save, so that a member removed (or a task
    closed, or moved to another tagging level) while their page is open
    stops, or follows, at their next action.
    """
    current = annotatable_task(user, task.pk)
    if current is None:
        raise NotAllowed("You may no longer annotate this task (membership or task changed).")
    return current


def to_do(task: Task) -> Q:
    """The task's clusters that wait for a person at its tagging level.

    Species: those nobody labelled yet. AI check: those queued for a check
    (annotation.services.ai_check).
    """
    if task.tagging_level == TaggingLevel.AI_CHECK:
        return Q(ai_check=AiCheck.PENDING)
    return Q(labelled_at__isnull=True)


def claim_next_cluster(task: Task, user) -> ClusterAnnotation | None:
    """Lease the next cluster of ``task`` waiting for a person (``to_do``); None when none is.

    A live lease the user already holds is handed over first, under a new
    token: a reloaded page gets its cluster back, and the page it replaced
    can neither save to it nor release it any more. Raises NotAllowed when
    the user may no longer annotate the task.
    """
    _, claimed = claim_clusters(task, user, 1, hand_back=True)
    return claimed[0] if claimed else None


def claim_clusters(task: Task, user, count: int, *, holding=(), hand_back: bool = False
                   ) -> tuple[Task, list[ClusterAnnotation]]:
    """Lease up to ``count`` clusters of ``task`` for one page; returns (task as it is now, them).

    ``holding``: ids of the clusters the page holds already (its prefetch
    window), never handed to it twice. ``hand_back``: first hand over, under
    new tokens, live leases the user holds elsewhere (a page opened again
    after its server went away). Each lease is its own conditional UPDATE, so
    no cluster is ever leased twice. Raises NotAllowed when the user may no
    longer annotate the task.
    """
    task = check_may_annotate(task, user)
    return task, _claim(task, user, count, holding=holding, hand_back=hand_back)


def resume_window(task: Task, user, keep: dict[int, str], count: int
                  ) -> tuple[Task, set[int], list[ClusterAnnotation]]:
    """A page (re)joins: keep its leases still open, fill its window up to ``count`` clusters.

    ``keep`` maps the annotation ids the page holds to their lease tokens. A
    lease is kept while its token is still the page's and its cluster still
    waits at the task's level, even when it had expired (the page's socket
    dropped) as long as nobody claimed it since. Returns (task as it is now,
    ids kept, clusters newly leased). Raises NotAllowed like ``claim_clusters``.
    """
    task = check_may_annotate(task, user)
    kept: set[int] = set()
    if keep:
        mine = Q()
        for annotation_id, token in keep.items():
            mine |= Q(pk=annotation_id, lease_token=token)
        held = ClusterAnnotation.objects.filter(
            mine, to_do(task), task=task, leased_to=user).exclude(lease_token="")
        # Extending first, then reading back: once extended no one else can take them.
        held.update(lease_expires_at=timezone.now() + _lease_length())
        kept = set(held.values_list("pk", flat=True))
    claimed = _claim(task, user, count - len(kept), holding=kept, hand_back=True)
    return task, kept, claimed


def _claim(task: Task, user, count: int, *, holding, hand_back: bool
           ) -> list[ClusterAnnotation]:
    claimed: list[ClusterAnnotation] = []
    if count <= 0:
        return claimed
    waiting = to_do(task)
    now = timezone.now()
    related = ("task", "cluster", "cluster__site", "cluster__survey")
    if hand_back:
        for held in (
            ClusterAnnotation.objects.filter(
                waiting, task=task, leased_to=user, lease_expires_at__gte=now
            ).exclude(pk__in=list(holding)).select_related(*related).order_by("id")[:count]
        ):
            token = uuid.uuid4().hex
            if ClusterAnnotation.objects.filter(pk=held.pk, lease_token=held.lease_token).update(
                lease_token=token, lease_expires_at=now + _lease_length()
            ):
                held.lease_token = token
                claimed.append(held)
    for _ in range(10):
        if len(claimed) >= count:
            break
        candidates = list(
            ClusterAnnotation.objects.filter(waiting, task=task)
            .filter(_free(now)).order_by("id").values_list("id", flat=True)[:CANDIDATES]
        )
        if not candidates:
            break
        # Take the earliest first but let concurrent claimers spread out.
        candidates = candidates[:1] + random.sample(candidates[1:], len(candidates) - 1)
        won = []
        for annotation_id in candidates:
            token = uuid.uuid4().hex
            if ClusterAnnotation.objects.filter(waiting, pk=annotation_id).filter(
                _free(now)).update(
                leased_to=user, lease_token=token, lease_expires_at=now + _lease_length(),
                offered_at=now,
            ):
                won.append(annotation_id)
                if len(claimed) + len(won) >= count:
                    break
        if won:
            fetched = ClusterAnnotation.objects.select_related(*related).in_bulk(won)
            claimed.extend(fetched[pk] for pk in won)
        now = timezone.now()
    return claimed


def extend_leases(user, task_id: int, tokens) -> int:
    """Heartbeat: push the expiry of a page's leases on while the annotator is working."""
    tokens = [t for t in tokens if t]
    if not tokens:
        return 0
    # A saved answer clears the token, so a matching token means the work is still open.
    return ClusterAnnotation.objects.filter(
        task_id=task_id, leased_to=user, lease_token__in=tokens
    ).update(lease_expires_at=timezone.now() + _lease_length())


def check_labels(task: Task, label_ids: list[int]) -> list[Label]:
    """The labels for ``label_ids``, which must belong to ``task`` or be special."""
    if not label_ids:
        raise AnnotationError("Choose at least one label.")
    labels = list(Label.objects.filter(Q(task=task) | Q(task__isnull=True), pk__in=label_ids))
    if len(labels) != len(set(label_ids)):
        raise AnnotationError("One of the labels does not belong to this task.")
    if len(labels) > 1 and any(label.exclusive for label in labels):
        exclusive = next(label for label in labels if label.exclusive)
        raise AnnotationError(f"“{exclusive.name}” cannot be combined with other labels.")
    return labels


def check_note(note: str) -> None:
    if len(note) > NOTE_MAX_LENGTH:
        raise AnnotationError(f"The note is longer than {NOTE_MAX_LENGTH} characters.")


def holds_lease(annotation: ClusterAnnotation | None, user, token: str) -> bool:
    """Whether ``annotation`` (None: not of this task) is leased to ``user`` under ``token``."""
    return annotation is not None and annotation.leased_to_id == user.pk and (
        annotation.lease_token == token)


def end_lease(annotation: ClusterAnnotation) -> list[str]:
    """Clear ``annotation``'s lease (the answer is in); returns the fields to save."""
    annotation.leased_to = None
    annotation.lease_token = ""
    annotation.lease_expires_at = None
    return ["leased_to", "lease_token", "lease_expires_at"]


def do_save_labels(task: Task, user, *, annotation_id: int, token: str,
                   label_ids: list[int], note: str = "",
                   seconds: float | None = None) -> ClusterAnnotation:
    """Save the labels of the cluster leased to ``user`` and end the lease.

    ``seconds``: how long the page showed the cluster before the key (a page
    holds clusters queued ahead, so the time since the offer overstates it);
    never more than the time since the offer.

    Raises AnnotationError for bad labels and StaleLease when the lease is no
    longer the user's (it expired and someone else took the cluster). Sending
    the same labels again after they were saved (a page that lost its socket
    before the acknowledgement) changes nothing and succeeds.
    """
    task = check_may_annotate(task, user)
    if task.tagging_level == TaggingLevel.AI_CHECK:
        raise AnnotationError("This task is checking the AI's suggestions now: answer accept, "
                              "reject or other; reload the page.")
    labels = check_labels(task, label_ids)
    check_note(note)
    now = timezone.now()
    with transaction.atomic():
        annotation = (
            ClusterAnnotation.objects.select_for_update()
            .filter(pk=annotation_id, task=task).first()
        )
        if annotation is not None and _is_resend(annotation, user, labels):
            return annotation  # a page resending what was saved before its socket dropped
        if not holds_lease(annotation, user, token) or annotation.labelled_at is not None:
            raise StaleLease(
                "This cluster is no longer yours to label (your lease ran out and it was "
                "handed to someone else); your label was not saved."
            )
        annotation.annotator = user
        annotation.labelled_at = now
        annotation.note = note
        annotation.seconds_spent = time_spent(annotation, now, seconds)
        annotation.save(update_fields=[
            "annotator", "labelled_at", "note", "seconds_spent", *end_lease(annotation)])
        annotation.labels.set(labels)
    return annotation


def time_spent(annotation: ClusterAnnotation, now, shown_seconds: float | None) -> float | None:
    """Seconds spent on a cluster: as the page measured it, capped by the time since the offer."""
    since_offer = (now - annotation.offered_at).total_seconds() if annotation.offered_at else None
    if shown_seconds is None:
        return since_offer
    return shown_seconds if since_offer is None else min(shown_seconds, since_offer)


def _is_resend(annotation: ClusterAnnotation, user, labels: list[Label]) -> bool:
    return (
        annotation.labelled_at is not None and annotation.annotator_id == user.pk
        and set(annotation.labels.values_list("pk", flat=True)) == {label.pk for label in labels}
    )


def release_leases(user, task_id: int, tokens, *, grace_seconds: float = 0) -> int:
    """Give back the clusters leased to ``user`` under ``tokens`` (one page was closed).

    Only the closed page's leases go: the same person's other tab, or the
    page that reconnected and took the cluster back, keeps its own. A lease
    given back expires (after ``grace_seconds``) rather than being wiped: anyone
    may claim the cluster then, but until someone does, the page that held it
    can still save a label it sent just before its socket dropped. The grace
    is for a socket that dropped (the page reconnects and resends within it);
    a page that closed, or a person who logged out, gives back at once. A
    lease is never lengthened here.
    """
    tokens = [t for t in tokens if t]
    if not tokens:
        return 0
    until = timezone.now() + timedelta(seconds=grace_seconds)
    return ClusterAnnotation.objects.filter(
        task_id=task_id, leased_to=user, lease_token__in=tokens
    ).update(lease_expires_at=Least(Coalesce("lease_expires_at", Value(until)), Value(until)))


def release_expired_leases() -> int:
    return ClusterAnnotation.objects.filter(lease_expires_at__lt=timezone.now()).update(
        leased_to=None, lease_token="", lease_expires_at=None
    )
