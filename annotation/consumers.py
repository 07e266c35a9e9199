"""Websocket entry point of the tagging page (protocol: events.py)."""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async

from core.consumers import (
    MAX_ID,
    BadMessage,
    MemberConsumer,
    RateLimit,
    parse_id,
    parse_message,
    refuse,
)

from . import events
from .exceptions import AnnotationError, NotAllowed
from .selectors import annotatable_task, cluster_payload, task_progress
from .services import ai_check, leases
from .taxonomy import AI_VERDICTS

logger = logging.getLogger(__name__)
# A page sends a message per key press and a heartbeat every 30 s; people
# press at most a few keys a second.
RATE_PER_SECOND, RATE_BURST, RATE_LIMIT_CLOSE_AFTER = 10, 30, 200
MAX_LABELS = 50


class TaggingConsumer(MemberConsumer):
    """One annotator on one task: offers clusters, takes labels.

    Stops (4401/4403) when the session logs out or the annotator loses the
    task (core.consumers.MemberConsumer); its leases go back whenever it ends.
    """

    async def connect(self):
        self.user = self.scope.get("user")
        self.task = None
        self.leases: set[str] = set()  # tokens of the leases this page was given
        self.pace = RateLimit(RATE_PER_SECOND, RATE_BURST)
        if self.user is None or not self.user.is_authenticated:
            await refuse(self, 4401)
            return
        task_id = self.scope["url_route"]["kwargs"]["task_id"]
        self.task = await database_sync_to_async(annotatable_task)(self.user, task_id)
        if self.task is None:
            await refuse(self, 4403)
            return
        self.organisation_id = self.task.survey.organisation_id
        await self.join_member_groups()
        await self.accept()

    async def still_allowed(self) -> bool:
        return await database_sync_to_async(annotatable_task)(self.user, self.task.pk) is not None

    async def release(self):
        if self.task is not None and self.leases:
            tokens, self.leases = self.leases, set()
            await database_sync_to_async(leases.release_leases)(self.user, self.task.pk, tokens)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Every frame: paced, parsed, dispatched. Bad input gets an ``error``, not a close."""
        if not self.pace.allow():
            if self.pace.refused > RATE_LIMIT_CLOSE_AFTER:
                await self.send_json(events.error("Too many messages; closing."))
                await self.close(code=4008)
                return
            await self.send_json(events.error("Too many messages; slow down."))
            return
        try:
            content = parse_message(text_data, bytes_data)
            await self.receive_json(content)
        except BadMessage as exc:
            await self.send_json(events.error(str(exc)))
        except Exception:
            # An unexpected failure closes the socket (1011); the page's
            # clusters go back at once (MemberConsumer's wind-up releases them).
            logger.exception("tagging socket of user %s failed", getattr(self.user, "pk", None))
            raise

    async def receive_json(self, content, **kwargs):
        kind = content["type"]
        if kind == "cluster.request":
            await self.offer_next()
        elif kind == "label.submit":
            await self.submit(content)
        elif kind == "heartbeat":
            await database_sync_to_async(leases.extend_lease)(
                self.user, parse_id(content.get("annotation_id")), str(content.get("lease", ""))
            )
        else:
            await self.send_json(events.error(f"Unknown message type {kind[:40]!r}."))

    async def submit(self, content):
        raw_id = content.get("annotation_id")
        try:
            raw_labels = content.get("labels")
            if not isinstance(raw_labels, list) or len(raw_labels) > MAX_LABELS:
                raise BadMessage(f"labels must be a list of at most {MAX_LABELS} ids")
            annotation_id = parse_id(raw_id)
            label_ids = [parse_id(x) for x in raw_labels]
            note = content.get("note", "")
            if not isinstance(note, str):
                raise BadMessage("note must be text")
            lease = content.get("lease", "")
            if not isinstance(lease, str):
                raise BadMessage("lease must be text")
            verdict = content.get("verdict")
            if verdict is not None and verdict not in AI_VERDICTS:
                raise BadMessage("verdict must be accepted, rejected or other")
        except BadMessage as exc:
            refused_id = raw_id if type(raw_id) is int and 0 < raw_id <= MAX_ID else None
            await self.send_json(events.label_refused(refused_id, str(exc)))
            return
        try:
            if verdict is None:
                await database_sync_to_async(leases.do_save_labels)(
                    self.task, self.user, annotation_id=annotation_id,
                    token=lease, label_ids=label_ids, note=note,
                )
            else:  # the AI-check level
                await database_sync_to_async(ai_check.do_save_check)(
                    self.task, self.user, annotation_id=annotation_id, token=lease,
                    verdict=verdict, label_ids=label_ids, note=note,
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
    # Progress at the task's level as it is now (an admin may have moved it on): the
    # claimed annotation carries the task as the claim read it.
    if annotation is not None:
        task = annotation.task
    else:
        task.refresh_from_db(fields=["tagging_level"])
    progress = task_progress(task)
    if annotation is None:
        return events.task_finished(progress)
    return events.cluster_offered(cluster_payload(annotation), progress)
