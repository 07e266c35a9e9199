"""Bringing a survey's content hashes to the current version (metadata-blind).

Images imported before ``HASH_VERSION`` 2 hold a hash that skipped only APP1
(EXIF/XMP); two copies of one photo that differ in an IPTC block or a comment
got different hashes. ``do_rehash_slice`` reads each such image's stored
original and writes its current hash, a batch at a time in pk order, each
batch in one transaction: a run cut off anywhere resumes where it stopped
(only images still of an older version are left to do), and a second run
changes nothing. Duplicates it uncovers are only reported
(``selectors.duplicate_images``); nothing is deleted, since labels may already
hang on either copy.

Until a survey is rehashed its imports still find its own files: the importer
compares a new file's version-1 hash with the images not yet rehashed
(``importing._Importer``), and skips files already imported by their storage
key before hashing at all, so a repeat import of the same source adds nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from accounts.access import check_capability
from accounts.taxonomy import Capability

from ..exceptions import UnreadableImage
from ..models import Image, Survey
from ..taxonomy import HASH_VERSION
from . import pipeline
from .images import content_hash

logger = logging.getLogger(__name__)
REHASH_TASK = "surveys.rehash_images"
BATCH_SIZE = 200


@dataclass
class RehashSlice:
    """What one slice did: images rehashed, where it stopped, and files it could not read."""

    rehashed: int = 0
    last_pk: int = 0
    finished: bool = False
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)


def stale_images(survey: Survey):
    """The survey's stored images whose hash is of an older version (remote ones have none)."""
    return (Image.objects.filter(camera__site__survey=survey, hash_version__lt=HASH_VERSION)
            .exclude(key=""))


def do_start_rehash(survey: Survey, *, acting_user=None) -> None:
    """Send the survey's rehash to the ``import`` queue once the transaction commits.

    ``acting_user`` needs CHANGE on the survey's organisation (AccessDenied);
    None is an operator at the command line. Safe to send twice: slices only
    touch images still of an older version.
    """
    if acting_user is not None:
        check_capability(acting_user, survey.organisation, Capability.CHANGE)
    pipeline.enqueue(REHASH_TASK, "import", survey.pk, 0)


def do_rehash_slice(survey: Survey, *, after_pk: int = 0, seconds: float | None = None,
                    batch_size: int = BATCH_SIZE, max_batches: int | None = None,
                    ) -> RehashSlice:
    """Rehash the survey's older-version images with pk above ``after_pk``, a batch at a time.

    Stops between batches once ``seconds`` have passed or ``max_batches`` are
    done (``finished`` False: call again with ``after_pk=last_pk``). An image
    whose original cannot be read keeps its old hash and is listed in
    ``unreadable``; the slice goes past it, so a run always ends.
    """
    ends = None if seconds is None else time.monotonic() + seconds
    done = RehashSlice(last_pk=after_pk)
    batches = 0
    while True:
        if (ends is not None and batches and time.monotonic() >= ends) or (
                max_batches is not None and batches >= max_batches):
            return done
        batch = list(stale_images(survey).filter(pk__gt=done.last_pk).order_by("pk")
                     .only("pk", "key", "content_hash")[:batch_size])
        if not batch:
            done.finished = True
            return done
        changed = []
        for image in batch:
            try:
                with default_storage.open(image.key, "rb") as handle:
                    image.content_hash = content_hash(handle.read())
            except (OSError, UnreadableImage) as exc:
                done.unreadable.append((image.key, f"cannot be rehashed: {exc}"))
                continue
            image.hash_version = HASH_VERSION
            changed.append(image)
        with transaction.atomic():
            Image.objects.bulk_update(changed, ["content_hash", "hash_version"])
        done.rehashed += len(changed)
        done.last_pk = batch[-1].pk
        batches += 1


def do_rehash_task_slice(survey: Survey, after_pk: int) -> RehashSlice:
    """One queued slice (IMPORT_SLICE_SECONDS long); sends the next one when work is left,
    to the back of the ``import`` queue so imports waiting there take their turn."""
    done = do_rehash_slice(survey, after_pk=after_pk, seconds=settings.IMPORT_SLICE_SECONDS)
    for key, reason in done.unreadable:
        logger.warning("survey %s: %s %s", survey.pk, key, reason)
    if not done.finished:
        pipeline.enqueue(REHASH_TASK, "import", survey.pk, done.last_pk)
    return done
