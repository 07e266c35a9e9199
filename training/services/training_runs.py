"""Training runs started from the admin: recorded, then trained by a ``gpu`` worker.

``do_request_training`` checks the request and records a TrainingRun, then
starts ``training.train_classifier`` by its registered name on the ``gpu``
queue once the transaction commits (surveys.services.pipeline.enqueue).
``do_run_training`` (the task's service) claims the run, unpacks the export's
zip into a temporary folder and calls the same services as the
train_classifier command.
"""

from __future__ import annotations

import logging
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.access import check_capability
from accounts.taxonomy import Capability
from core.exceptions import UserError
from results.models import Export
from results.taxonomy import ExportKind, ExportStatus
from surveys.services.pipeline import enqueue

from ..exceptions import TrainingError
from ..models import TrainingRun
from ..taxonomy import TrainingStatus
from .train import TrainOptions, check_options, check_training, do_train_classifier

log = logging.getLogger(__name__)
TASK_NAME = "training.train_classifier"
QUEUE = "gpu"


def _options(run: TrainingRun) -> TrainOptions:
    fine_tune = run.fine_tune
    return TrainOptions(
        epochs=run.epochs, name=run.name, version=run.version,
        organisation=run.organisation, input_size=run.input_size,
        target_precision=run.target_precision, architecture=run.architecture,
        fine_tune=fine_tune.name if fine_tune else None,
        from_version=fine_tune.version if fine_tune else None)


def do_request_training(export: Export, *, acting_user=None, **fields) -> TrainingRun:
    """Record a training run on ``export``'s crops and start it on a gpu worker after commit.

    ``fields``: TrainingRun options (name, version, epochs, architecture,
    input_size, target_precision, fine_tune). ``acting_user`` needs CHANGE on
    the export's organisation (None: an operator). Raises TrainingError for an
    export that is not finished training data, or for bad options.
    """
    organisation = export.survey.organisation
    if acting_user is not None:
        check_capability(acting_user, organisation, Capability.CHANGE)
    if export.kind != ExportKind.TRAINING_DATA or export.status != ExportStatus.DONE or \
            not export.file_key:
        raise TrainingError(f"Export {export.pk} is not a finished training-data export; "
                            "train on one whose file is ready.")
    fine_tune = fields.get("fine_tune")
    if fine_tune is not None and fine_tune.organisation_id not in (None, organisation.pk):
        raise TrainingError(f"{fine_tune} belongs to another organisation.")
    run = TrainingRun(organisation=organisation, export=export, created_by=acting_user,
                      **fields)
    check_options(_options(run))
    run.total = run.epochs
    run.save()
    enqueue(TASK_NAME, QUEUE, run.pk)
    return run


def _unpack(export: Export, folder: Path) -> Path:
    """The export's zip, unpacked into ``folder`` (names leaving it are refused)."""
    if not export.file_key or not default_storage.exists(export.file_key):
        raise TrainingError(f"The file of export {export.pk} is gone (expired?); export the "
                            "training data again.")
    with default_storage.open(export.file_key, "rb") as fh, zipfile.ZipFile(fh) as archive:
        for name in archive.namelist():
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts:
                raise TrainingError(f"The export's zip names a path outside itself: {name!r}.")
        archive.extractall(folder)
    return folder


def _epoch_recorder(run: TrainingRun):
    def epoch_done(epoch: int, epochs: int, metrics: dict) -> None:
        TrainingRun.objects.filter(pk=run.pk).update(done=epoch, total=epochs)
    return epoch_done


def do_run_training(run_id: int) -> TrainingRun | None:
    """Train and register the run's classifier; a failure is recorded, not raised.

    Safe to re-deliver: only a pending run is claimed (a conditional update),
    so a second delivery, or a run already finished, changes nothing.
    """
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingStatus.PENDING).update(
        status=TrainingStatus.RUNNING)
    run = TrainingRun.objects.select_related("export__survey", "organisation",
                                             "fine_tune").filter(pk=run_id).first()
    if not claimed or run is None:
        return run
    started = time.monotonic()
    try:
        if run.export is None:
            raise TrainingError("The training-data export was deleted; export it again.")
        with tempfile.TemporaryDirectory(prefix="tt-train-run-") as tmp:
            plan = check_training(_unpack(run.export, Path(tmp)), _options(run))
            result = do_train_classifier(plan, epoch_done=_epoch_recorder(run))
    except UserError as exc:
        return _finish(run, TrainingStatus.FAILED, str(exc))
    except Exception:
        log.exception("training run %s failed", run.pk)
        _finish(run, TrainingStatus.FAILED,
                "Training failed on the server; the error is in the worker's log.")
        raise
    run.classifier, run.report = result.classifier, result.report
    log.info("training run %s registered %s in %.0f s", run.pk, result.classifier,
             time.monotonic() - started)
    return _finish(run, TrainingStatus.DONE, "")


def _finish(run: TrainingRun, status: str, message: str) -> TrainingRun:
    run.status, run.message, run.finished_at = status, message[:1000], timezone.now()
    if status == TrainingStatus.DONE:
        run.done = run.total
    run.save(update_fields=["status", "message", "finished_at", "classifier", "report",
                            "done"])
    return run
