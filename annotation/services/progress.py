"""A task's progress (clusters done, in all) at its level, counted once and then kept up.

Every offer on the tagging page carries the progress; counting it from the
database costs two COUNTs over the task per label. Here it is counted once
(selectors.task_progress), kept in the cache (Redis with several web processes),
and each saved label adds one (an atomic increment). The count is taken again
from the database when the cache lost it and at least every
ANNOTATION_PROGRESS_SECONDS, and at once after a change that moves many clusters
(a launch, a bulk action), whose services call ``forget_progress``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from ..selectors import task_progress


def _keys(task_id: int, level: str) -> tuple[str, str]:
    base = f"annotation-progress:{task_id}:{level}"
    return f"{base}:done", f"{base}:total"


def progress_of(task) -> dict:
    """``{"done", "total"}`` of ``task`` at its tagging level (no query while cached)."""
    done_key, total_key = _keys(task.pk, task.tagging_level)
    cached = cache.get_many([done_key, total_key])
    if done_key in cached and total_key in cached:
        return {"done": min(cached[done_key], cached[total_key]), "total": cached[total_key]}
    counted = task_progress(task)
    seconds = settings.ANNOTATION_PROGRESS_SECONDS
    cache.set_many({done_key: counted["done"], total_key: counted["total"]}, seconds)
    return counted


def count_done(task_id: int, level: str, clusters: int = 1) -> None:
    """``clusters`` more are done (after the transaction that saved them commits)."""
    done_key, _ = _keys(task_id, level)

    def add():
        try:
            cache.incr(done_key, clusters)
        except ValueError:  # not counted yet: the next reader counts
            pass

    transaction.on_commit(add, robust=True)


def forget_progress(task_id: int) -> None:
    """Count again from the database at the next read (many clusters changed at once)."""
    from ..taxonomy import TaggingLevel

    keys = [key for level in TaggingLevel.values for key in _keys(task_id, level)]
    transaction.on_commit(lambda: cache.delete_many(keys), robust=True)
