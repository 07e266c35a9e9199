"""The pipeline conductor: the order of a survey's stages, and the one writer of its status.

Stages, in order (``STAGES``)::

    importing (import) → clustering (default) → detecting (gpu)
        → static (default: masks and static detections)
        → classifying (gpu, only with a classifier) → ready

A stage is a service that does its work and returns. Its Celery task calls
``run_stage``: the survey is claimed for the stage with a conditional UPDATE
(a second delivery of the same message finds it claimed and does nothing),
the service runs, and ``stage_done`` moves the survey on with
``do_transition`` and starts the next stage's task *by its registered name*
once the transaction commits. Task names are the only link between apps: no
service imports a Celery entry point and no app imports another app's tasks.
Stages that later work adds (timestamp correction, reclustering,
auto-labelling) are new rows of ``STAGES``. The static stage does not wait
for people to review the groups it finds: pending groups count until someone
accepts them.

``do_transition`` is the only code that writes ``Survey.status``; every
change is announced to the survey's websocket group after commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.exceptions import UserError
from core.task_discovery import discover_tasks

from .. import events
from ..exceptions import SurveyError
from ..models import Survey
from ..taxonomy import SurveyStatus

logger = logging.getLogger(__name__)

# Progress reports touch the claim at most this often.
HEARTBEAT_EVERY_SECONDS = 30
IMPORT_TASK = "surveys.run_import"
ANY = None  # ``do_transition(from_=ANY)``: whatever the survey's status is


@dataclass(frozen=True)
class Stage:
    status: str
    task: str | None = None  # the Celery task that runs this stage (registered name)
    queue: str = "default"
    needed: Callable[[Survey], bool] = lambda survey: True


STAGES: tuple[Stage, ...] = (
    Stage(SurveyStatus.IMPORTING, queue="import"),  # one task per ImportRun (IMPORT_TASK)
    Stage(SurveyStatus.CLUSTERING, "surveys.cluster_survey"),
    Stage(SurveyStatus.DETECTING, "classifiers.detect_survey", "gpu"),
    Stage(SurveyStatus.STATIC, "classifiers.find_static_detections"),
    Stage(SurveyStatus.CLASSIFYING, "classifiers.classify_survey", "gpu",
          needed=lambda survey: survey.classifier_id is not None),
    Stage(SurveyStatus.READY),
)
STAGE_STATUSES = frozenset(s.status for s in STAGES if s.task)


def next_stage(survey: Survey, finished: str) -> Stage:
    """The stage that follows ``finished`` for this survey (skipping stages it does not need)."""
    statuses = [s.status for s in STAGES]
    for stage in STAGES[statuses.index(finished) + 1:]:
        if stage.needed(survey):
            return stage
    return STAGES[-1]


def stage_for(status: str) -> Stage:
    return next(s for s in STAGES if s.status == status)


# --- the one status writer ----------------------------------------------------
def do_transition(survey: Survey, from_: str | Iterable[str] | None, to: str,
                  detail: str = "") -> bool:
    """Move ``survey`` from ``from_`` (a status, several, or ANY) to ``to``.

    Conditional: when the survey is no longer at ``from_`` (another worker or
    an admin moved it on) nothing changes and False is returned. A change
    clears the stage claim and is announced on the survey's websocket group
    after commit. ``survey`` is updated in place.
    """
    rows = Survey.objects.filter(pk=survey.pk)
    if from_ is not ANY:
        rows = rows.filter(status__in=[from_] if isinstance(from_, str) else list(from_))
    detail = detail[:500]
    if not rows.update(status=to, status_detail=detail, stage_heartbeat_at=None):
        return False
    survey.status, survey.status_detail, survey.stage_heartbeat_at = to, detail, None
    events.survey_status(survey)
    return True


# --- starting tasks by name -----------------------------------------------------
def enqueue(task_name: str, queue: str, *args, inline: bool = False,
            countdown: float | None = None) -> None:
    """Start the task ``task_name`` once the current transaction commits
    (after ``countdown`` seconds when given).

    ``inline`` runs it in this process instead (``import_survey --now``), and
    the stages after it too; errors propagate to the caller.
    """
    def start():
        if inline:
            _signature(task_name, args=args, kwargs={"inline": True}).apply(throw=True)
        else:
            later = {} if countdown is None else {"countdown": countdown}
            _signature(task_name, args=args, queue=queue).apply_async(**later)

    transaction.on_commit(start)


def _signature(task_name: str, **options):
    app = current_app
    if task_name not in app.tasks:
        # Outside a worker the apps' task modules are discovered lazily.
        discover_tasks()
    return app.signature(task_name, **options)


def stage_done(survey: Survey, finished: str, *, inline: bool = False) -> str | None:
    """Move ``survey`` on from the stage ``finished`` and start the next stage's task.

    Returns the new status, or None when the survey had already left
    ``finished`` (then nothing is started).
    """
    following = next_stage(survey, finished)
    if not do_transition(survey, finished, following.status):
        return None
    if following.task:
        enqueue(following.task, following.queue, survey.pk, inline=inline)
    return following.status


def do_rerun_stage(survey: Survey, status: str, *, inline: bool = False) -> None:
    """Send a ready or failed survey back to the stage ``status`` and start its task.

    The stages after it follow as usual; each does only what is still
    missing (see their services). The task starts once the transaction
    commits (``inline``: in this process). Raises SurveyError while the survey
    is new or in the middle of its pipeline.
    """
    stage = stage_for(status)
    if stage.task is None:
        raise SurveyError(f"{stage.status} is not a stage that can be run again.")
    if not do_transition(survey, [SurveyStatus.READY, SurveyStatus.FAILED], status):
        survey.refresh_from_db(fields=["status"])
        raise SurveyError(
            f"Survey “{survey}” is {survey.get_status_display().lower()}; a stage can be run "
            "again once the survey is ready or has failed."
        )
    enqueue(stage.task, stage.queue, survey.pk, inline=inline)


# --- claiming and running one stage ------------------------------------------------
def claim_stage(survey_id: int, status: str) -> Survey | None:
    """Claim the survey for the stage ``status``; None when it is not ours to run.

    Not ours: the survey is at another stage (the stage is done, or failed),
    or another worker claimed it and still reports. A claim whose worker has
    been silent for settings.PIPELINE_STALE_SECONDS is taken over.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PIPELINE_STALE_SECONDS)
    claimed = Survey.objects.filter(pk=survey_id, status=status).filter(
        Q(stage_heartbeat_at__isnull=True) | Q(stage_heartbeat_at__lt=stale)
    ).update(stage_heartbeat_at=now)
    if not claimed:
        return None
    return Survey.objects.select_related("classifier").get(pk=survey_id)


