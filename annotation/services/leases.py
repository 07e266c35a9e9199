"""Per-cluster leases: who is labelling what, and saving their labels.

A cluster is handed to one annotator at a time. A lease is claimed with a
conditional UPDATE (free or expired → mine) so that two annotators can never
hold the same cluster, on any database, without table locks. A label is only
saved while its lease token is still the annotator's: once a lease expired
and someone else claimed the cluster, the late write is refused.

A tagging socket labels through a ``Labeller`` (``open_labeller``): the task, its
labels and the survey's box relevance, read once when the socket opens. A label
then costs four statements: the conditional UPDATE that saves it (its WHERE holds
the lease and the access gateway's check, so a lease taken over or a right
revoked a moment ago refuses the write), the INSERT of its labels, one UPDATE
that leases the next free clusters (``ORDER BY id LIMIT n`` on MariaDB: rows
another claim holds are waited for and then skipped, so no cluster is leased
twice), and one SELECT of what the page shows of them. When a write changes
nothing the slow path (``do_save_labels``, ``check_may_annotate``) says why.
"""

from __future__ import annotations

import random
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connections, transaction
from django.db.models import CharField, DateTimeField, Exists, F, FloatField, Func, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat, Least
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from classifiers.selectors import Relevance, relevance_of

from ..exceptions import AnnotationError, NotAllowed, StaleLease
from ..models import ClusterAnnotation, Label, Task
from ..selectors import annotatable_task, annotatable_tasks, cluster_payload, leased_payloads
from ..taxonomy import NOTE_MAX_LENGTH, AiCheck, TaggingLevel
from .progress import count_done, progress_of


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
    if len(claimed) < count:
        access = may_write(task, user)
        prefix, leased = _lease_free(task, user, count - len(claimed), access,
                                     holding=[*holding, *(a.pk for a in claimed)])
        if leased:
            claimed.extend(ClusterAnnotation.objects.filter(
                task=task, leased_to=user, lease_token__startswith=prefix,
            ).select_related(*related).order_by("id"))
    return claimed


def may_write(task: Task, user) -> Exists:
    """The access gateway's answer, as a condition inside a write: ``user`` may still
    annotate ``task`` at its tagging level (the task still launched)."""
    return Exists(annotatable_tasks(user).filter(pk=task.pk, tagging_level=task.tagging_level))


def _lease_free(task: Task, user, count: int, access: Exists, *, holding=()
                ) -> tuple[str, int]:
    """Lease up to ``count`` free clusters of ``task`` waiting at its level, lowest id first,
    in one statement; returns (the prefix of their tokens, how many).

    Each lease's token is the claim's random prefix followed by the annotation id, so
    the clusters of one claim are read back by prefix and each can still be given
    back alone. ``access`` (``may_write``) is checked in the same statement. A claim
    that lost every cluster it aimed at to a concurrent one tries again (twice)
    while free clusters remain.
    """
    prefix = secrets.token_hex(8)  # 16 characters; the id makes the token unique
    for _ in range(3):
        now = timezone.now()
        leased = _lease_once(task, user, count, access, holding, prefix, now)
        if leased or not ClusterAnnotation.objects.filter(
                to_do(task), _free(timezone.now()), task_id=task.pk).exists():
            return prefix, leased
    return prefix, 0


def _lease_once(task, user, count, access, holding, prefix, now) -> int:
    waiting = ClusterAnnotation.objects.filter(to_do(task), _free(now), task_id=task.pk)
    if holding:
        waiting = waiting.exclude(pk__in=list(holding))
    values = {"leased_to": user, "lease_expires_at": now + _lease_length(), "offered_at": now,
              "lease_token": Concat(Value(prefix), Cast("id", CharField()))}
    if connections[waiting.db].vendor == "mysql":
        return _retried(lambda: _lease_joined(task, waiting, values, count, access))
    # SQLite runs one writer at a time: the subquery and the UPDATE are one step.
    first = waiting.filter(access).order_by("id").values("pk")[:count]
    return ClusterAnnotation.objects.filter(pk__in=first).update(**values)


# The index whose order (task, state, then id) gives each level's waiting clusters by id.
TODO_INDEX = {TaggingLevel.SPECIES: "annotation_todo",
              TaggingLevel.AI_CHECK: "annotation_check_todo"}


