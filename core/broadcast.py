"""Deliver websocket events from any process.

``broadcast(group, message)`` is the one way services announce events to
browsers. With a shared channel layer (Redis) the message goes straight to
the layer. Otherwise (the embedded mode's in-memory layer) it is written to
the ``Broadcast`` outbox table, and every web-server process runs one relay
that reads new rows and hands them to its own in-memory layer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Broadcast

logger = logging.getLogger(__name__)


def broadcast(group: str, message: dict) -> None:
    """Send ``message`` to websocket ``group`` once the current transaction commits."""
    # robust: a failed announcement (Redis away) must not fail work already committed.
    transaction.on_commit(lambda: _send_now(group, message), robust=True)


def _send_now(group: str, message: dict) -> None:
    if settings.CHANNEL_LAYER_SHARED:
        async_to_sync(get_channel_layer().group_send)(group, message)
    else:
        Broadcast.objects.create(group=group, message=message)


class Relay:
    """Copies outbox rows into this process's channel layer (one per process)."""

    def __init__(self):
        self.last_id: int | None = None
        self.task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        """Start the relay on the running event loop unless it already runs."""
        if settings.CHANNEL_LAYER_SHARED:
            return
        if self.task is not None and not self.task.done():
            return
        # A relay ends only with its event loop (a server has one for its life;
        # tests one per run): a new loop's relay starts from the newest row, not
        # from where a relay of an earlier loop stopped.
        self.last_id = None
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        layer = get_channel_layer()
        if self.last_id is None:
            self.last_id = await sync_to_async(_latest_id)()
        while True:
            try:
                rows = await sync_to_async(_rows_after)(self.last_id)
                for row_id, group, message in rows:
                    await layer.group_send(group, message)
                    self.last_id = row_id
            except Exception:  # keep relaying after a database hiccup
                logger.exception("broadcast relay failed; retrying")
            await asyncio.sleep(settings.BROADCAST_RELAY_INTERVAL)


def _latest_id() -> int:
    last = Broadcast.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def _rows_after(last_id: int):
    return list(
        Broadcast.objects.filter(id__gt=last_id)
        .order_by("id")
        .values_list("id", "group", "message")[:500]
    )


relay = Relay()


def purge_broadcasts(max_age_seconds: int = 3600) -> int:
    """Delete outbox rows older than ``max_age_seconds`` (relays read them within seconds)."""
    cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
    deleted, _ = Broadcast.objects.filter(created_at__lt=cutoff).delete()
    return deleted
