"""A dropped tagging socket's clusters wait a short grace for its page; a closed one's do not."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from annotation.models import ClusterAnnotation, Label
from annotation.services.leases import claim_next_cluster, release_leases
from tests.annotation.helpers import annotator_for, launched_task
from tests.conftest import ws_headers
from traptagger.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def test_release_with_a_grace_shortens_but_never_lengthens_a_lease():
    task = launched_task(2)
    user = annotator_for(task)
    held = claim_next_cluster(task, user)
    before = timezone.now()
    assert release_leases(user, task.pk, [held.lease_token], grace_seconds=15) == 1
    expires = ClusterAnnotation.objects.get(pk=held.pk).lease_expires_at
    assert before + timedelta(seconds=14) <= expires <= timezone.now() + timedelta(seconds=15)
    release_leases(user, task.pk, [held.lease_token], grace_seconds=600)
    assert ClusterAnnotation.objects.get(pk=held.pk).lease_expires_at == expires
    release_leases(user, task.pk, [held.lease_token])
    assert ClusterAnnotation.objects.get(pk=held.pk).lease_expires_at <= timezone.now()


def _offer_then_end(task, user, code):
    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        offer = await comm.receive_json_from(timeout=10)
        await comm.disconnect(code=code)
        return offer

    return async_to_sync(run)()


def test_a_dropped_socket_keeps_its_cluster_for_its_page_within_the_grace(settings):
    settings.LEASE_RELEASE_GRACE_SECONDS = 60
    task = launched_task(2)
    user = annotator_for(task)
    offer = _offer_then_end(task, user, 1006)  # the connection was lost, not closed
    # Someone else is handed the other cluster, not this one ...
    other = claim_next_cluster(task, annotator_for(task))
    assert other.pk != offer["annotation_id"]
    # ... and the page, back on a new socket, saves the label it had sent.
    zebra = Label.objects.get(task=task, name="Zebra")
    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))

    async def resend():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "label.submit", "annotation_id": offer["annotation_id"],
                                 "lease": offer["lease"], "labels": [zebra.pk]})
        answer = await comm.receive_json_from(timeout=10)
        await comm.disconnect()
        return answer

    assert async_to_sync(resend)()["type"] == "label.saved"
    saved = ClusterAnnotation.objects.get(pk=offer["annotation_id"])
    assert saved.annotator == user and list(saved.labels.all()) == [zebra]


def test_a_page_that_closes_its_socket_gives_its_cluster_back_at_once(settings):
    settings.LEASE_RELEASE_GRACE_SECONDS = 60
    task = launched_task(2)
    user = annotator_for(task)
    offer = _offer_then_end(task, user, 1001)  # the page was closed
    assert ClusterAnnotation.objects.get(pk=offer["annotation_id"]).lease_expires_at <= (
        timezone.now())
    assert claim_next_cluster(task, annotator_for(task)).pk == offer["annotation_id"]
