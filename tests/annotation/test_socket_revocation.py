"""A socket stops when its session or its right ends, pushed through the user's groups.

Through the full ASGI stack (session auth, origin check) on the embedded
channel layer, where events reach sockets through the outbox relay, as they do
from another process.
"""

import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import Membership
from annotation.models import ClusterAnnotation, Label
from annotation.services import leases
from core.models import Broadcast
from tests.annotation.helpers import annotator_for, launched_task
from tests.conftest import redis_up, subprocess_env
from tests.factories import MembershipFactory, OrganisationFactory
from traptagger import redis_config
from traptagger.asgi import application

pytestmark = [pytest.mark.hostile, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent.parent
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(autouse=True)
def _fast_relay(settings):
    settings.BROADCAST_RELAY_INTERVAL = 0.05


def logged_in(user) -> tuple[Client, list]:
    """A browser's client and the websocket headers carrying the same session."""
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return client, [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)]


async def offered(comm) -> dict:
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "cluster.request"})
    offer = await comm.receive_json_from(timeout=10)
    assert offer["type"] == "cluster.offered"
    return offer


async def closing_code(comm) -> int:
    """The close code of the next thing the socket sends (skipping errors sent before it)."""
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]


def assert_given_back(task, offer, someone_else):
    """The socket's cluster is free at once: another annotator is handed it now."""
    annotation = ClusterAnnotation.objects.get(pk=offer["annotation_id"])
    assert annotation.labelled_at is None
    assert annotation.lease_expires_at <= timezone.now()
    taken = leases.claim_next_cluster(task, someone_else)
    assert taken is not None and taken.pk == offer["annotation_id"]


EMBEDDED_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def embedded():
    """The embedded mode's in-memory layer, whatever REDIS_URL says (CI sets it)."""
    with override_settings(CHANNEL_LAYERS=EMBEDDED_LAYERS, CHANNEL_LAYER_SHARED=False):
        channel_layers.backends = {}
        yield
    channel_layers.backends = {}


@pytest.fixture(params=["embedded", "redis"])
def layer(request):
    """The embedded layer (events through the outbox) and Redis (straight to the layer)."""
    if request.param == "embedded":
        with override_settings(CHANNEL_LAYERS=EMBEDDED_LAYERS, CHANNEL_LAYER_SHARED=False):
            channel_layers.backends = {}
            yield request.param
        channel_layers.backends = {}
        return
    if not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    layers = {"default": redis_config.channel_layer(REDIS_URL, prefix="tt-sockets-revoke")}
    with override_settings(CHANNEL_LAYERS=layers, CHANNEL_LAYER_SHARED=True):
        channel_layers.backends = {}
        yield request.param
    channel_layers.backends = {}


def test_logging_out_closes_the_sessions_sockets_and_gives_the_cluster_back(layer):
    task = launched_task(2)
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra")
    browser, headers = logged_in(user)
    _, other_tab_headers = logged_in(user)  # the same person, logged in elsewhere
    tagging = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/", headers=headers)
    progress = WebsocketCommunicator(application, f"/ws/surveys/{task.survey_id}/",
                                     headers=headers)
    elsewhere = WebsocketCommunicator(application, f"/ws/surveys/{task.survey_id}/",
                                      headers=other_tab_headers)

    async def run():
        offer = await offered(tagging)
        assert (await progress.connect())[0] and (await elsewhere.connect())[0]
        await progress.receive_json_from(timeout=5)
        await elsewhere.receive_json_from(timeout=5)
        response = await database_sync_to_async(browser.post)("/accounts/logout/")
        assert response.status_code == 302
        codes = await closing_code(tagging), await closing_code(progress)
        # A label the page sends after it was told to stop is not taken.
        await tagging.send_json_to({"type": "label.submit", "annotation_id": offer["annotation_id"],
                                    "lease": offer["lease"], "labels": [zebra.pk]})
        assert await tagging.receive_nothing(timeout=0.5)
        other_session_open = await elsewhere.receive_nothing(timeout=0.5)
        await elsewhere.disconnect()
        return offer, codes, other_session_open

    offer, codes, other_session_open = async_to_sync(run)()
    assert codes == (4401, 4401)
    assert other_session_open  # only the session that logged out stops
    assert_given_back(task, offer, annotator_for(task))
    # Only the embedded layer goes through the outbox table.
    assert Broadcast.objects.filter(group__startswith="session.").exists() is (
        layer == "embedded")


def test_a_deactivated_user_is_stopped_everywhere():
    task = launched_task(2)
    user = annotator_for(task)
    _, headers = logged_in(user)
    tagging = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/", headers=headers)

    async def run():
        offer = await offered(tagging)
        user.is_active = False
        await database_sync_to_async(user.save)()
        return offer, await closing_code(tagging)

    offer, code = async_to_sync(run)()
    assert code == 4401
    assert_given_back(task, offer, annotator_for(task))


def test_a_password_reset_stops_the_users_sockets_as_it_ends_their_sessions():
    from accounts.services.organisations import do_reset_password

    task = launched_task(1)
    user = annotator_for(task)
    _, headers = logged_in(user)
    progress = WebsocketCommunicator(application, f"/ws/surveys/{task.survey_id}/",
                                     headers=headers)

    async def run():
        assert (await progress.connect())[0]
        await progress.receive_json_from(timeout=5)
        await database_sync_to_async(do_reset_password)(user)
        return await closing_code(progress)

    assert async_to_sync(run)() == 4401


def test_losing_the_right_to_annotate_stops_the_socket_and_other_changes_do_not():
    task = launched_task(2)
    user = annotator_for(task)
    elsewhere = MembershipFactory(user=user, organisation=OrganisationFactory())
    _, headers = logged_in(user)
    tagging = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/", headers=headers)
    membership = Membership.objects.get(user=user, organisation=task.survey.organisation)

    async def run():
        offer = await offered(tagging)
        # Another organisation's membership, or a new role that may still annotate.
        await database_sync_to_async(elsewhere.delete)()
        membership.role = "read"
        await database_sync_to_async(membership.save)()
        still_open = await tagging.receive_nothing(timeout=1)
        membership.can_annotate = False
        await database_sync_to_async(membership.save)()
        return offer, still_open, await closing_code(tagging)

    offer, still_open, code = async_to_sync(run)()
    assert still_open
    assert code == 4403
    assert_given_back(task, offer, annotator_for(task))


REMOVE = (
    "import django, sys; django.setup(); "
    "from accounts.models import Membership; "
    "Membership.objects.filter(user_id=int(sys.argv[1])).delete()"
)


def test_a_member_removed_in_another_process_is_stopped(embedded):
    """A command or the admin of another web node removes the member: the outbox carries it."""
    import asyncio

    task = launched_task(2)
    user = annotator_for(task)
    _, headers = logged_in(user)
    tagging = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/", headers=headers)
    env = subprocess_env()
    env.pop("REDIS_URL", None)

    async def run():
        offer = await offered(tagging)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", REMOVE, str(user.pk), cwd=ROOT, env=env,
            stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, stderr.decode()
        return offer, await closing_code(tagging)

    offer, code = async_to_sync(run)()
    assert code == 4403
    assert_given_back(task, offer, annotator_for(task))