def _lease_joined(task: Task, waiting, values: dict, count: int, access: Exists) -> int:
    """MariaDB: UPDATE the table JOINed to its first ``count`` waiting rows (a derived
    table, read through the level's index so that it stops after ``count``), checking
    again in the UPDATE's own WHERE that each is still free: a row another claim took
    meanwhile is waited for, found taken and skipped. Django cannot say this."""
    db = waiting.db
    connection = connections[db]
    qn = connection.ops.quote_name
    table = qn(ClusterAnnotation._meta.db_table)
    head_sql, head_params = waiting.order_by("id").values("id")[:count].query.sql_with_params()
    head_sql = head_sql.replace(
        f"FROM {table}", f"FROM {table} FORCE INDEX ({qn(TODO_INDEX[task.tagging_level])})", 1)
    still = ClusterAnnotation.objects.filter(access, to_do(task), _free(timezone.now()))
    where_sql, where_params = still.query.get_compiler(db).compile(still.query.where)
    query = ClusterAnnotation.objects.all().query.chain(UpdateQuery)
    query.add_update_values(values)
    update_sql, set_params = query.get_compiler(db).as_sql()  # UPDATE t SET … (no WHERE)
    sets = update_sql.split(" SET ", 1)[1]
    # Every part was compiled by Django with its parameters apart.
    sql = (f"UPDATE {table} JOIN ({head_sql}) AS pick ON pick.id = {table}.{qn('id')} "  # noqa: S608
           f"SET {sets} WHERE {where_sql}")
    with connection.cursor() as cursor:
        cursor.execute(sql, (*head_params, *set_params, *where_params))
        return cursor.rowcount


DEADLOCK = 1213


def _retried(write, attempts: int = 5):
    """Run ``write`` (one statement, or its own transaction) again when MariaDB chose it as
    a deadlock's victim: it was rolled back whole, so there is nothing to undo. Inside
    a caller's transaction it is not retried (the whole transaction was lost)."""
    for attempt in range(attempts):
        try:
            return write()
        except OperationalError as exc:
            if (exc.args[0] != DEADLOCK or attempt == attempts - 1
                    or connections["default"].in_atomic_block):
                raise
        time.sleep(random.uniform(0, 0.005) * (attempt + 1))  # let the winner finish


def extend_leases(user, task_id: int, tokens) -> int:
    """Heartbeat: push the expiry of a page's leases on while the annotator is working."""
    tokens = [t for t in tokens if t]
    if not tokens:
        return 0
    # A saved answer clears the token, so a matching token means the work is still open.
    return _retried(lambda: ClusterAnnotation.objects.filter(
        task_id=task_id, leased_to=user, lease_token__in=tokens
    ).update(lease_expires_at=timezone.now() + _lease_length()))


def check_labels(task: Task, label_ids: list[int]) -> list[Label]:
    """The labels for ``label_ids``, which must belong to ``task`` or be special."""
    if not label_ids:
        raise AnnotationError("Choose at least one label.")
    return _checked(list(Label.objects.filter(Q(task=task) | Q(task__isnull=True),
                                              pk__in=label_ids)), label_ids)


def _checked(labels: list[Label], label_ids: list[int]) -> list[Label]:
    if not label_ids:
        raise AnnotationError("Choose at least one label.")
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

    def save() -> ClusterAnnotation:
        with transaction.atomic():
            annotation = (
                # Unordered: the default ordering (task, then the task's own) would join and
                # lock the task's row too, and every save of the task would wait on it.
                ClusterAnnotation.objects.select_for_update()
                .filter(pk=annotation_id, task=task).order_by().first()
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
            count_done(task.pk, task.tagging_level)
        return annotation

    # MariaDB may pick this transaction as a deadlock's victim against a claim (which
    # reads the rows it skips with shared locks): it is run again.
    return _retried(save)


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
    return _retried(lambda: ClusterAnnotation.objects.filter(
        task_id=task_id, leased_to=user, lease_token__in=tokens
    ).update(lease_expires_at=Least(Coalesce("lease_expires_at", Value(until)), Value(until))))


def release_expired_leases() -> int:
    return ClusterAnnotation.objects.filter(lease_expires_at__lt=timezone.now()).update(
        leased_to=None, lease_token="", lease_expires_at=None
    )


@dataclass
class Labeller:
    """What a tagging socket checks once and keeps: the task (its level as last seen), the
    labels it may give and the survey's box relevance. The right to annotate is checked
    when the socket opens, on every revocation pushed to it (core.consumers), and inside
    each write (``may_write``)."""

    task: Task
    user: object
    labels: dict[int, Label]
    relevance: Relevance

    def check_labels(self, label_ids: list[int]) -> list[Label]:
        """``check_labels`` without a query."""
        return _checked([self.labels[pk] for pk in set(label_ids) if pk in self.labels],
                        label_ids)


def open_labeller(user, task_id: int) -> Labeller | None:
    """A ``Labeller`` of ``user`` on the task, or None when they may not annotate it."""
    task = annotatable_task(user, task_id)
    if task is None:
        return None
    labels = {label.pk: label for label in Label.objects.filter(Q(task=task) | Q(task=None))}
    return Labeller(task=task, user=user, labels=labels, relevance=_relevance(task.survey))


RELEVANCE_SECONDS = 60
_relevances: dict[int, tuple[float, Relevance]] = {}


def _relevance(survey) -> Relevance:
    """The survey's box relevance, worked out at most once a minute per process: it reads
    the sources of every box of the survey, and hundreds of pages open at once."""
    now = time.monotonic()
    cached = _relevances.get(survey.pk)
    if cached is None or cached[0] < now:
        cached = _relevances[survey.pk] = (now + RELEVANCE_SECONDS, relevance_of(survey))
    return cached[1]


class SecondsSince(Func):
    """Seconds from the datetime column ``field`` to ``now`` (a float), in SQL."""

    output_field = FloatField()

    def __init__(self, field: str, now):
        super().__init__(F(field), Value(now, output_field=DateTimeField()))

    def as_mysql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection,
                           template="(TIMESTAMPDIFF(MICROSECOND, %(expressions)s) / 1000000.0)",
                           **extra)

    def as_sqlite(self, compiler, connection, **extra):
        since, now = self.get_source_expressions()
        since_sql, since_params = compiler.compile(since)
        now_sql, now_params = compiler.compile(now)
        return (f"((julianday({now_sql}) - julianday({since_sql})) * 86400.0)",
                (*now_params, *since_params))


