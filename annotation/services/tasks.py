"""Creating and launching annotation tasks."""

from __future__ import annotations

from django.db import transaction

from accounts.selectors import organisation_with_role
from accounts.taxonomy import WRITE_ROLES
from surveys.models import Cluster, Survey
from surveys.taxonomy import SurveyStatus

from ..exceptions import AnnotationError, NotAllowed
from ..models import ClusterAnnotation, Label, Task
from ..taxonomy import SPECIAL_LABELS, TaskStatus


def ensure_special_labels() -> None:
    """Create the labels every task shares (Nothing, Unknown, …) if they are missing."""
    for name, hotkey, exclusive in SPECIAL_LABELS:
        Label.objects.get_or_create(
            task=None, parent=None, name=name,
            defaults={"hotkey": hotkey, "exclusive": exclusive},
        )


def do_create_task(survey: Survey, *, name: str, labels: list[tuple[str, str]],
                   acting_user) -> Task:
    """Create a task with ``labels`` as (name, hotkey) pairs; validates every hotkey."""
    if not (acting_user.is_superuser or
            organisation_with_role(acting_user, survey.organisation, WRITE_ROLES)):
        raise NotAllowed("Only admins and writers of the survey's organisation create tasks.")
    with transaction.atomic():
        task = Task.objects.create(survey=survey, name=name, created_by=acting_user)
        for label_name, hotkey in labels:
            label = Label(task=task, name=label_name, hotkey=hotkey)
            label.full_clean()
            label.save()
    return task


def do_launch_task(task: Task, *, acting_user) -> int:
    """Open ``task`` to annotators: one ClusterAnnotation per cluster of its survey.

    The survey must be ready. Safe to re-run: clusters already in the task
    are kept with their labels. Returns how many clusters were added.
    """
    if not (acting_user.is_superuser or
            organisation_with_role(acting_user, task.survey.organisation, WRITE_ROLES)):
        raise NotAllowed("Only admins and writers of the survey's organisation launch tasks.")
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
    return len(new)
