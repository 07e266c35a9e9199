"""Start-up checks of a production process: each service it needs answers, or one clear line.

A wrong ``DATABASE_URL``, ``REDIS_URL``, broker or S3 setting should stop a web
node or worker at start with a line naming the setting, not fail with a
traceback at the first request; so does a malformed ``EMAIL_URL`` in any mode
(and ``manage.py`` reports it as a system check). Messages never include passwords.
"""

from __future__ import annotations

import sys

from django.conf import settings

from . import health

SETTING_FOR = {
    "database": "DATABASE_URL",
    "cache": "REDIS_URL (the cache)",
    "channel_layer": "REDIS_URL (the channel layer)",
    "broker": "CELERY_BROKER_URL (or REDIS_URL)",
}


def _storage_problem() -> str | None:
    if not getattr(settings, "AWS_STORAGE_BUCKET_NAME", ""):
        return None
    from django.core.files.storage import default_storage

    try:
        default_storage.exists("healthz-probe")
    except Exception as exc:
        return (f"the S3 settings (AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, credentials) "
                f"do not reach the bucket: {type(exc).__name__}")
    return None


def problems() -> list[str]:
    """One line per service this process cannot reach, naming the setting to fix."""
    found = [f"{SETTING_FOR[part]}: cannot reach it ({answer.removeprefix('failing: ')})"
             for part, answer in health.health()["checks"].items() if answer != "ok"]
    storage = _storage_problem()
    if storage:
        found.append(storage)
    return found


def setting_problems() -> list[str]:
    """One line per setting that cannot be used as written (any mode), without secrets."""
    problem = getattr(settings, "EMAIL_URL_PROBLEM", None)
    return [problem] if problem else []


def check_or_exit(process: str) -> None:
    """Stop ``process`` with one line per unusable setting and, in production, per
    unreachable service."""
    lines = setting_problems()
    if settings.PRODUCTION:
        from django.db import connections

        try:
            lines += problems()
        finally:
            connections.close_all()  # a worker forks after this: no shared connections
    if lines:
        for line in lines:
            print(f"TrapTagger {process} cannot start: {line}", file=sys.stderr)
        raise SystemExit(2)
