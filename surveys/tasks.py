"""Celery entry points for surveys: load by id, call one service.

Registered names (``name=``) are what the pipeline conductor starts; see
services.pipeline.
"""

from celery import shared_task

from .models import ImportRun
from .services import clustering, importing, pipeline
from .taxonomy import SurveyStatus


@shared_task(name=pipeline.IMPORT_TASK, queue="import", soft_time_limit=12 * 3600,
             time_limit=12 * 3600 + 600)
def run_import_task(import_id: int, inline: bool = False) -> bool:
    """Run one ImportRun; a re-run skips what was imported (see services.importing)."""
    run = ImportRun.objects.select_related("survey").filter(pk=import_id).first()
    if run is None:
        return False
    return importing.do_run_import(run, inline=inline)


@shared_task(name="surveys.cluster_survey", queue="default", soft_time_limit=3600,
             time_limit=3900)
def cluster_survey_task(survey_id: int, inline: bool = False) -> bool:
    """Cluster the survey's unclustered images as its pipeline stage."""
    return pipeline.run_stage(survey_id, SurveyStatus.CLUSTERING,
                              clustering.do_cluster_survey, inline=inline)


@shared_task(name="surveys.resume_stale_work", queue="default", soft_time_limit=300,
             time_limit=360)
def resume_stale_work_task() -> dict:
    """Housekeeping: re-send imports and stages whose worker died (safe to re-run)."""
    return {
        "imports": importing.resume_stale_imports(),
        "stages": pipeline.resume_stale_stages(),
    }
