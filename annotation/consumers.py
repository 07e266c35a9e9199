"""Websocket entry point of the tagging page (protocol: events.py)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.consumers import refuse

from . import events
from .exceptions import AnnotationError, NotAllowed
from .selectors import annotatable_task, cluster_payload, task_progress
from .services import leases


class TaggingConsumer(AsyncJsonWebsocketConsumer):
    """One annotator on one task: offers clusters, takes labels."""

    async def connect(self):
        self.user = self.scope.get("user")
        self.task = None
        self.leases: set[str] = set()  # tokens of the leases this page was given
        if self.user is None or not self.user.is_authenticated:
            await refuse(self, 4401)
            return
        task_id = self.scope["url_route"]["kwargs"]["task_id"]
        self.task = await database_sync_to_async(annotatable_task)(self.user, task_id)
        if self.task is None:
            await refuse(self, 4403)
            return
        await self.accept()

    async def disconnect(self, code):
        if self.task is not None:
            await database_sync_to_async(leases.release_leases)(
                self.user, self.task.pk, self.leases)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "cluster.request":
            await self.offer_next()
        elif kind == "label.submit":
            await self.submit(content)
        elif kind == "heartbeat":
            await database_sync_to_async(leases.extend_lease)(
                self.user, _int(content.get("annotation_id")), str(content.get("lease", ""))
            )
        else:
            await self.send_json(events.error(f"Unknown message type {kind!r}."))

    async def submit(self, content):
        annotation_id = _int(content.get("annotation_id"))
        raw_labels = content.get("labels")
        if not isinstance(raw_labels, list):
            await self.send_json(events.label_refused(annotation_id, "labels must be a list"))
            return
        label_ids = [i for i in (_int(x) for x in raw_labels) if i is not None]
        try:
            await database_sync_to_async(leases.do_save_labels)(
                self.task, self.user, annotation_id=annotation_id,
                token=str(content.get("lease", "")), label_ids=label_ids,
                note=str(content.get("note", "")),
            )
        except AnnotationError as exc:
            await self.send_json(events.label_refused(annotation_id, str(exc)))
        else:
            await self.send_json(events.label_saved(annotation_id, label_ids))
        await self.offer_next()

    async def offer_next(self):
        try:
            message = await database_sync_to_async(_next_message)(self.task, self.user)
        except NotAllowed as exc:
            await self.send_json(events.error(str(exc)))
            await self.close(code=4403)
            return
        if message.get("lease"):
            self.leases.add(message["lease"])
        await self.send_json(message)


def _next_message(task, user) -> dict:
    annotation = leases.claim_next_cluster(task, user)
    progress = task_progress(task)
    if annotation is None:
        return events.task_finished(progress)
    return events.cluster_offered(cluster_payload(annotation), progress)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
