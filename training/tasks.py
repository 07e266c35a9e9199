"""Celery entry points for exports and classifier training."""

from celery import shared_task

from .services.exports import do_expire_exports, do_run_export
from .services.training_runs import do_run_training


@shared_task(name="training.run_export", queue="default", soft_time_limit=4 * 3600,
             time_limit=4 * 3600 + 300)
def run_export(export_id: int, inline: bool = False) -> None:
    do_run_export(export_id)


@shared_task(name="training.expire_exports", queue="default", soft_time_limit=600,
             time_limit=660)
def expire_exports() -> int:
    return do_expire_exports()


@shared_task(name="training.train_classifier", queue="gpu", soft_time_limit=12 * 3600,
             time_limit=12 * 3600 + 300)
def train_classifier(run_id: int, inline: bool = False) -> None:
    do_run_training(run_id)
