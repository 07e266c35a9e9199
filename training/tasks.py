"""Celery entry points for classifier training."""

from celery import shared_task

from .services.training_runs import do_run_training


@shared_task(name="training.train_classifier", queue="gpu", soft_time_limit=12 * 3600,
             time_limit=12 * 3600 + 300)
def train_classifier(run_id: int, inline: bool = False) -> None:
    do_run_training(run_id)
