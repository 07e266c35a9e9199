"""Celery entry points for the plumbing: housekeeping of the event outbox."""

from celery import shared_task

from .broadcast import purge_broadcasts


@shared_task(name="core.purge_broadcasts", queue="default", soft_time_limit=300,
             time_limit=360)
def purge_broadcasts_task(max_age_seconds: int = 3600) -> int:
    """Delete relayed events older than ``max_age_seconds``; safe to re-run."""
    return purge_broadcasts(max_age_seconds)
