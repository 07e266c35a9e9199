"""The order of a survey's processing stages and the queue each runs on.

importing (import) → clustering (default) → detecting (gpu) →
classifying (gpu, when the survey has a classifier) → ready.
Each stage's task calls ``advance`` when it is done; ``advance`` sets the
next status and enqueues the next task once the transaction commits.
"""

from __future__ import annotations

from django.db import transaction

from .. import events
from ..models import Survey
from ..taxonomy import SurveyStatus


def _next_stage(survey: Survey, finished: str) -> str:
    order = [
        SurveyStatus.IMPORTING,
        SurveyStatus.CLUSTERING,
        SurveyStatus.DETECTING,
        SurveyStatus.CLASSIFYING,
        SurveyStatus.READY,
    ]
    following = order[order.index(finished) + 1]
    if following == SurveyStatus.CLASSIFYING and survey.classifier_id is None:
        return SurveyStatus.READY
    return following


def _enqueue(stage: str, survey_id: int) -> None:
    from classifiers import tasks as ai_tasks

    from .. import tasks as survey_tasks

    task = {
        SurveyStatus.CLUSTERING: survey_tasks.cluster_survey,
        SurveyStatus.DETECTING: ai_tasks.detect_survey,
        SurveyStatus.CLASSIFYING: ai_tasks.classify_survey,
    }.get(stage)
    if task is not None:
        task.delay(survey_id)


def advance(survey: Survey, *, finished: str) -> str:
    """Move ``survey`` on from the stage ``finished``; return the new status."""
    stage = _next_stage(survey, finished)
    Survey.objects.filter(pk=survey.pk).update(status=stage, status_detail="")
    survey.status, survey.status_detail = stage, ""
    events.survey_status(survey)
    transaction.on_commit(lambda: _enqueue(stage, survey.pk))
    return stage


def set_status(survey: Survey, status: str, detail: str = "") -> None:
    Survey.objects.filter(pk=survey.pk).update(status=status, status_detail=detail[:500])
    survey.status, survey.status_detail = status, detail[:500]
    events.survey_status(survey)
