"""The tagging websocket through the full ASGI stack: session auth, origin check, leases."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from annotation.models import ClusterAnnotation, Label
from annotation.services.task_setup import do_launch_task
from tests.annotation.helpers import ai_check_task, annotator_for, launched_task
from tests.conftest import ws_headers
from tests.factories import OrganisationFactory, UserFactory, member
from traptagger.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(path, user=None, origin=b"http://127.0.0.1"):
    return WebsocketCommunicator(application, path, headers=ws_headers(user, origin))


def connect_result(path, user=None, origin=b"http://127.0.0.1"):
    comm = communicator(path, user, origin)

    async def run():
        connected, code = await comm.connect()
        if not connected:
            return False, code
        if await comm.receive_nothing(timeout=0.3):
            await comm.disconnect()
            return True, None
        first = await comm.receive_output(timeout=1)
        if first["type"] == "websocket.send":  # accepted and talking
            await comm.disconnect()
            return True, None
        assert first["type"] == "websocket.close"
        return False, first.get("code")
    return async_to_sync(run)()


@pytest.mark.hostile
def test_anonymous_other_org_and_foreign_origin_are_refused():
    task = launched_task(2)
    path = f"/ws/annotate/{task.pk}/"
    assert connect_result(path) == (False, 4401)
    outsider = member(OrganisationFactory(), "annotator")
    assert connect_result(path, outsider) == (False, 4403)
    no_annotate = annotator_for(task)
    no_annotate.memberships.update(can_annotate=False)
    assert connect_result(path, no_annotate) == (False, 4403)
    insider = annotator_for(task)
    assert connect_result(path, insider, origin=b"http://evil.example")[0] is False
    assert connect_result(path, insider)[0] is True


def test_label_flow_and_two_annotators_get_different_clusters():
    task = launched_task(3)
    zebra = Label.objects.get(task=task, name="Zebra")
    a, b = annotator_for(task), annotator_for(task)

    ca = communicator(f"/ws/annotate/{task.pk}/", a)
    cb = communicator(f"/ws/annotate/{task.pk}/", b)

    async def run():
        assert (await ca.connect())[0] and (await cb.connect())[0]
        await ca.send_json_to({"type": "cluster.request"})
        await cb.send_json_to({"type": "cluster.request"})
        offer_a = await ca.receive_json_from(timeout=10)
        offer_b = await cb.receive_json_from(timeout=10)
        assert offer_a["type"] == offer_b["type"] == "cluster.offered"
        assert offer_a["cluster_id"] != offer_b["cluster_id"]
        assert offer_a["progress"] == {"done": 0, "total": 3}
        assert offer_a["images"][0]["url"].startswith("/images/")
        # B tries to label A's cluster with B's... nothing: refused, A's lease intact.
        await cb.send_json_to({"type": "label.submit", "annotation_id": offer_a["annotation_id"],
                               "lease": offer_b["lease"], "labels": [zebra.pk]})
        refused = await cb.receive_json_from(timeout=10)
        assert refused["type"] == "label.refused"
        assert await cb.receive_nothing(timeout=0.3)  # B keeps its cluster; nothing new
        await ca.send_json_to({"type": "label.submit", "annotation_id": offer_a["annotation_id"],
                               "lease": offer_a["lease"], "labels": [zebra.pk]})
        assert (await ca.receive_json_from(timeout=10))["type"] == "label.saved"
        third = await ca.receive_json_from(timeout=10)
        assert third["type"] == "cluster.offered"
        assert third["cluster_id"] not in (offer_a["cluster_id"], offer_b["cluster_id"])
        await cb.disconnect()  # B leaves: B's cluster goes back to the pool
        await ca.send_json_to({"type": "label.submit", "annotation_id": third["annotation_id"],
                               "lease": third["lease"], "labels": [zebra.pk]})
        assert (await ca.receive_json_from(timeout=10))["type"] == "label.saved"
        fourth = await ca.receive_json_from(timeout=10)
        assert fourth["cluster_id"] == offer_b["cluster_id"]
        await ca.send_json_to({"type": "label.submit", "annotation_id": fourth["annotation_id"],
                               "lease": fourth["lease"], "labels": [zebra.pk]})
        assert (await ca.receive_json_from(timeout=10))["type"] == "label.saved"
        done = await ca.receive_json_from(timeout=10)
        assert done == {"type": "task.finished", "progress": {"done": 3, "total": 3}}
        await ca.disconnect()

    async_to_sync(run)()
    assert ClusterAnnotation.objects.filter(task=task, annotator=a).count() == 3


@pytest.mark.hostile
def test_malformed_messages_get_clear_errors():
    task = launched_task(1)
    user = annotator_for(task)

    comm = communicator(f"/ws/annotate/{task.pk}/", user)

    async def run():
        await comm.connect()
        await comm.send_json_to({"type": "launch.missiles"})
        assert (await comm.receive_json_from(timeout=10))["type"] == "error"
        await comm.send_json_to({"type": "label.submit", "annotation_id": "x", "labels": "all"})
        reply = await comm.receive_json_from(timeout=10)
        assert reply["type"] == "label.refused" and "list" in reply["reason"]
        await comm.disconnect()

    async_to_sync(run)()


@pytest.mark.hostile
def test_survey_progress_socket_is_members_only():
    task = launched_task(1)
    path = f"/ws/surveys/{task.survey.pk}/"
    assert connect_result(path, UserFactory())[0] is False
    assert connect_result(path, annotator_for(task))[0] is True


@pytest.mark.hostile
def test_image_files_are_members_only(client):
    task = launched_task(1)
    image = ClusterAnnotation.objects.get(task=task).cluster.images.get()
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    prefix = f"surveys/{task.survey_id}/originals"
    image.key = default_storage.save(f"{prefix}/a.jpg", ContentFile(b"\xff\xd8data"))
    image.save()
    url = f"/images/{image.pk}/web/"
    assert client.get(url).status_code == 302  # to the log-in page
    client.force_login(member(OrganisationFactory(), "admin"))
    assert client.get(url).status_code == 404
    client.force_login(annotator_for(task))
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\xff\xd8data"
    assert client.get(f"/images/{image.pk}/../../etc/").status_code == 404
    # A row naming another survey's object (however it got there) serves nothing.
    other = launched_task(1)
    secret = default_storage.save(f"surveys/{other.survey_id}/originals/s.jpg",
                                  ContentFile(b"\xff\xd8secret"))
    image.key = secret
    image.save()
    assert client.get(f"/images/{image.pk}/original/").status_code == 404


@pytest.mark.hostile
def test_member_removed_while_labelling_is_stopped():
    task = launched_task(3)
    user = annotator_for(task)
    comm = communicator(f"/ws/annotate/{task.pk}/", user)
    zebra = Label.objects.get(task=task, name="Zebra")

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        offer = await comm.receive_json_from(timeout=10)
        from channels.db import database_sync_to_async

        await database_sync_to_async(user.memberships.all().delete)()
        await comm.send_json_to({"type": "label.submit", "annotation_id": offer["annotation_id"],
                                 "lease": offer["lease"], "labels": [zebra.pk]})
        said = []
        while (output := await comm.receive_output(timeout=10))["type"] != "websocket.close":
            said.append(output["text"])
        return said, output

    # Whichever comes first stops it: the label's own check (refused, then an
    # error), or the removal pushed to the socket (test_socket_revocation).
    said, closing = async_to_sync(run)()
    assert said == [] or ("no longer annotate" in said[0] and '"error"' in said[1])
    assert closing == {"type": "websocket.close", "code": 4403}
    assert not ClusterAnnotation.objects.filter(labelled_at__isnull=False).exists()


def test_ai_check_over_the_socket():
    """At the AI-check level the page gets the labels and the suggestion, and answers with
    a verdict; a bad verdict is refused and a species-level answer is not saved."""
    task, admin, annotator, clusters = ai_check_task()
    do_launch_task(task, acting_user=admin)
    comm = communicator(f"/ws/annotate/{task.pk}/", annotator)

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        first = await comm.receive_json_from(timeout=10)
        await comm.send_json_to({"type": "label.submit", "annotation_id": first["annotation_id"],
                                 "lease": first["lease"], "labels": [], "verdict": "maybe"})
        bad = await comm.receive_json_from(timeout=10)  # refused; the lease is kept
        await comm.send_json_to({"type": "label.submit", "annotation_id": first["annotation_id"],
                                 "lease": first["lease"], "labels": [], "verdict": "accepted"})
        saved = await comm.receive_json_from(timeout=10)
        second = await comm.receive_json_from(timeout=10)
        await comm.send_json_to({"type": "label.submit", "annotation_id": second["annotation_id"],
                                 "lease": second["lease"], "labels": [1]})
        species = await comm.receive_json_from(timeout=10)
        offered = await comm.receive_json_from(timeout=10)  # the same, under a new lease
        assert offered["annotation_id"] == second["annotation_id"]
        await comm.send_json_to({"type": "label.submit", "annotation_id": offered["annotation_id"],
                                 "lease": offered["lease"], "labels": [], "verdict": "rejected"})
        await comm.receive_json_from(timeout=10)
        done = await comm.receive_json_from(timeout=10)
        await comm.disconnect()
        return first, bad, saved, species, done

    first, bad, saved, species, done = async_to_sync(run)()
    assert first["level"] == "ai_check" and first["progress"] == {"done": 0, "total": 2}
    assert first["check"]["suggested"]["name"] in {"Zebra", "Lion"}
    assert bad["type"] == "label.refused" and "verdict" in bad["reason"]
    assert saved["type"] == "label.saved"
    assert species["type"] == "label.refused" and "checking the AI" in species["reason"]
    assert done == {"type": "task.finished", "progress": {"done": 2, "total": 2}}
    accepted = ClusterAnnotation.objects.get(pk=first["annotation_id"])
    assert set(accepted.labels.values_list("name", flat=True)) == {
        first["check"]["suggested"]["name"]}
    assert set(ClusterAnnotation.objects.filter(task=task).exclude(ai_check="")
               .values_list("ai_check", flat=True)) == {"accepted", "rejected"}
