"""Exports made by workers: requested, built into storage, downloaded, expired.

``do_request_export`` records the request and starts ``training.run_export`` (on
the ``default`` queue) after commit; ``do_run_export`` builds the file in a
temporary folder (folders are zipped), stores it under
``exports/<organisation>/<export>/`` and keeps it for ``EXPORT_KEEP_DAYS`` days;
``do_expire_exports`` (beat, hourly) deletes files past that.

Each kind is an ``ExportFormat``: how it is built, and how its request is checked.
This module knows the results formats; an app that exports something else registers
its format with ``register_format`` when it loads (the training app: training data),
so this app never imports it.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from core.progress import Progress
from surveys.services.pipeline import enqueue

from ..exceptions import ExportError
from ..models import Export
from ..selectors import task_for
from ..taxonomy import ExportKind, ExportStatus
from .camtrapdp import export_camtrapdp
from .camtrapdp_check import check_camtrapdp
from .coco import export_coco
from .record_table import export_record_table
from .results import write_results_csv
from .workbook import export_workbook

log = logging.getLogger(__name__)
# The task names the exports had when they lived in the training app: messages
# already queued and beat entries keep naming them.
TASK_NAME = "training.run_export"


@dataclass(frozen=True)
class ExportFormat:
    """How one kind of export is made.

    ``build(export, folder, progress)`` writes the export into the empty ``folder``
    and returns the file or folder to keep (a folder is zipped); a UserError it
    raises fails the export with its message. ``check(survey, task, options,
    acting_user)``, when given, checks a request's ``options`` and returns the ones to
    record; it raises ExportError naming what to fix.
    """

    build: Callable[[Export, Path, Progress], Path]
    check: Callable[..., dict] | None = None


_FORMATS: dict[str, ExportFormat] = {}


def register_format(kind: str, export_format: ExportFormat) -> None:
    """Make ``kind`` (one of ExportKind) buildable; an app calls this when it loads."""
    if kind not in ExportKind.values:
        raise ValueError(f"{kind!r} is not an ExportKind; add it to results.taxonomy.")
    _FORMATS[kind] = export_format


def format_of(kind: str) -> ExportFormat:
    """The registered format of ``kind``; ExportError for a kind nothing builds."""
    export_format = _FORMATS.get(kind)
    if export_format is None:
        raise ExportError(f"Unknown export kind {str(kind)!r}; choose one of "
                          f"{', '.join(k for k in ExportKind.values if k in _FORMATS)}.")
    return export_format


def do_request_export(survey, kind: str, *, task=None, acting_user=None,
                      options: dict | None = None) -> Export:
    """Record an export of ``survey`` and start it on a worker once this commits.

    ``acting_user`` needs CHANGE on the survey's organisation (the admin and write roles,
    as for every other write; None: an operator). ``options`` are checked by the
    kind's format (a training-data export takes its tasks and crop options there).
    Raises ExportError for an unknown kind, a task of another survey, or options
    the format refuses.
    """
    if acting_user is not None:
        check_capability(acting_user, survey.organisation, Capability.CHANGE)
    export_format = format_of(kind)
    if task is not None and task.survey_id != survey.pk:
        raise ExportError(f"Task “{task.name}” belongs to another survey than “{survey}”.")
    options = dict(options or {})
    if export_format.check is not None:
        options = export_format.check(survey, task, options, acting_user)
    export = Export.objects.create(survey=survey, task=task, kind=kind,
                                   created_by=acting_user, options=options)
    enqueue(TASK_NAME, "default", export.pk)
    return export


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "survey"


def file_stem(export: Export) -> str:
    """The start of an export's file name: its survey's name, safe in a path."""
    return _slug(export.survey.name)


def package_folder(export: Export, folder: Path) -> Path:
    """A new folder in ``folder`` for an export of several files (zipped when stored)."""
    package = folder / f"{file_stem(export)}-{export.kind.replace('_', '-')}"
    package.mkdir()
    return package


def _results_csv(export: Export, folder: Path, progress) -> Path:
    path = folder / f"{file_stem(export)}-results.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        write_results_csv(task_for(export.survey, export.task_id), fh)
    return path


def _workbook(export: Export, folder: Path, progress) -> Path:
    path = folder / f"{file_stem(export)}-counts.xlsx"
    export_workbook(task_for(export.survey, export.task_id), path)
    return path


def _coco(export: Export, folder: Path, progress) -> Path:
    path = folder / f"{file_stem(export)}-coco.json"
    export_coco(export.survey, path, task_id=export.task_id)
    return path


def _camtrapdp(export: Export, folder: Path, progress) -> Path:
    package = package_folder(export, folder)
    export_camtrapdp(export.survey, package, task_id=export.task_id, progress=progress)
    problems = check_camtrapdp(package)
    if problems:
        raise ExportError("The package does not pass the Camtrap DP 1.0.2 checks: "
                          + "; ".join(problems[:5]))
    return package


def _record_table(export: Export, folder: Path, progress) -> Path:
    package = package_folder(export, folder)
    export_record_table(export.survey, package,
                        interval_minutes=settings.EXPORT_RECORD_INTERVAL,
                        task_id=export.task_id)
    return package


_FORMATS.update({
    ExportKind.RESULTS_CSV: ExportFormat(build=_results_csv),
    ExportKind.WORKBOOK: ExportFormat(build=_workbook),
    ExportKind.COCO: ExportFormat(build=_coco),
    ExportKind.CAMTRAP_DP: ExportFormat(build=_camtrapdp),
    ExportKind.RECORD_TABLE: ExportFormat(build=_record_table),
})


def _build(export: Export, folder: Path, progress) -> Path:
    """Write the export into ``folder``; return the one file to keep."""
    path = format_of(export.kind).build(export, folder, progress)
    if path.is_dir():
        path = Path(shutil.make_archive(str(path), "zip", root_dir=path))
    return path


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
