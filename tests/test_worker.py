"""A real Celery worker process runs the pipeline from the file-system broker (the embedded
mode), and its progress events reach a browser's websocket through the outbox relay."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from celery import Celery
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from classifiers.models import Detection
from surveys.models import Cluster, ImportRun
from surveys.taxonomy import SurveyStatus
from tests.conftest import subprocess_env, ws_headers
from tests.factories import SurveyFactory, member
from traptagger.asgi import application

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_LAYER = {
    "CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
    "CHANNEL_LAYER_SHARED": False,
    "BROADCAST_RELAY_INTERVAL": 0.2,
}


def filesystem_broker(folder: Path) -> dict:
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"), "store_processed": False}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_process_runs_pipeline_and_progress_reaches_browser(
        demo_source, demo_classifier, tmp_path):
    root, _ = demo_source
    survey = SurveyFactory(classifier=demo_classifier)
    viewer = member(survey.organisation, "read")
    run = ImportRun.objects.create(survey=survey, source=str(root))

    broker_dir = tmp_path / "broker"
    options = filesystem_broker(broker_dir)
    env = subprocess_env({"CELERY_BROKER_DIR": str(broker_dir)})
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "traptagger", "worker", "-Q",
         "default,import,gpu", "--pool", "solo", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--hostname", "test-worker@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    producer = Celery("producer", broker="filesystem://localhost/")
    producer.conf.broker_transport_options = options
    seen = []
    try:
        with override_settings(**EMBEDDED_LAYER):
            channel_layers.backends = {}
            comm = WebsocketCommunicator(application, f"/ws/surveys/{survey.pk}/",
                                         headers=ws_headers(viewer))

            async def follow():
                assert (await comm.connect())[0]
                seen.append(await comm.receive_json_from(timeout=10))
                await asyncio.sleep(0.5)  # let the relay note where the outbox ends
                producer.send_task("surveys.run_import", args=[run.pk], queue="import")
                deadline = asyncio.get_running_loop().time() + 300
                while asyncio.get_running_loop().time() < deadline:
                    # One wait per event: a communicator that times out cancels the
                    # consumer, so a short wait retried would end the test's socket. A
                    # busy machine can be quiet for a while between stages.
                    try:
                        event = await comm.receive_json_from(timeout=90)
                    except TimeoutError:
                        raise AssertionError(
                            "no event for 90 s; the worker "
                            + ("died" if worker.poll() is not None else "is still running")
                            + f"; events so far: {[e.get('type') for e in seen]}") from None
                    seen.append(event)
                    if event.get("type") == "survey.status" and event["status"] in (
                            SurveyStatus.READY, SurveyStatus.FAILED):
                        break
                await comm.disconnect()

            async_to_sync(follow)()
            channel_layers.backends = {}
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.READY, (survey.status_detail, worker_log)
    assert Cluster.objects.filter(survey=survey).count() == 16
    assert not Detection.objects.filter(image__cluster__survey=survey,
                                        classification="").exists()
    kinds = [e["type"] for e in seen]
    assert "import.progress" in kinds and "stage.progress" in kinds
    stages = [e["status"] for e in seen if e["type"] == "survey.status"]
    assert stages[-5:] == ["clustering", "detecting", "static", "classifying", "ready"], stages
