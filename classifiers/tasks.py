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


def _run_stage(survey_id: int, stage: str, service) -> None:
    """Run ``service`` on the survey if it is at ``stage``, then move the pipeline on.

    A survey at another stage (already done, or failed) is left alone, so a
    repeated delivery changes nothing.
    """
    survey = (
        Survey.objects.select_related("classifier").filter(pk=survey_id, status=stage).first()
    )
    if survey is None:
        return
    try:
        service(survey)
    except ClassifierError as exc:
        pipeline.set_status(survey, SurveyStatus.FAILED, str(exc))
        return
    except Exception as exc:
        # Never leave the survey stuck at this stage: say what broke, then let
        # Celery record the traceback.
        pipeline.set_status(survey, SurveyStatus.FAILED,
                            f"{survey.get_status_display()} stopped: {exc!r}")
        raise
    pipeline.advance(survey, finished=stage)


@shared_task(queue="gpu", soft_time_limit=12 * 3600, time_limit=12 * 3600 + 600)
def detect_survey(survey_id: int) -> None:
    """Detect boxes on the survey's images (see services.detection)."""
    _run_stage(survey_id, SurveyStatus.DETECTING, detection.detect_survey)


@shared_task(queue="gpu", soft_time_limit=12 * 3600, time_limit=12 * 3600 + 600)
def classify_survey(survey_id: int) -> None:
    """Classify the survey's detections and suggest species (see services.classification)."""
    _run_stage(survey_id, SurveyStatus.CLASSIFYING, classification.classify_survey)
