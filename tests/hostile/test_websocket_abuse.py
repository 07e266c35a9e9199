"""Hostile input on the tagging websocket: refused with an error, the socket stays open."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from annotation import consumers
from annotation.models import ClusterAnnotation, Label
from tests.annotation.helpers import annotator_for, launched_task
from tests.conftest import ws_headers
from traptagger.asgi import application

pytestmark = [pytest.mark.hostile, pytest.mark.django_db(transaction=True)]

BAD_FRAMES = [
    ("text", "{bad"),
    ("bytes", b"\x00\x01binary"),
    ("text", '{"type": "heartbeat", "annotation_id": Infinity, "lease": "x"}'),
    ("text", '{"type": "heartbeat", "annotation_id": NaN, "lease": "x"}'),
    ("text", '{"type": "label.submit", "annotation_id": 1, "lease": "x", '
             '"labels": [123456789012345678901234567890]}'),
    ("text", '{"type": "label.submit", "annotation_id": 1.5, "lease": "x", "labels": [1]}'),
    ("text", '{"type": "label.submit", "annotation_id": true, "lease": "x", "labels": [1]}'),
    ("text", "[" * 5000 + "]" * 5000),
    ("text", '{"type": "x", "deep": ' + "[" * 50 + "]" * 50 + "}"),
    ("text", '"just a string"'),
    ("text", '{"type": 7}'),
    ("text", '{"type": "label.submit", "annotation_id": 1, "lease": "x", "labels": [1], '
             '"note": {"$ne": 1}}'),
    ("text", '{"type": "label.submit", "annotation_id": 1, "lease": ["x"], "labels": [1]}'),
    ("text", "x" * 100_000),
    ("text", '{"type": "cluster.request", "prefetch": true, "keep": "all"}'),
    ("text", '{"type": "cluster.request", "keep": [1, 2]}'),
    ("text", '{"type": "cluster.request", "keep": [{"annotation_id": "x", "lease": "y"}]}'),
    ("text", '{"type": "cluster.request", "keep": [{"annotation_id": 1, "lease": 7}]}'),
    ("text", '{"type": "cluster.request", "keep": ' + str(
        [{"annotation_id": 1, "lease": "y"}] * 21).replace("'", '"') + "}"),
    ("text", '{"type": "label.submit", "annotation_id": 1, "lease": "x", "labels": [1], '
             '"seconds": -5}'),
    # Lone surrogates (JSON escapes): MySQLdb's encoder crashed the socket (1011) on them.
    ("text", '{"type": "label.submit", "annotation_id": 1, "lease": "\\ud800", "labels": [1]}'),
    ("text", '{"type": "label.submit", "annotation_id": 1, "lease": "x", "labels": [1], '
             '"note": "a\\udc80b"}'),
    ("text", '{"type": "heartbeat", "annotation_id": 1, "lease": "\\udbff\\udbff"}'),
    ("text", '{"type": "\\ud800"}'),
]


def test_bad_frames_get_an_error_and_the_page_keeps_working():
    task = launched_task(2)
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra")
    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        offered = await comm.receive_json_from(timeout=5)
        replies = []
        for kind, frame in BAD_FRAMES:
            if kind == "bytes":
                await comm.send_to(bytes_data=frame)
            else:
                await comm.send_to(text_data=frame)
            replies.append(await comm.receive_json_from(timeout=5))
        # Still open, still the same lease: the page labels its cluster.
        await comm.send_json_to({"type": "label.submit", "annotation_id": offered["annotation_id"],
                                 "lease": offered["lease"], "labels": [zebra.pk]})
        saved = await comm.receive_json_from(timeout=5)
        await comm.disconnect()
        return replies, saved

    replies, saved = async_to_sync(run)()
    assert all(r["type"] in ("error", "label.refused") for r in replies)
    assert all(r.get("message") or r.get("reason") for r in replies)
    assert saved["type"] == "label.saved"
    labelled = ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
    assert [list(a.labels.values_list("name", flat=True)) for a in labelled] == [["Zebra"]]


def test_a_flood_is_slowed_then_closed(monkeypatch):
    task = launched_task(1)
    user = annotator_for(task)
    monkeypatch.setattr(consumers, "RATE_LIMIT_CLOSE_AFTER", 20)
    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))

    async def run():
        assert (await comm.connect())[0]
        kinds = []
        for _ in range(consumers.RATE_BURST + 60):
            await comm.send_json_to({"type": "unknown.kind"})
        while True:
            output = await comm.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                return kinds, output.get("code")
            kinds.append(output["text"])

    kinds, code = async_to_sync(run)()
    assert code == 4008
    assert any("slow down" in k for k in kinds)


def test_a_crash_gives_the_clusters_back_within_the_grace(monkeypatch, settings):
    """A socket that fails (1011) gives its clusters back at once or within
    LEASE_RELEASE_GRACE_SECONDS (its page may reconnect and resend), long before its
    lease would have run out."""
    settings.LEASE_RELEASE_GRACE_SECONDS = 5
    task = launched_task(1)
    user = annotator_for(task)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        offered = await comm.receive_json_from(timeout=5)
        monkeypatch.setattr(consumers.leases, "extend_leases", broken)
        await comm.send_json_to({"type": "heartbeat", "annotation_id": offered["annotation_id"],
                                 "lease": offered["lease"]})
        with pytest.raises(RuntimeError, match="database went away"):
            await comm.receive_output(timeout=5)  # the socket closed with 1011
        return offered

    async_to_sync(run)()
    annotation = ClusterAnnotation.objects.get(task=task)
    from django.utils import timezone

    assert annotation.lease_expires_at is not None
    grace = timedelta(seconds=settings.LEASE_RELEASE_GRACE_SECONDS)
    # At once or within the grace, never the lease's own length.
    assert annotation.lease_expires_at <= timezone.now() + grace
    assert grace < timedelta(seconds=settings.CLUSTER_LEASE_SECONDS) / 10
