"""The training-data export as one of the exports' formats (results.services.exports).

Registered by the training app when it loads (training.apps), so that the exports'
request, worker and download serve training data as they serve the results formats,
and the results app never imports training.
"""

from __future__ import annotations

from pathlib import Path

from accounts.taxonomy import Capability
from results.selectors import task_for
from results.services.exports import ExportFormat, package_folder

from ..selectors import training_tasks
from .training_data import TrainingDataOptions, check_options, export_training_data


def check_request(survey, task, options: dict, acting_user) -> dict:
    """The options to record for a training-data export of ``survey``.

    ``options``: ``tasks`` (ids, default: ``task``, else the survey's latest) and the
    TrainingDataOptions fields. Every task must be of the survey's organisation and
    visible to ``acting_user``. Raises ExportError naming the task or option to fix.
    """
    options = dict(options)
    ids = options.pop("tasks", None) or [(task or task_for(survey, None)).pk]
    tasks = training_tasks(ids, organisation=survey.organisation, user=acting_user,
                           capability=Capability.VIEW)
    chosen = TrainingDataOptions.from_dict(options)
    check_options(chosen)
    return {"tasks": [t.pk for t in tasks], **chosen.as_dict()}


def build(export, folder: Path, progress) -> Path:
    """Crops and label files of the recorded tasks, in a folder (the worker zips it)."""
    # Tasks are read again within the export's organisation: ids recorded by a
    # request are never trusted across organisations.
    tasks = training_tasks(export.options.get("tasks", []),
                           organisation=export.survey.organisation)
    package = package_folder(export, folder)
    export_training_data(tasks, package, TrainingDataOptions.from_dict(export.options),
                         progress=progress)
    return package


TRAINING_DATA = ExportFormat(build=build, check=check_request)
