"""Celery entry points for exports.

The names are the ones these tasks had in the training app: messages already queued,
beat entries and workers' routes keep naming them.
"""

from celery import shared_task

from .services.exports import do_expire_exports, do_run_export


@shared_task(name="training.run_export", queue="default", soft_time_limit=4 * 3600,
             time_limit=4 * 3600 + 300)
def run_export(export_id: int, inline: bool = False) -> None:
    do_run_export(export_id)


@shared_task(name="training.expire_exports", queue="default", soft_time_limit=600,
             time_limit=660)
def expire_exports() -> int:
    return do_expire_exports()
