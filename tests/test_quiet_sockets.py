"""Websockets stay up when they are quiet, on the real Redis channel layer.

The pinned redis client times socket reads out after 5 s by default, as long
as channels-redis blocks waiting for a message: without the project's Redis
options a socket idle for 5 s was closed with 1011.
"""

import asyncio
import os

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from annotation.models import ClusterAnnotation, Label
from core.broadcast import broadcast
from surveys.events import survey_group
from tests.annotation.helpers import annotator_for, launched_task
from tests.conftest import redis_up, ws_headers
from traptagger import redis_config
from traptagger.asgi import application

QUIET_SECONDS = 12


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0") if redis_up() else None


def test_redis_options_outlast_the_longest_blocking_wait():
    from channels_redis.core import RedisChannelLayer

    assert RedisChannelLayer.brpop_timeout <= redis_config.LONGEST_BLOCKING_WAIT
    host = redis_config.channel_layer("redis://127.0.0.1:6379/0", "p")["CONFIG"]["hosts"][0]
    assert host["socket_timeout"] is None  # no read deadline on the layer's blocking reads
    assert host["socket_keepalive"] and host["health_check_interval"] > 0
    broker = redis_config.broker_transport_options()
    assert broker["socket_timeout"] >= 10 * 1  # kombu blocks 1 s per read
    assert broker["visibility_timeout"] > 12 * 3600 + 600  # the longest task's hard limit


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_quiet_tagging_and_progress_sockets_survive_on_redis():
    url = redis_url()
    if url is None:
        pytest.skip("no Redis on 127.0.0.1:6379")
    task = launched_task(3)
    annotator = annotator_for(task)
    watcher = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra")
    layers = {"default": redis_config.channel_layer(url, prefix="tt-quiet-test")}
    with override_settings(CHANNEL_LAYERS=layers, CHANNEL_LAYER_SHARED=True):
        channel_layers.backends = {}
        tagging = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                        headers=ws_headers(annotator))
        progress = WebsocketCommunicator(application, f"/ws/surveys/{task.survey_id}/",
                                         headers=ws_headers(watcher))

        async def run():
            from channels.db import database_sync_to_async

            assert (await tagging.connect())[0] and (await progress.connect())[0]
            assert (await progress.receive_json_from(timeout=5))["type"] == "survey.status"
            await tagging.send_json_to({"type": "cluster.request"})
            offered = await tagging.receive_json_from(timeout=5)
            assert offered["type"] == "cluster.offered"
            # Both pages stay quiet for longer than the old 5 s read timeout.
            await asyncio.sleep(QUIET_SECONDS)
            await tagging.send_json_to({
                "type": "label.submit", "annotation_id": offered["annotation_id"],
                "lease": offered["lease"], "labels": [zebra.pk],
            })
            saved = await tagging.receive_json_from(timeout=5)
            following = await tagging.receive_json_from(timeout=5)
            await database_sync_to_async(broadcast)(survey_group(task.survey_id), {
                "type": "import.progress", "survey_id": task.survey_id, "processed": 1})
            event = await progress.receive_json_from(timeout=5)
            await tagging.disconnect()
            await progress.disconnect()
            return saved, following, event

        saved, following, event = async_to_sync(run)()
        channel_layers.backends = {}
    assert saved["type"] == "label.saved"
    assert following["type"] == "cluster.offered"
    assert following["annotation_id"] != saved["annotation_id"]
    assert event["type"] == "import.progress"
    assert ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False).count() == 1
