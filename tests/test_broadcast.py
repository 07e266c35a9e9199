"""Events raised in another process reach browsers, with and without Redis."""

import asyncio
import os
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from core.broadcast import purge_broadcasts
from core.models import Broadcast
from tests.conftest import redis_up, subprocess_env, ws_headers
from tests.factories import SurveyFactory, member
from traptagger import redis_config
from traptagger.asgi import application

ROOT = Path(__file__).resolve().parent.parent
SEND = (
    "import django, sys; django.setup(); "
    "from core.broadcast import broadcast; "
    "broadcast(sys.argv[1], {'type': 'import.progress', 'survey_id': int(sys.argv[2]), "
    "'processed': 7, 'total': 9, 'imported': 7, 'issues': 0, 'status': 'running'})"
)


def layers_for(mode):
    if mode == "embedded":
        return {"CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
                "CHANNEL_LAYER_SHARED": False, "BROADCAST_RELAY_INTERVAL": 0.1}
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    # The project's own Redis options: with the client's default 5 s read timeout a
    # socket quiet while the child process starts (slow on a busy machine) was closed.
    return {"CHANNEL_LAYERS": {"default": redis_config.channel_layer(url, prefix="tt-test")},
            "CHANNEL_LAYER_SHARED": True, "REDIS_URL": url}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["embedded", "redis"])
def test_event_from_another_process_reaches_the_browser(mode):
    if mode == "redis" and not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    overrides = layers_for(mode)
    survey = SurveyFactory()
    user = member(survey.organisation, "read")
    child_env = ({"REDIS_URL": overrides["REDIS_URL"], "CHANNELS_PREFIX": "tt-test"}
                 if mode == "redis" else {})
    env = subprocess_env(child_env)
    if mode == "embedded":
        env.pop("REDIS_URL", None)
    with override_settings(**overrides):
        channel_layers.backends = {}
        comm = WebsocketCommunicator(application, f"/ws/surveys/{survey.pk}/",
                                     headers=ws_headers(user))

        async def run():
            connected, _ = await comm.connect()
            assert connected
            assert (await comm.receive_json_from(timeout=5))["type"] == "survey.status"
            # Another process (as a Celery worker would be) raises the event.
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SEND, f"survey.{survey.pk}", str(survey.pk),
                cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
            assert proc.returncode == 0, stderr.decode()
            event = await comm.receive_json_from(timeout=10)
            await comm.disconnect()
            return event

        event = async_to_sync(run)()
        channel_layers.backends = {}
    assert event["type"] == "import.progress" and event["processed"] == 7
    # Only the embedded mode goes through the outbox table.
    assert Broadcast.objects.exists() is (mode == "embedded")


@pytest.mark.django_db
def test_purge_removes_old_broadcasts_only():
    from datetime import timedelta

    from django.utils import timezone

    old = Broadcast.objects.create(group="g", message={"type": "x"})
    Broadcast.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    fresh = Broadcast.objects.create(group="g", message={"type": "y"})
    assert purge_broadcasts() == 1
    assert list(Broadcast.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert purge_broadcasts() == 0
