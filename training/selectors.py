"""Reads for training: the tasks a training-data export takes, classifiers to start from."""

from django.db.models import F

from annotation.models import Task
from classifiers.models import Classifier
from results.exceptions import ExportError


def training_tasks(task_ids, *, organisation=None, user=None, capability: str = "") -> list[Task]:
    """The tasks ``task_ids`` for a training-data export, in the order given.

    With ``organisation`` only its tasks are found; with ``user`` only tasks of
    surveys where they hold ``capability``. A task outside that scope reads as
    missing (nobody learns it exists). Without either, the tasks must share one
    organisation. Raises ExportError naming the task ids, or two tasks of a survey
    (its boxes would be written twice).
    """
    ids = list(dict.fromkeys(int(pk) for pk in task_ids))
    if not ids:
        raise ExportError("Give at least one task (--task ID).")
    tasks = Task.objects.accessible_to(user, capability) if user is not None \
        else Task.objects.all()
    tasks = tasks.filter(pk__in=ids).select_related("survey__organisation")
    if organisation is not None:
        tasks = tasks.filter(survey__organisation=organisation)
    found = {task.pk: task for task in tasks}
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        where = f" in organisation “{organisation.name}”" if organisation is not None else ""
        raise ExportError(f"There is no task {', '.join(missing)}{where}; check the id(s) "
                          "(the task list in the admin shows them).")
    chosen = [found[pk] for pk in ids]
    if len({task.survey.organisation_id for task in chosen}) > 1:
        raise ExportError("The tasks belong to several organisations; export each "
                          "organisation's tasks on their own (give --org).")
    surveys: dict[int, Task] = {}
    for task in chosen:
        if task.survey_id in surveys:
            raise ExportError(f"Tasks {surveys[task.survey_id].pk} and {task.pk} are both of "
                              f"survey “{task.survey.name}”; give one task per survey.")
        surveys[task.survey_id] = task
    return chosen


def classifier_to_fine_tune(name: str, organisation, version: str | None = None):
    """The registered classifier ``name`` an organisation may start from: its own, else a
    shared one (only shared ones when ``organisation`` is None); the newest unless
    ``version``. None when there is no such classifier."""
    found = (Classifier.objects.of_organisations([organisation.pk], include_shared=True)
             if organisation is not None else Classifier.objects.filter(organisation=None))
    found = found.filter(name=name)
    if version:
        found = found.filter(version=version)
    return found.order_by(F("organisation").asc(nulls_last=True), "-created_at", "-pk").first()


def next_classifier_version(name: str, organisation) -> str:
    """One more than the highest whole-number version of ``name`` (``"1"`` for a new name)."""
    versions = Classifier.objects.filter(name=name, organisation=organisation).values_list(
        "version", flat=True)
    return str(max((int(v) for v in versions if v.isdigit()), default=0) + 1)
