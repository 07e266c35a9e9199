"""Celery entry points for detection and classification, on the ``gpu`` queue,
and for finding static detections, on the ``default`` queue.

GPU machines consume only this queue (``celery -A traptagger worker -Q gpu``);
without a GPU TensorFlow runs the same code on the CPU. The pipeline conductor
(surveys.services.pipeline) starts these by their registered names.
"""

from celery import shared_task

from surveys.services import pipeline
from surveys.taxonomy import SurveyStatus

from .services import classification, detection, static


@shared_task(name="classifiers.detect_survey", queue="gpu", soft_time_limit=12 * 3600,
             time_limit=12 * 3600 + 600)
def detect_survey_task(survey_id: int, inline: bool = False) -> bool:
    """Detect boxes on the survey's images as its pipeline stage (services.detection)."""
    return pipeline.run_stage(survey_id, SurveyStatus.DETECTING,
                              detection.do_detect_survey, inline=inline)


@shared_task(name="classifiers.classify_survey", queue="gpu", soft_time_limit=12 * 3600,
             time_limit=12 * 3600 + 600)
def classify_survey_task(survey_id: int, inline: bool = False) -> bool:
    """Classify detections and suggest species as the survey's stage (services.classification)."""
    return pipeline.run_stage(survey_id, SurveyStatus.CLASSIFYING,
                              classification.do_classify_survey, inline=inline)


@shared_task(name="classifiers.find_static_detections", queue="default",
             soft_time_limit=2 * 3600, time_limit=2 * 3600 + 300)
def find_static_detections_task(survey_id: int, inline: bool = False) -> bool:
    """Apply masks and find static groups as the survey's stage (services.static)."""
    return pipeline.run_stage(survey_id, SurveyStatus.STATIC,
                              static.do_find_static_detections, inline=inline)
