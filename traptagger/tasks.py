from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .models import Broadcast


@shared_task(queue="default", soft_time_limit=300, time_limit=360)
def purge_broadcasts(max_age_seconds: int = 3600) -> int:
    """Delete relayed events older than ``max_age_seconds``; safe to re-run."""
    cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
    deleted, _ = Broadcast.objects.filter(created_at__lt=cutoff).delete()
    return deleted
