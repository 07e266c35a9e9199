"""Reads of the results formats and the exports share."""

from annotation.models import Task
from surveys.models import Survey

from .exceptions import ExportError
from .models import Export
from .taxonomy import ExportStatus


def task_for(survey: Survey, task_id: int | None, *, required: bool = True) -> Task | None:
    """The task whose labels an export uses: the one given, or the survey's latest.

    Without ``required`` a survey with no task gives None (machine results only).
    """
    tasks = Task.objects.filter(survey=survey)
    task = tasks.filter(pk=task_id).first() if task_id else tasks.order_by("-created_at").first()
    if task is None and (task_id or required):
        raise ExportError(
            f"Survey “{survey}” has no task {task_id}." if task_id else
            f"Survey “{survey}” has no annotation task yet; create and launch one first.")
    return task


def downloadable_export(user, export_id, capability: str) -> Export | None:
    """The export if it is ready and ``user`` holds ``capability`` on its organisation."""
    return (Export.objects.accessible_to(user, capability)
            .filter(pk=export_id, status=ExportStatus.DONE).exclude(file_key="").first())
