"""Celery entry points for surveys: load by id, call one service.

Registered names (``name=``) are what the pipeline conductor starts; see
services.pipeline.
"""

from celery import shared_task

from .models import ImportRun, Survey
from .services import clustering, importing, pipeline, rehash
from .taxonomy import SurveyStatus


# A slice ends after IMPORT_SLICE_SECONDS (between batches), so an hour is far more
# than a healthy slice needs; the limit stops one that hangs from holding a worker.
@shared_task(name=pipeline.IMPORT_TASK, queue="import", soft_time_limit=3600,
             time_limit=3600 + 300)
def run_import_task(import_id: int, ticket: int | None = None, inline: bool = False) -> bool:
    """Run one slice of an ImportRun (see services.import_queue); a re-run skips what was
    imported, and a message whose ``ticket`` is old does nothing."""
    run = ImportRun.objects.select_related("survey").filter(pk=import_id).first()
    if run is None:
        return False
    return importing.do_run_import(run, ticket=ticket, inline=inline)


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


@shared_task(name=rehash.REHASH_TASK, queue="import", soft_time_limit=3600,
             time_limit=3600 + 300)
def rehash_images_task(survey_id: int, after_pk: int = 0) -> dict:
    """Rehash a slice of the survey's older-version images; the service sends the next slice.
    Safe to re-run: only images still of an older version are touched."""
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None:
        return {}
    done = rehash.do_rehash_task_slice(survey, after_pk)
    return {"rehashed": done.rehashed, "finished": done.finished,
            "unreadable": len(done.unreadable)}
