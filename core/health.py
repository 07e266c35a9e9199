"""Is this instance able to work? Database, cache, channel layer and broker, each answered.

Used by ``/healthz`` (load balancers, the compose file). Answers name the
part and say ``ok`` or the kind of failure, never a URL, host or password.
"""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    if hasattr(cache, "ping"):  # core.cache answers "nothing cached" rather than failing
        cache.ping()
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("a value written could not be read back")
    cache.delete(key)


def _channel_layer() -> None:
    layer = get_channel_layer()
    async_to_sync(layer.group_send)("healthz", {"type": "healthz.ping"})


def _broker() -> None:
    from kombu import Connection

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=3,
                    transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


CHECKS = {"database": _database, "cache": _cache, "channel_layer": _channel_layer,
          "broker": _broker}


def health() -> dict:
    """``{"status": "ok"|"failing", "checks": {part: "ok" | "failing: <kind>"}}``."""
    checks = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure is an answer, not a crash
            checks[name] = f"failing: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ok else "failing", "checks": checks,
            "mode": "production" if settings.PRODUCTION else "embedded"}
