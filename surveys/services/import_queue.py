"""How imports share the ``import`` workers, so that one organisation cannot stall another's.

Three rules, together:

* **Slices.** An import task works for at most ``IMPORT_SLICE_SECONDS`` (checked
  between batches of ``IMPORT_BATCH_SIZE`` files), then records where it got
  to (``ImportRun.cursor``), puts the run back to *pending* and sends itself to
  the back of the ``import`` queue. Work queued meanwhile by anyone else runs
  before the next slice: a 100,000-file import and a 50-file one take turns.
  Each file's work is bounded too (read deadline, size cap, and user regexes
  by ``USER_REGEX_TIMEOUT_SECONDS``), so a slice cannot run long.
* **Slots per organisation.** At most ``IMPORT_SLOTS_PER_ORGANISATION`` runs of
  one organisation hold an import worker at once; a slice that finds its
  organisation's slots full is sent again after ``IMPORT_DEFER_SECONDS``
  without taking a worker. With more import workers than that, another
  organisation always finds one free. The count is taken with the
  organisation's row locked, so two workers cannot both take the last slot.
* **Tickets.** Every message carries the run's ticket; ending a slice or
  deferring moves the ticket on, so a stray copy of an old message (Redis
  re-delivery, the beat sweep's re-send) finds nothing to do instead of
  starting a second chain of slices for the same run.

Celery's side (settings): ``worker_prefetch_multiplier = 1`` and
``task_acks_late`` (a worker reserves one message at a time and a killed
worker's message is not lost), and the import task's time limits.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Organisation

from ..models import ImportRun
from ..taxonomy import ImportStatus
from . import pipeline


class Claim(Enum):
    NOT_OURS = "not ours"  # finished, running elsewhere, or an old ticket
    DEFERRED = "deferred"  # the organisation's slots are full; sent again later
    CLAIMED = "claimed"
    TAKEN_OVER = "taken over"  # a run whose worker went silent (it may have left files)


def send(run_id: int, ticket: int, *, countdown: float | None = None,
         inline: bool = False) -> None:
    """Start (a slice of) the run once the transaction commits."""
    pipeline.enqueue(pipeline.IMPORT_TASK, "import", run_id, ticket, inline=inline,
                     countdown=countdown)


def claim(run_id: int, ticket: int | None, *, inline: bool = False) -> Claim:
    """Claim the run for this worker: PENDING → RUNNING, or take over a silent RUNNING run.

    ``ticket`` None (a message from before tickets) matches any. Not ``inline``,
    the organisation's slots are checked first (DEFERRED: the run is sent again
    after IMPORT_DEFER_SECONDS under a new ticket).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PIPELINE_STALE_SECONDS)
    rows = ImportRun.objects.filter(pk=run_id).filter(
        Q(status=ImportStatus.PENDING) | Q(status=ImportStatus.RUNNING, heartbeat_at__lt=stale))
    if ticket is not None:
        rows = rows.filter(ticket=ticket)
    with transaction.atomic():
        found = rows.values("status", "survey__organisation_id").first()
        if found is None:
            return Claim.NOT_OURS
        organisation_id = found["survey__organisation_id"]
        if not inline:
            # Serialises the claims of one organisation's runs (MariaDB row lock).
            list(Organisation.objects.select_for_update().filter(pk=organisation_id)
                 .values_list("pk", flat=True))
            busy = ImportRun.objects.filter(
                survey__organisation_id=organisation_id, status=ImportStatus.RUNNING,
                heartbeat_at__gte=stale).exclude(pk=run_id).count()
            if busy >= settings.IMPORT_SLOTS_PER_ORGANISATION:
                # A silent RUNNING run stays so (its takeover must know it may have
                # left files); a PENDING one is marked, so the sweep finds it if
                # this message is lost.
                pending = found["status"] == ImportStatus.PENDING
                new_ticket = _next_ticket(rows, run_id, heartbeat_at=now if pending
                                          else F("heartbeat_at"))
                if new_ticket is not None:
                    send(run_id, new_ticket, countdown=settings.IMPORT_DEFER_SECONDS)
                return Claim.DEFERRED
        updated = rows.update(
            status=ImportStatus.RUNNING, heartbeat_at=now,
            started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())))
    if not updated:
        return Claim.NOT_OURS
    return Claim.TAKEN_OVER if found["status"] == ImportStatus.RUNNING else Claim.CLAIMED


def end_slice(run: ImportRun) -> None:
    """The run's slice is over: back to PENDING and to the back of the queue (new ticket)."""
    with transaction.atomic():
        rows = ImportRun.objects.filter(pk=run.pk, status=ImportStatus.RUNNING)
        ticket = _next_ticket(rows, run.pk, status=ImportStatus.PENDING,
                              heartbeat_at=timezone.now())
        if ticket is not None:
            send(run.pk, ticket)


def _next_ticket(rows, run_id: int, **changes) -> int | None:
    """Move on the ticket of the run ``run_id`` if it is still in ``rows``, with
    ``changes``; its new ticket, or None when it is no longer there."""
    if not rows.update(ticket=F("ticket") + 1, **changes):
        return None
    return ImportRun.objects.filter(pk=run_id).values_list("ticket", flat=True).first()


def resend_stale() -> list[int]:
    """Send again every run whose worker or message went missing; return their ids.

    A RUNNING run whose worker went silent is taken over by the message; a
    PENDING run between slices (its heartbeat set) whose message was lost
    starts again. The run's ticket is kept, so an old copy still in the broker
    and this one cannot both run it.
    """
    stale = timezone.now() - timedelta(seconds=settings.PIPELINE_STALE_SECONDS)
    rows = list(ImportRun.objects.filter(
        status__in=[ImportStatus.RUNNING, ImportStatus.PENDING], heartbeat_at__lt=stale,
    ).values_list("pk", "ticket"))
    for run_id, ticket in rows:
        send(run_id, ticket)
    return [run_id for run_id, _ in rows]
