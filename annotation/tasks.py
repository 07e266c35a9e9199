from celery import shared_task

from .services import leases


@shared_task(name="annotation.release_expired_leases", queue="default", soft_time_limit=120,
             time_limit=180)
def release_expired_leases_task() -> int:
    """Housekeeping: clear leases whose holders stopped answering (safe to re-run)."""
    return leases.release_expired_leases()
