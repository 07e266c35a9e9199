"""Websocket entry point of the tagging page (protocol: events.py)."""

from __future__ import annotations

import logging

from django.conf import settings

from core.consumers import (
    MAX_ID,
    BadMessage,
    MemberConsumer,
    RateLimit,
    parse_id,
    parse_message,
    refuse,
)
from core.db_threads import in_db_thread

from . import events
from .exceptions import AnnotationError, NotAllowed
from .selectors import annotatable_task, cluster_payload
from .services import ai_check, leases
from .services.progress import progress_of
from .taxonomy import AI_VERDICTS

logger = logging.getLogger(__name__)
# A page sends a message per key press and a heartbeat every 30 s; people
# press at most a few keys a second.
RATE_PER_SECOND, RATE_BURST, RATE_LIMIT_CLOSE_AFTER = 10, 30, 200
MAX_LABELS = 50
MAX_SECONDS = 86_400  # a label's time on the screen, as the page measured it
# A page holds at most a window (≤ 5) of clusters plus labels not yet acknowledged.
MAX_KEEP = 20


class TaggingConsumer(MemberConsumer):
    """One annotator on one task: keeps a window of clusters leased ahead, takes labels.

    ``window`` holds the clusters this page was offered and has not answered
    (annotation id → lease token). ``size`` is how many it may hold: 1 (a
    client labelling one cluster at a time), or ANNOTATION_PREFETCH_WINDOW
    once the page asked for prefetch in its ``cluster.request``.

    Stops (4401/4403) when the session logs out or the annotator loses the
    task (core.consumers.MemberConsumer); its leases go back whenever it ends.

    The right to annotate, the task's labels and the survey's box relevance are
    read once, at connect (``leases.Labeller``); each write still carries the access
    check in its own statement. Database work runs on the pool of
    core.db_threads, so one process serves many sockets' labels at once.
    """

    async def connect(self):
        self.user = self.scope.get("user")
        self.task = None
        self.window: dict[int, str] = {}
        self.size = 1
        self.pace = RateLimit(RATE_PER_SECOND, RATE_BURST)
        if self.user is None or not self.user.is_authenticated:
            await refuse(self, 4401)
            return
        task_id = self.scope["url_route"]["kwargs"]["task_id"]
        self.labeller = await in_db_thread(leases.open_labeller, self.user, task_id)
        if self.labeller is None:
            await refuse(self, 4403)
            return
        self.task = self.labeller.task
        self.organisation_id = self.task.survey.organisation_id
        await self.join_member_groups()
        await self.accept()

    async def still_allowed(self) -> bool:
        return await in_db_thread(annotatable_task, self.user, self.task.pk) is not None

    async def release(self, tokens=None):
        """Give back ``tokens`` (default: the whole window, after a grace if the socket
        dropped: the page reconnects and resends its labels within it)."""
        grace = settings.LEASE_RELEASE_GRACE_SECONDS if tokens is None and self.dropped else 0
        tokens = list(getattr(self, "window", {}).values()) if tokens is None else tokens
        if getattr(self, "task", None) is not None and tokens:
            await in_db_thread(leases.release_leases, self.user, self.task.pk, tokens,
                               grace_seconds=grace)

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
            await self.request(content)
        elif kind == "label.submit":
            await self.submit(content)
        elif kind == "heartbeat":
            parse_id(content.get("annotation_id"))
            # The whole window: clusters waiting in the page's queue must not expire either.
            tokens = {*self.window.values(), str(content.get("lease", ""))[:64]}
            await in_db_thread(leases.extend_leases, self.user, self.task.pk, tokens)
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
            seconds = content.get("seconds")
            if seconds is not None and (type(seconds) not in (int, float)
                                        or not 0 <= seconds <= MAX_SECONDS):
                raise BadMessage(f"seconds must be a number from 0 to {MAX_SECONDS}")
        except BadMessage as exc:
            refused_id = raw_id if type(raw_id) is int and 0 < raw_id <= MAX_ID else None
            await self.send_json(events.label_refused(refused_id, str(exc)))
            return
        try:
            if verdict is None:
                await in_db_thread(
                    leases.do_label, self.labeller, annotation_id=annotation_id,
                    token=lease, label_ids=label_ids, note=note, seconds=seconds,
                )
            else:  # the AI-check level
                await in_db_thread(
                    ai_check.do_save_check, self.labeller.task, self.user,
                    annotation_id=annotation_id, token=lease, verdict=verdict,
                    label_ids=label_ids, note=note,
                )
        except AnnotationError as exc:
            await self.send_json(events.label_refused(annotation_id, str(exc)))
            # The page moved on from this cluster: if its lease is still ours, it goes
            # back to the pool now rather than sitting in a window nobody will label.
            if self.window.get(annotation_id) == lease:
                await self.release([self.window.pop(annotation_id)])
        else:
            self.window.pop(annotation_id, None)
            await self.send_json(events.label_saved(annotation_id, label_ids))
        await self.top_up()

    async def request(self, content):
        """The page (re)joins: keep the clusters it holds, withdraw the lost, fill the window."""
        keep = content.get("keep", [])
        if not isinstance(keep, list) or len(keep) > MAX_KEEP:
            raise BadMessage(f"keep must be a list of at most {MAX_KEEP} clusters")
        held = {}
        for item in keep:
            if not isinstance(item, dict) or not isinstance(item.get("lease"), str):
                raise BadMessage("keep holds {annotation_id, lease} objects")
            held[parse_id(item.get("annotation_id"))] = item["lease"][:64]
        self.size = settings.ANNOTATION_PREFETCH_WINDOW if content.get("prefetch") is True else 1
        dropped = [t for pk, t in self.window.items() if held.get(pk) != t]
        if dropped:  # leases this socket gave out that the page says it no longer holds
            await self.release(dropped)
        try:
            offer, kept = await in_db_thread(_resume, self.labeller, held, self.size)
        except NotAllowed as exc:
            await self.stop(exc)
            return
        self.window = {pk: held[pk] for pk in kept}
        for pk in held.keys() - kept:
            await self.send_json(events.cluster_withdrawn(
                pk, "A cluster you held while the connection was down is no longer yours "
                    "(someone else took it, or it is done); it was taken off your queue."))
        await self.offer(offer)

    async def top_up(self):
        """After a label: lease clusters until the window is full again."""
        if len(self.window) >= self.size:
            return
        try:
            offer = await in_db_thread(leases.top_up, self.labeller,
                                       self.size - len(self.window), list(self.window))
        except NotAllowed as exc:
            await self.stop(exc)
            return
        await self.offer(offer)

    async def offer(self, offer: leases.Offer):
        """Send the clusters offered (or, with none, the progress or the end) to the page."""
        self.task = offer.task
        for payload in offer.payloads:
            self.window[payload["annotation_id"]] = payload["lease"]
        if offer.payloads:
            messages = [events.cluster_offered(p, offer.progress) for p in offer.payloads]
        elif self.window:
            messages = [events.task_progress(offer.progress)]
        else:
            messages = [events.task_finished(offer.progress)]
        for message in messages:
            await self.send_json(message)

    async def stop(self, exc: NotAllowed):
        await self.send_json(events.error(str(exc)))
        await self.close(code=4403)


def _resume(labeller: leases.Labeller, held: dict[int, str], size: int
            ) -> tuple[leases.Offer, set[int]]:
    """A page (re)joins: leases.resume_window, with the payloads and progress of an offer."""
    task, kept, claimed = leases.resume_window(labeller.task, labeller.user, held, size)
    labeller.task = task
    return leases.Offer(task=task, payloads=[cluster_payload(a) for a in claimed],
                        progress=progress_of(task)), kept
