"""Websocket entry points: the tagging page and survey progress."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from surveys.events import status_message, survey_group
from surveys.selectors import survey_for_member
from traptagger.broadcast import relay

from . import events
from .exceptions import AnnotationError, NotAllowed
from .selectors import annotatable_task, cluster_payload, task_progress
from .services import leases


async def refuse(consumer, code: int) -> None:
    """Accept then close, so that the browser sees why (4401 log in, 4403 not allowed).

    Closing before accepting would reject the handshake and lose the code.
    """
    await consumer.accept()
    await consumer.close(code=code)


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


class SurveyProgressConsumer(AsyncJsonWebsocketConsumer):
    """Import and AI progress of one survey, for its organisation's members."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await refuse(self, 4401)
            return
        survey_id = self.scope["url_route"]["kwargs"]["survey_id"]
        survey = await database_sync_to_async(survey_for_member)(user, survey_id)
        if survey is None:
            await refuse(self, 4403)
            return
        self.group = survey_group(survey.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        relay.ensure_running()
        await self.accept()
        await self.send_json(status_message(survey))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # Group messages are relayed to the browser as they are.
    async def import_progress(self, event):
        await self.send_json(event)

    async def survey_status(self, event):
        await self.send_json(event)

    async def ai_progress(self, event):
        await self.send_json(event)
