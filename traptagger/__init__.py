"""TrapTagger: camera-trap surveys into verified species records."""

from .celery import app as celery_app

__all__ = ["celery_app"]