def do_label(labeller: Labeller, *, annotation_id: int, token: str, label_ids: list[int],
             note: str = "", seconds: float | None = None) -> None:
    """``do_save_labels`` for a tagging socket: the same rules, in two statements.

    One UPDATE saves the answer and ends the lease only while the lease is the
    user's under ``token``, the cluster unlabelled and the user still allowed; one
    INSERT adds the labels. When the UPDATE changes nothing, ``do_save_labels`` says
    why (StaleLease, NotAllowed, the task's level moved on) or accepts a resend.
    Raises AnnotationError for bad labels or a note too long.
    """
    task, user = labeller.task, labeller.user
    if task.tagging_level != TaggingLevel.SPECIES:
        do_save_labels(task, user, annotation_id=annotation_id, token=token,
                       label_ids=label_ids, note=note, seconds=seconds)
        return
    labels = labeller.check_labels(label_ids)
    check_note(note)
    now = timezone.now()
    spent = SecondsSince("offered_at", now)
    if seconds is not None:  # the page's measure, never more than the time since the offer
        spent = Coalesce(Least(Value(float(seconds)), spent), Value(float(seconds)))
    through = ClusterAnnotation.labels.through

    def save() -> int:
        with transaction.atomic():
            saved = ClusterAnnotation.objects.filter(
                may_write(task, user), pk=annotation_id, task_id=task.pk, leased_to=user,
                lease_token=token, labelled_at__isnull=True,
            ).exclude(lease_token="").update(
                annotator=user, labelled_at=now, note=note, seconds_spent=spent,
                leased_to=None, lease_token="", lease_expires_at=None)
            if saved:
                through.objects.bulk_create(
                    through(clusterannotation_id=annotation_id, label_id=label.pk)
                    for label in labels)
                count_done(task.pk, task.tagging_level)
        return saved

    try:
        saved = _retried(save)
    except IntegrityError as exc:  # a label deleted since the page opened
        raise AnnotationError("One of the labels was removed from the task; reload the "
                              "page.") from exc
    if not saved:
        do_save_labels(task, user, annotation_id=annotation_id, token=token,
                       label_ids=label_ids, note=note, seconds=seconds)


@dataclass
class Offer:
    """Clusters newly leased to a socket (what the page shows of each) and the progress."""

    task: Task
    payloads: list[dict]
    progress: dict


def top_up(labeller: Labeller, count: int, holding=()) -> Offer:
    """Lease up to ``count`` more clusters for a socket that holds ``holding``.

    Two statements while clusters are free (the lease, their payloads); when none
    was leased the gateway is asked again (the end of the task, or a right or level
    that changed): NotAllowed when the user may no longer annotate, and the
    labeller follows a task moved to another level.
    """
    payloads: list[dict] = []
    if count > 0:
        payloads = _lease_payloads(labeller, count, holding)
        if not payloads:
            current = check_may_annotate(labeller.task, labeller.user)
            moved = current.tagging_level != labeller.task.tagging_level
            labeller.task = current
            if moved:
                payloads = _lease_payloads(labeller, count, holding)
    return Offer(task=labeller.task, payloads=payloads, progress=progress_of(labeller.task))


def _lease_payloads(labeller: Labeller, count: int, holding) -> list[dict]:
    task, user = labeller.task, labeller.user
    prefix, leased = _lease_free(task, user, count, may_write(task, user), holding=holding)
    if not leased:
        return []
    if task.tagging_level == TaggingLevel.SPECIES:
        return leased_payloads(task.pk, task.tagging_level, user, prefix, labeller.relevance)
    return [cluster_payload(a) for a in ClusterAnnotation.objects.filter(
        task=task, leased_to=user, lease_token__startswith=prefix,
    ).select_related("task", "cluster", "cluster__site", "cluster__survey").order_by("id")]
