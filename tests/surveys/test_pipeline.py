"""The pipeline conductor: stage claims, the one status writer, resuming dead work."""

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from surveys import tasks as survey_tasks
from surveys.models import Cluster, Image, ImportRun, Survey
from surveys.services import clustering, importing, pipeline
from surveys.taxonomy import ImportStatus, SurveyStatus
from tests.conftest import ws_headers
from tests.factories import CameraFactory, SurveyFactory, member
from traptagger.asgi import application
from traptagger.celery import app as celery_app


def survey_waiting_for_clustering(images: int = 6) -> Survey:
    camera = CameraFactory()
    start = datetime(2024, 7, 1, 6, 0, tzinfo=UTC)
    Image.objects.bulk_create([
        Image(camera=camera, filename=f"IMG_{n:04}.JPG", key=f"k{n}", content_hash=f"h{n}",
              timestamp=start + timedelta(minutes=10 * n),
              corrected_timestamp=start + timedelta(minutes=10 * n))
        for n in range(images)
    ])
    survey = camera.site.survey
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.CLUSTERING)
    return survey


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_one_stage_at_once_run_it_once(monkeypatch):
    """Late acks can deliver a stage twice; the second delivery must not cluster again."""
    survey = survey_waiting_for_clustering()
    real = clustering.do_cluster_survey
    entered = []
    other_returned = threading.Event()

    def slow_clustering(s, **kwargs):
        entered.append(threading.get_ident())
        # Hold the stage until the other delivery has come and gone (or 3 s).
        other_returned.wait(timeout=3)
        return real(s, **kwargs)

    monkeypatch.setattr(clustering, "do_cluster_survey", slow_clustering)
    results = {}

    def deliver(name, returned=None):
        try:
            results[name] = survey_tasks.cluster_survey_task(survey.pk)
        finally:
            connection.close()
            if returned is not None:
                returned.set()

    first = threading.Thread(target=deliver, args=("first",))
    first.start()
    for _ in range(1000):  # until the first delivery is inside the stage
        if entered or not first.is_alive():
            break
        threading.Event().wait(0.01)
    second = threading.Thread(target=deliver, args=("second", other_returned))
    second.start()
    second.join(10)
    first.join(10)

    assert results == {"first": True, "second": False}
    assert len(entered) == 1
    assert Cluster.objects.filter(survey=survey).count() == 6  # one per image, not twelve
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.DETECTING
    assert survey.stage_heartbeat_at is None  # the next stage is unclaimed


@pytest.mark.django_db
def test_a_stage_delivered_after_it_finished_does_nothing():
    survey = survey_waiting_for_clustering(3)
    assert survey_tasks.cluster_survey_task(survey.pk) is True
    assert survey_tasks.cluster_survey_task(survey.pk) is False
    assert Cluster.objects.filter(survey=survey).count() == 3


@pytest.mark.django_db
def test_stale_claim_is_taken_over_and_the_sweep_resends_it(
        django_capture_on_commit_callbacks, monkeypatch):
    survey = survey_waiting_for_clustering(2)
    assert pipeline.claim_stage(survey.pk, SurveyStatus.CLUSTERING) is not None
    # A live claim: neither a second claim nor the sweep touches it.
    assert pipeline.claim_stage(survey.pk, SurveyStatus.CLUSTERING) is None
    assert pipeline.resume_stale_stages() == []
    # Its worker dies: the heartbeat stops.
    Survey.objects.filter(pk=survey.pk).update(
        stage_heartbeat_at=timezone.now() - timedelta(seconds=settings.PIPELINE_STALE_SECONDS + 5))
    sent = []

    class Recorder:
        def __init__(self, name, **options):
            self.name, self.options = name, options

        def apply_async(self):
            sent.append((self.name, self.options["args"], self.options["queue"]))

    monkeypatch.setattr(celery_app, "signature", Recorder)
    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.resume_stale_stages() == [survey.pk]
    assert sent == [("surveys.cluster_survey", (survey.pk,), "default")]
    assert pipeline.claim_stage(survey.pk, SurveyStatus.CLUSTERING) is not None


@pytest.mark.django_db
def test_transition_is_conditional():
    survey = SurveyFactory(status=SurveyStatus.DETECTING)
    assert not pipeline.do_transition(survey, SurveyStatus.CLUSTERING, SurveyStatus.READY)
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.DETECTING
    assert pipeline.do_transition(survey, SurveyStatus.DETECTING, SurveyStatus.READY)
    assert Survey.objects.get(pk=survey.pk).status == SurveyStatus.READY


@pytest.mark.django_db
def test_stage_order_skips_classification_without_a_classifier(demo_classifier):
    survey = SurveyFactory()
    assert pipeline.next_stage(survey, SurveyStatus.DETECTING).status == SurveyStatus.STATIC
    assert pipeline.next_stage(survey, SurveyStatus.STATIC).status == SurveyStatus.READY
    survey.classifier = demo_classifier
    assert pipeline.next_stage(survey, SurveyStatus.STATIC).status == SurveyStatus.CLASSIFYING
    assert pipeline.next_stage(survey, SurveyStatus.IMPORTING).task == "surveys.cluster_survey"


@pytest.mark.django_db(transaction=True)
def test_a_failed_import_reaches_the_progress_websocket(demo_source, monkeypatch):
    root, _ = demo_source
    survey = SurveyFactory()
    user = member(survey.organisation, "read")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importing, "_save_exactly", disk_full)
    overrides = {"CHANNEL_LAYERS": {"default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer"}},
        "CHANNEL_LAYER_SHARED": False, "BROADCAST_RELAY_INTERVAL": 0.05}
    with override_settings(**overrides):
        channel_layers.backends = {}
        comm = WebsocketCommunicator(application, f"/ws/surveys/{survey.pk}/",
                                     headers=ws_headers(user))

        async def run():
            from channels.db import database_sync_to_async

            connected, _ = await comm.connect()
            assert connected
            assert (await comm.receive_json_from(timeout=5))["status"] == SurveyStatus.NEW

            def start_and_run():
                run = importing.do_start_import(survey, str(root))
                with pytest.raises(OSError):
                    importing.do_run_import(run)

            await database_sync_to_async(start_and_run)()
            seen = []
            while not seen or seen[-1].get("status") != SurveyStatus.FAILED:
                seen.append(await comm.receive_json_from(timeout=10))
            await comm.disconnect()
            return seen

        seen = async_to_sync(run)()
        channel_layers.backends = {}
    statuses = [m["status"] for m in seen if m["type"] == "survey.status"]
    assert statuses == [SurveyStatus.IMPORTING, SurveyStatus.FAILED]
    assert "No space left on device" in seen[-1]["detail"]
    assert seen[-1]["label"] == "Failed"
    assert ImportRun.objects.get(survey=survey).status == ImportStatus.FAILED


class _ClosingHandler(logging.Handler):
    """Like absl's handler: closing it closes the stream it was given."""

    closed = False

    def emit(self, record):
        pass

    def close(self):
        self.closed = True
        super().close()


def test_starting_a_task_by_name_closes_no_logging_handler():
    """Finding the task modules outside a worker must not re-run django.setup().

    Its LOGGING dictConfig closes every handler the process ever made; absl's
    (made when TensorFlow is imported) then closes the sys.stderr of that
    moment, and under pytest that killed the run ("lost sys.stderr").
    """
    handler = _ClosingHandler()
    try:
        pipeline._signature("surveys.not_a_task")  # unknown: discovery runs every time
        assert not handler.closed
        assert "surveys.cluster_survey" in celery_app.tasks
    finally:
        handler.close()