class StageProgress:
    """What a stage service calls as it goes: keeps the claim alive, tells the browser."""

    def __init__(self, survey: Survey, status: str):
        self.survey, self.status = survey, status
        self._touched = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if time.monotonic() - self._touched >= HEARTBEAT_EVERY_SECONDS:
            Survey.objects.filter(pk=self.survey.pk, status=self.status).update(
                stage_heartbeat_at=timezone.now())
            self._touched = time.monotonic()
        events.stage_progress(self.survey.pk, stage=self.status, done=done, total=total)


def run_stage(survey_id: int, status: str, work: Callable[..., object], *,
              inline: bool = False) -> bool:
    """Claim the survey for ``status``, run ``work(survey, progress=...)``, move it on.

    Returns False when the survey was not ours to run (see ``claim_stage``), so
    a repeated delivery changes nothing. A ``UserError`` fails the survey with
    its message; any other error fails it with the error's text and is
    re-raised so that Celery records the traceback.
    """
    survey = claim_stage(survey_id, status)
    if survey is None:
        logger.info("survey %s: %s not claimed (done, failed or running elsewhere)",
                    survey_id, status)
        return False
    try:
        work(survey, progress=StageProgress(survey, status))
    except UserError as exc:
        do_transition(survey, status, SurveyStatus.FAILED, str(exc))
        return True
    except Exception as exc:
        do_transition(survey, status, SurveyStatus.FAILED,
                      f"{survey.get_status_display()} stopped: {exc!r}")
        raise
    stage_done(survey, status, inline=inline)
    return True


# --- resuming work whose worker died -----------------------------------------------
def resume_stale_stages() -> list[int]:
    """Start again every stage whose claim went stale (its worker died); return survey ids.

    Some brokers drop a message whose worker was killed; this sweep (run by
    beat) re-sends the stage's task, which takes the stale claim over.
    """
    stale = timezone.now() - timedelta(seconds=settings.PIPELINE_STALE_SECONDS)
    rows = list(Survey.objects.filter(
        status__in=STAGE_STATUSES, stage_heartbeat_at__lt=stale,
    ).values_list("pk", "status"))
    for survey_id, status in rows:
        stage = stage_for(status)
        enqueue(stage.task, stage.queue, survey_id)
    return [survey_id for survey_id, _ in rows]
