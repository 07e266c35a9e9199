"""Imports share the import workers: slices that go to the back of the queue, slots per
organisation, tickets that void old messages (surveys.services.import_queue)."""

import random
from datetime import datetime, timedelta

import pytest
from celery import current_app as celery_app
from django.conf import settings
from django.utils import timezone

from surveys.models import Image, ImportRun
from surveys.selectors import import_run_state
from surveys.services import import_queue
from surveys.services.importing import do_run_import, resume_stale_imports
from surveys.taxonomy import ImportStatus
from tests.factories import SurveyFactory
from training.synthetic import jpeg_bytes, scene

pytestmark = pytest.mark.django_db


def photo(n: int) -> bytes:
    img, _ = scene(random.Random(n), "Zebra", 96, 72)
    return jpeg_bytes(img, datetime(2024, 5, 1, 8, 0, n))


@pytest.fixture
def sent(monkeypatch):
    """The messages the code under test sends: (task, args, options)."""
    messages = []

    class Recorder:
        def __init__(self, name, **options):
            self.name, self.options = name, options

        def apply_async(self, **later):
            messages.append((self.name, tuple(self.options["args"]), later))

    monkeypatch.setattr(celery_app, "signature", Recorder)
    return messages


def test_a_long_import_goes_to_the_back_of_the_queue_after_each_slice(
        tmp_path, settings, sent, django_capture_on_commit_callbacks):
    settings.IMPORT_BATCH_SIZE = 2
    settings.IMPORT_SLICE_SECONDS = 0  # one batch a slice
    src = tmp_path / "src" / "Site1"
    src.mkdir(parents=True)
    for n in range(5):
        (src / f"IMG_{n}.jpg").write_bytes(photo(n))
    (src / "IMG_9.jpg").write_bytes(b"not a jpeg")  # an issue, recorded once
    (src / "bad\x07.jpg").write_bytes(photo(8))  # refused by name, recorded once
    run = ImportRun.objects.create(survey=SurveyFactory(), source=str(src.parent))
    ticket, slices = run.ticket, 0
    while True:
        with django_capture_on_commit_callbacks(execute=True):
            assert do_run_import(run, ticket=ticket) is True
        slices += 1
        run.refresh_from_db()
        if run.status == ImportStatus.DONE:
            break
        # Back to pending, at the back of the queue, under a new ticket.
        assert run.status == ImportStatus.PENDING and run.ticket == ticket + 1
        assert sent[-1] == ("surveys.run_import", (run.pk, run.ticket), {})
        assert import_run_state(run) == (
            f"Queued for its next turn ({run.processed} of 6 files done)")
        # The old message (a re-delivery) finds nothing to do.
        assert do_run_import(run, ticket=ticket) is False
        ticket = run.ticket
    assert slices == 3
    assert (run.total, run.processed, run.imported) == (6, 6, 5)
    assert Image.objects.filter(camera__site__survey=run.survey).count() == 5
    assert sorted(run.issues.values_list("path", flat=True)) == ["Site1/IMG_9.jpg",
                                                                   "Site1/bad\x07.jpg"]


def test_an_organisation_holds_at_most_its_slots(tmp_path, settings, sent,
                                                 django_capture_on_commit_callbacks):
    settings.IMPORT_SLOTS_PER_ORGANISATION = 1
    (tmp_path / "src").mkdir()
    survey_a = SurveyFactory()
    busy = ImportRun.objects.create(survey=survey_a, source=str(tmp_path / "src"),
                                    status=ImportStatus.RUNNING, heartbeat_at=timezone.now())
    waiting = ImportRun.objects.create(survey=SurveyFactory(organisation=survey_a.organisation),
                                       source=str(tmp_path / "src"))
    other = ImportRun.objects.create(survey=SurveyFactory(), source=str(tmp_path / "src"))
    with django_capture_on_commit_callbacks(execute=True):
        assert import_queue.claim(waiting.pk, 0) is import_queue.Claim.DEFERRED
    waiting.refresh_from_db()
    assert waiting.status == ImportStatus.PENDING and waiting.ticket == 1
    assert sent == [("surveys.run_import", (waiting.pk, 1),
                     {"countdown": settings.IMPORT_DEFER_SECONDS})]
    # Another organisation is not held up by it.
    assert import_queue.claim(other.pk, 0) is import_queue.Claim.CLAIMED
    # A silent run does not hold its slot.
    ImportRun.objects.filter(pk=busy.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PIPELINE_STALE_SECONDS + 5))
    assert import_queue.claim(waiting.pk, 1) is import_queue.Claim.CLAIMED
    # Inline (one process, no one to share with) ignores the slots.
    third = ImportRun.objects.create(survey=survey_a, source=str(tmp_path / "src"))
    assert import_queue.claim(third.pk, 0, inline=True) is import_queue.Claim.CLAIMED


def test_sweep_resends_lost_runs_keeping_their_ticket(tmp_path, sent,
                                                      django_capture_on_commit_callbacks):
    old = timezone.now() - timedelta(seconds=settings.PIPELINE_STALE_SECONDS + 5)
    survey = SurveyFactory()
    between = ImportRun.objects.create(survey=survey, source=str(tmp_path), ticket=4,
                                       status=ImportStatus.PENDING, heartbeat_at=old)
    silent = ImportRun.objects.create(survey=survey, source=str(tmp_path), ticket=2,
                                      status=ImportStatus.RUNNING, heartbeat_at=old)
    ImportRun.objects.create(survey=survey, source=str(tmp_path))  # queued, never started
    ImportRun.objects.create(survey=survey, source=str(tmp_path), status=ImportStatus.RUNNING,
                             heartbeat_at=timezone.now())  # alive
    with django_capture_on_commit_callbacks(execute=True):
        assert sorted(resume_stale_imports()) == sorted([between.pk, silent.pk])
    assert sorted(args for _name, args, _later in sent) == sorted(
        [(between.pk, 4), (silent.pk, 2)])
    assert import_queue.claim(silent.pk, 2) is import_queue.Claim.TAKEN_OVER
