"""Celery entry points for detection and classification, on the ``gpu`` queue.

GPU machines consume only this queue (``celery -A traptagger worker -Q gpu``);
without a GPU TensorFlow runs the same code on the CPU.
"""

from celery import shared_task

from surveys.models import Survey
from surveys.services import pipeline
from surveys.taxonomy import SurveyStatus

from .exceptions import ClassifierError
from .services import classification, detection


@shared_task(queue="gpu", soft_time_limit=12 * 3600, time_limit=12 * 3600 + 600)
def detect_survey(survey_id: int) -> None:
    survey = Survey.objects.filter(pk=survey_id, status=SurveyStatus.DETECTING).first()
    if survey is None:
        return
    try:
        detection.detect_survey(survey)
    except ClassifierError as exc:
        pipeline.set_status(survey, SurveyStatus.FAILED, str(exc))
        return
    pipeline.advance(survey, finished=SurveyStatus.DETECTING)


@shared_task(queue="gpu", soft_time_limit=12 * 3600, time_limit=12 * 3600 + 600)
def classify_survey(survey_id: int) -> None:
    survey = (
        Survey.objects.select_related("classifier")
        .filter(pk=survey_id, status=SurveyStatus.CLASSIFYING).first()
    )
    if survey is None:
        return
    try:
        classification.classify_survey(survey)
    except ClassifierError as exc:
        pipeline.set_status(survey, SurveyStatus.FAILED, str(exc))
        return
    pipeline.advance(survey, finished=SurveyStatus.CLASSIFYING)
