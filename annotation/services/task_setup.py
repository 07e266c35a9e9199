"""Creating and launching annotation tasks."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from surveys.models import Cluster, Survey
from surveys.taxonomy import SurveyStatus

from ..exceptions import AnnotationError, NotAllowed
from ..models import ClusterAnnotation, Label, Task
from ..taxonomy import TaggingLevel, TaskStatus
from .ai_check import do_launch_ai_check
from .auto_label import do_auto_label, do_match_translations
from .common import check_may_change, ensure_special_labels
from .label_sets import LabelSpec, check_label_specs, specs_of_labels


def do_save_task(task: Task, *, acting_user) -> Task:
    """Save a new or changed ``task`` (as the admin form filled it in).

    Needs the CHANGE capability on the task's survey; a new task records who
    made it. Labels are saved by the caller afterwards (``do_create_task``, or
    the admin's inline).
    """
    check_may_change(acting_user, task.survey, "create and change tasks")
    if task.pk is None:
        task.created_by = acting_user
    task.save()
    return task


def do_save_labels_of(task: Task, labels: list[Label], deleted: list[Label], *,
                      acting_user) -> None:
    """Save changed and new labels of ``task`` and delete ``deleted`` (the admin's inline).

    Needs the CHANGE capability on the task's survey. Each label was
    validated against the hotkey rule by its form; labels of another task
    are refused.
    """
    check_may_change(acting_user, task.survey, "change labels")
    if any(label.task_id not in (None, task.pk) for label in [*labels, *deleted]):
        raise NotAllowed("A label of another task cannot be changed here.")
    with transaction.atomic():
        for label in deleted:
            if label.pk:
                label.delete()
        for label in labels:
            label.task = task
            label.save()
        do_match_translations(task, acting_user=acting_user)


def do_create_task(survey: Survey, *, name: str,
                   labels: list[tuple[str, str]] | list[LabelSpec], acting_user) -> Task:
    """Create a task with ``labels``: (name, hotkey) pairs at the top level, or LabelSpecs.

    LabelSpecs (services.label_sets: a region template, a CSV file, another
    task) may form a hierarchy. Every label is checked first
    (``check_label_specs``: hotkeys per level, unique names); nothing is
    written when one is refused. Raises AnnotationError, or NotAllowed.
    """
    specs = [spec if isinstance(spec, LabelSpec) else LabelSpec(*spec) for spec in labels]
    check_label_specs(specs, source=f"The labels of the task “{name}”")
    with transaction.atomic():
        task = do_save_task(Task(survey=survey, name=name), acting_user=acting_user)
        do_add_labels(task, specs, acting_user=acting_user)
    return task


def check_not_finished(task: Task) -> None:
    """Raise AnnotationError when ``task`` is finished (launching it would offer its clusters).

    A finished task holds labels people already gave, often outside TrapTagger
    (a Camtrap DP import whose media files are not here): offering its
    clusters again by mistake would show broken images. Re-opening is explicit.
    """
    if task.status == TaskStatus.FINISHED:
        raise AnnotationError(
            f"The task {task} is finished: its labels are recorded and its clusters are not "
            "offered. Re-open it first (admin action 'Re-open') if people should label it again."
        )


def do_reopen_task(task: Task, *, acting_user) -> Task:
    """Move a finished ``task`` back to draft, so that it can be launched again.

    Needs the CHANGE capability on the task's survey. Labels are kept. A task
    that is not finished is left as it is.
    """
    check_may_change(acting_user, task.survey, "re-open tasks")
    if Task.objects.filter(pk=task.pk, status=TaskStatus.FINISHED).update(
            status=TaskStatus.DRAFT):
        task.status = TaskStatus.DRAFT
    return task


BATCH_SIZE_RANGE = (1, 10_000)


def do_set_launch_options(task: Task, *, acting_user, tagging_level: str | None = None,
                          batch_size: int | None = None) -> Task:
    """Set how ``task`` is launched: its tagging level and batch size (None: unchanged).

    Needs the CHANGE capability on the task's survey. Raises AnnotationError
    for a level that does not exist or a batch size outside 1–10,000.
    """
    check_may_change(acting_user, task.survey, "change how tasks are launched")
    if tagging_level is not None and tagging_level not in TaggingLevel.values:
        raise AnnotationError(f"There is no tagging level “{tagging_level}”; choose one of "
                              + ", ".join(TaggingLevel.values) + ".")
    low, high = BATCH_SIZE_RANGE
    if batch_size is not None and not low <= batch_size <= high:
        raise AnnotationError(f"The batch size must be between {low} and {high:,} "
                              f"(it is {batch_size}).")
    if tagging_level is not None:
        task.tagging_level = tagging_level
    if batch_size is not None:
        task.batch_size = batch_size
    Task.objects.filter(pk=task.pk).update(tagging_level=task.tagging_level,
                                           batch_size=task.batch_size)
    return task


def do_add_labels(task: Task, specs: list[LabelSpec], *, acting_user) -> list[Label]:
    """Add ``specs`` (services.label_sets) to ``task``'s labels, parents before children.

    A spec's parent may be one of the task's labels already. The labels as
    they would be together are checked first (``check_label_specs``); nothing
    is written when one is refused. Needs the CHANGE capability on the survey.
    """
    check_may_change(acting_user, task.survey, "change labels")
    labels = list(Label.objects.filter(task=task).select_related("parent"))
    check_label_specs([*specs_of_labels(labels), *specs],
                      source=f"The labels of the task “{task.name}”")
    made = {label.name.lower(): label for label in labels}
    with transaction.atomic():
        pending = list(specs)
        while pending:  # one INSERT per level of the hierarchy, parents first
            level = [s for s in pending if not s.parent or s.parent.lower() in made]
            rows = [Label(task=task, name=s.name, hotkey=s.hotkey.lower(),
                          description=s.description,
                          parent=made[s.parent.lower()] if s.parent else None) for s in level]
            Label.objects.bulk_create(rows)
            if any(row.pk is None for row in rows):  # MySQL returns no ids from a bulk insert
                ids = dict(Label.objects.filter(task=task, name__in=[r.name for r in rows])
                           .values_list("name", "pk"))
                for row in rows:
                    row.pk = ids[row.name]
            made.update((row.name.lower(), row) for row in rows)
            pending = [s for s in pending if s.name.lower() not in made]
        do_match_translations(task, acting_user=acting_user)
    return [made[spec.name.lower()] for spec in specs]


def do_launch_task(task: Task, *, acting_user) -> int:
    """Open ``task`` to annotators: one ClusterAnnotation per cluster of its survey.

    The survey must be ready and the task not finished (``check_not_finished``:
    re-open it first). With a classifier, its classes are translated
    to the task's labels and the AI labels what it is sure of
    (services.auto_label). Safe to re-run: clusters already in the task are
    kept with their labels. Returns how many clusters were added. At the
    AI-check level: services.ai_check, returning how many clusters were queued.
    """
    check_not_finished(task)
    if task.tagging_level == TaggingLevel.AI_CHECK:
        return do_launch_ai_check(task, acting_user=acting_user)
    check_may_change(acting_user, task.survey, "launch tasks")
    if task.survey.status != SurveyStatus.READY:
        raise AnnotationError(
            f"The survey {task.survey} is still {task.survey.get_status_display().lower()}; "
            "launch the task once it is ready."
        )
    if not task.labels.exists():
        raise AnnotationError(f"The task {task} has no labels yet; add species labels first.")
    ensure_special_labels()
    with transaction.atomic():
        have = set(ClusterAnnotation.objects.filter(task=task).values_list("cluster_id", flat=True))
        new = [
            ClusterAnnotation(task=task, cluster_id=cid)
            for cid in Cluster.objects.filter(survey=task.survey).values_list("id", flat=True)
            if cid not in have
        ]
        ClusterAnnotation.objects.bulk_create(new, batch_size=1000)
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.LAUNCHED)
        task.status = TaskStatus.LAUNCHED
    if task.survey.classifier_id:
        do_match_translations(task, acting_user=acting_user)
        do_auto_label(task, acting_user=acting_user)
    return len(new)


def do_finish_task(task: Task, annotations: list[ClusterAnnotation],
                   labels: dict[int, list[int]], *, acting_user) -> Task:
    """Record ``task`` as finished, with ``annotations`` already labelled elsewhere.

    For labels people gave outside TrapTagger (a Camtrap DP import): the
    annotations (one per cluster, unsaved) are created in bulk with their
    labels (``labels``: cluster id -> label ids of this task or special
    labels), and the task becomes FINISHED, so it is not offered to
    annotators. Needs the CHANGE capability on the task's survey; runs in the
    caller's transaction. The same few queries whatever the number of clusters.
    """
    check_may_change(acting_user, task.survey, "record finished tasks")
    allowed = set(Label.objects.filter(Q(task=task) | Q(task=None)).values_list("pk", flat=True))
    if any(label_id not in allowed for ids in labels.values() for label_id in ids):
        raise NotAllowed("A label of another task cannot be given here.")
    with transaction.atomic():
        ClusterAnnotation.objects.bulk_create(annotations, batch_size=1000)
        saved = dict(ClusterAnnotation.objects.filter(task=task)
                     .values_list("cluster_id", "pk"))
        through = ClusterAnnotation.labels.through
        through.objects.bulk_create(
            [through(clusterannotation_id=saved[cluster_id], label_id=label_id)
             for cluster_id, ids in labels.items() for label_id in ids], batch_size=1000)
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.FINISHED)
        task.status = TaskStatus.FINISHED
    return task
