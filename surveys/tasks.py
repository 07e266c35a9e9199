"""Celery entry points for surveys: load by id, call one service."""

from celery import shared_task

from .models import ImportRun, Survey
from .services import clustering, importing, pipeline
from .taxonomy import SurveyStatus


@shared_task(queue="import", soft_time_limit=12 * 3600, time_limit=12 * 3600 + 600)
def run_import(import_id: int) -> None:
    """Run one ImportRun; a re-run skips what was imported (see services.importing)."""
    run = ImportRun.objects.select_related("survey").filter(pk=import_id).first()
    if run is not None:
        importing.run_import(run)


@shared_task(queue="default", soft_time_limit=3600, time_limit=3900)
def cluster_survey(survey_id: int) -> None:
    """Cluster the survey's unclustered images, then move the pipeline on."""
    survey = Survey.objects.filter(pk=survey_id, status=SurveyStatus.CLUSTERING).first()
    if survey is None:
        return
    clustering.cluster_survey(survey)
    pipeline.advance(survey, finished=SurveyStatus.CLUSTERING)
