"""A tagging socket whose channel layer fails under it gives its clusters back promptly.

Redis is killed during a live session (a Redis of the test's own, on a free
port), or the layer's group operations raise: either way the socket ends and
another annotator is handed its cluster within the short grace a dropped socket
gets (LEASE_RELEASE_GRACE_SECONDS, for its page to reconnect and resend), or at
once when the page closed it, not when the lease runs out.
"""

import asyncio
import shutil
import socket
import subprocess
import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from django.utils import timezone

from annotation.models import ClusterAnnotation
from annotation.services import leases
from tests.annotation.helpers import annotator_for, launched_task
from tests.conftest import free_port, ws_headers
from traptagger import redis_config
from traptagger.asgi import application

pytestmark = [pytest.mark.hostile, pytest.mark.django_db(transaction=True)]
# The lease's own length is settings.CLUSTER_LEASE_SECONDS (minutes): "promptly" is
# the grace (set to GRACE here) plus the time the Redis client takes to give up on a
# dead server.
GRACE = 1
LEASE_BACK_WITHIN = GRACE + 5


class GroupsFailLayer(InMemoryChannelLayer):
    """A layer that delivers, but fails to let a socket leave its groups (going away)."""

    async def group_discard(self, group, channel):
        raise ConnectionError("channel layer is down")


def released(annotation_id) -> bool:
    expires = ClusterAnnotation.objects.get(pk=annotation_id).lease_expires_at
    return expires is not None and expires <= timezone.now()


def assert_given_back(task, annotation_id):
    annotation = ClusterAnnotation.objects.get(pk=annotation_id)
    assert annotation.lease_expires_at <= timezone.now()
    taken = leases.claim_next_cluster(task, annotator_for(task))
    assert taken is not None and taken.pk == annotation_id


@pytest.fixture
def own_redis():
    """A Redis of this test alone, which the test may kill."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the test's redis-server did not start")
            time.sleep(0.05)
    yield proc, f"redis://127.0.0.1:{port}/15"
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_redis_killed_mid_session_gives_the_cluster_back_within_the_grace(own_redis,
                                                                          settings):
    settings.LEASE_RELEASE_GRACE_SECONDS = GRACE
    proc, url = own_redis
    task = launched_task(2)
    user = annotator_for(task)
    layers = {"default": redis_config.channel_layer(url, prefix="tt-fault-test")}
    with override_settings(CHANNEL_LAYERS=layers, CHANNEL_LAYER_SHARED=True):
        channel_layers.backends = {}
        comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                     headers=ws_headers(user))

        async def run():
            assert (await comm.connect())[0]
            await comm.send_json_to({"type": "cluster.request"})
            offered = await comm.receive_json_from(timeout=5)
            proc.kill()
            started = time.monotonic()
            while not await database_sync_to_async(released)(offered["annotation_id"]):
                assert time.monotonic() - started < 30, "the lease was not given back"
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - started
            try:  # the layer's blocking read failed: the consumer ended (1011)
                output = await comm.receive_output(timeout=30)
                assert output["type"] == "websocket.close"
            except Exception as exc:  # noqa: BLE001 - the app's own failure, re-raised here
                assert "onnect" in f"{type(exc).__name__} {exc}", exc
            return offered, seconds

        offered, seconds = async_to_sync(run)()
        channel_layers.backends = {}
    print(f"lease given back {seconds:.2f} s after Redis was killed")
    assert GRACE * 0.9 <= seconds < LEASE_BACK_WITHIN
    assert_given_back(task, offered["annotation_id"])


def broken_layers():
    return {"CHANNEL_LAYERS": {"default": {
        "BACKEND": "tests.hostile.test_channel_layer_faults.GroupsFailLayer"}},
        "CHANNEL_LAYER_SHARED": False}


def test_a_close_whose_group_discard_fails_still_gives_the_cluster_back():
    task = launched_task(2)
    user = annotator_for(task)
    with override_settings(**broken_layers()):
        channel_layers.backends = {}
        comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                     headers=ws_headers(user))

        async def run():
            assert (await comm.connect())[0]
            await comm.send_json_to({"type": "cluster.request"})
            offered = await comm.receive_json_from(timeout=5)
            await comm.disconnect()  # the page closes; leaving the groups raises
            return offered

        offered = async_to_sync(run)()
        channel_layers.backends = {}
    assert_given_back(task, offered["annotation_id"])
