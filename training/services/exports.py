"""Exports made by workers: requested, built into storage, downloaded, expired.

``do_request_export`` records the request and starts ``training.run_export`` (on
the ``default`` queue) after commit; ``do_run_export`` builds the file in a
temporary folder (folders are zipped), stores it under
``exports/<organisation>/<export>/`` and keeps it for ``EXPORT_KEEP_DAYS`` days;
``do_expire_exports`` (beat, hourly) deletes files past that.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.access import check_capability
from accounts.taxonomy import Capability
from core.exceptions import UserError
from surveys.services.pipeline import enqueue

from ..exceptions import ExportError
from ..models import Export
from ..selectors import task_for, training_tasks
from ..taxonomy import ExportKind, ExportStatus
from .camtrapdp import export_camtrapdp
from .camtrapdp_check import check_camtrapdp
from .coco import export_coco
from .record_table import export_record_table
from .results import write_results_csv
from .training_data import TrainingDataOptions, check_options, export_training_data
from .workbook import export_workbook

log = logging.getLogger(__name__)
TASK_NAME = "training.run_export"


def do_request_export(survey, kind: str, *, task=None, acting_user=None,
                      options: dict | None = None) -> Export:
    """Record an export of ``survey`` and start it on a worker once this commits.

    ``acting_user`` needs CHANGE on the survey's organisation (the admin and write roles,
    as for every other write; None: an operator).
    A training-data export takes ``options``: ``tasks`` (ids, default: ``task``, else
    the survey's latest) and the TrainingDataOptions fields; every task must be of
    the survey's organisation and visible to ``acting_user``. Raises ExportError for
    an unknown kind, a task of another survey, or bad training-data options.
    """
    if acting_user is not None:
        check_capability(acting_user, survey.organisation, Capability.CHANGE)
    if kind not in ExportKind.values:
        raise ExportError(f"Unknown export kind {kind!r}; choose one of "
                          f"{', '.join(ExportKind.values)}.")
    if task is not None and task.survey_id != survey.pk:
        raise ExportError(f"Task “{task.name}” belongs to another survey than “{survey}”.")
    options = dict(options or {})
    if kind == ExportKind.TRAINING_DATA:
        options = _check_training_request(survey, task, options, acting_user)
    export = Export.objects.create(survey=survey, task=task, kind=kind,
                                   created_by=acting_user, options=options)
    enqueue(TASK_NAME, "default", export.pk)
    return export


def _check_training_request(survey, task, options: dict, acting_user) -> dict:
    ids = options.pop("tasks", None) or [(task or task_for(survey, None)).pk]
    tasks = training_tasks(ids, organisation=survey.organisation, user=acting_user,
                           capability=Capability.VIEW)
    chosen = TrainingDataOptions.from_dict(options)
    check_options(chosen)
    return {"tasks": [t.pk for t in tasks], **chosen.as_dict()}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "survey"


def _build(export: Export, folder: Path, progress) -> Path:
    """Write the export into ``folder``; return the one file to keep."""
    survey, task_id = export.survey, export.task_id
    name = _slug(survey.name)
    if export.kind == ExportKind.RESULTS_CSV:
        path = folder / f"{name}-results.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            write_results_csv(task_for(survey, task_id), fh)
        return path
    if export.kind == ExportKind.WORKBOOK:
        path = folder / f"{name}-counts.xlsx"
        export_workbook(task_for(survey, task_id), path)
        return path
    if export.kind == ExportKind.COCO:
        path = folder / f"{name}-coco.json"
        export_coco(survey, path, task_id=task_id)
        return path
    package = folder / f"{name}-{export.kind.replace('_', '-')}"
    package.mkdir()
    if export.kind == ExportKind.TRAINING_DATA:
        # Tasks are read again within the export's organisation: ids recorded by a
        # request are never trusted across organisations.
        tasks = training_tasks(export.options.get("tasks", []),
                               organisation=export.survey.organisation)
        export_training_data(tasks, package, TrainingDataOptions.from_dict(export.options),
                             progress=progress)
    elif export.kind == ExportKind.CAMTRAP_DP:
        export_camtrapdp(survey, package, task_id=task_id, progress=progress)
        problems = check_camtrapdp(package)
        if problems:
            raise ExportError("The package does not pass the Camtrap DP 1.0.2 checks: "
                              + "; ".join(problems[:5]))
    else:
        export_record_table(survey, package, interval_minutes=settings.EXPORT_RECORD_INTERVAL,
                            task_id=task_id)
    return Path(shutil.make_archive(str(package), "zip", root_dir=package))


def _progress_of(export: Export):
    """A progress callback writing to the export row at most once a second."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1 or done == total:
            last[0] = now
            Export.objects.filter(pk=export.pk).update(done=done, total=total)
    return progress


def do_run_export(export_id: int) -> Export | None:
    """Build the export and store it; a failure is recorded on the export, not raised.

    Safe to re-deliver: an export already done, failed or expired is left alone.
    """
    with transaction.atomic():
        export = (Export.objects.select_for_update().select_related("survey__organisation")
                  .filter(pk=export_id).first())
        if export is None or export.status not in (ExportStatus.PENDING, ExportStatus.RUNNING):
            return export
        export.status = ExportStatus.RUNNING
        export.save(update_fields=["status"])
    try:
        with tempfile.TemporaryDirectory(prefix="tt-export-") as tmp:
            path = _build(export, Path(tmp), _progress_of(export))
            key = f"exports/{export.survey.organisation_id}/{export.pk}/{path.name}"
            with path.open("rb") as fh:
                key = default_storage.save(key, File(fh, name=path.name))
            export.file_size = path.stat().st_size
    except UserError as exc:
        return _finish(export, ExportStatus.FAILED, str(exc))
    except Exception:
        log.exception("export %s failed", export.pk)
        _finish(export, ExportStatus.FAILED,
                "The export failed on the server; the error is in the worker's log.")
        raise
    export.file_key = key
    return _finish(export, ExportStatus.DONE, "")


def _finish(export: Export, status: str, message: str) -> Export:
    now = timezone.now()
    export.status, export.message, export.finished_at = status, message[:1000], now
    if status == ExportStatus.DONE:
        export.expires_at = now + timedelta(days=settings.EXPORT_KEEP_DAYS)
    export.save(update_fields=["status", "message", "finished_at", "expires_at", "file_key",
                               "file_size"])
    return export


def do_delete_exports(exports) -> int:
    """Delete ``exports`` (a queryset) and their files; return how many."""
    deleted = 0
    for export in list(exports):
        if export.file_key:
            default_storage.delete(export.file_key)
        export.delete()
        deleted += 1
    return deleted


def do_expire_exports(now=None) -> int:
    """Delete the files of exports past their expiry; return how many expired."""
    now = now or timezone.now()
    expired = 0
    for export in Export.objects.filter(status=ExportStatus.DONE, expires_at__lte=now):
        if export.file_key:
            default_storage.delete(export.file_key)
        Export.objects.filter(pk=export.pk).update(status=ExportStatus.EXPIRED, file_key="")
        expired += 1
    return expired
