"""The prefetch window: a page holds several clusters leased ahead, each its own lease."""

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.utils import timezone

from annotation.models import ClusterAnnotation, Label
from annotation.services.leases import claim_clusters, do_save_labels
from tests.annotation.helpers import annotator_for, launched_task
from tests.conftest import ws_headers
from traptagger.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
JOIN = {"type": "cluster.request", "prefetch": True}


def communicator(task, user):
    return WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))


def label_msg(offer, label_id):
    return {"type": "label.submit", "annotation_id": offer["annotation_id"],
            "lease": offer["lease"], "labels": [label_id]}


def leased(user):
    now = timezone.now()
    return dict(ClusterAnnotation.objects.filter(leased_to=user, lease_expires_at__gt=now)
                .values_list("pk", "lease_token"))


@pytest.mark.parametrize("window", [3, 5])
def test_window_filled_on_join_topped_up_per_label_released_on_close(settings, window):
    settings.ANNOTATION_PREFETCH_WINDOW = window
    task = launched_task(window + 3)
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra").pk
    comm = communicator(task, user)
    seen = {}

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to(JOIN)
        offers = [await comm.receive_json_from(timeout=10) for _ in range(window)]
        assert await comm.receive_nothing(timeout=0.3)
        seen["join"] = offers
        seen["leased_after_join"] = await database_sync_to_async(leased)(user)
        await comm.send_json_to(label_msg(offers[0], zebra))
        seen["after_label"] = [await comm.receive_json_from(timeout=10) for _ in range(2)]
        assert await comm.receive_nothing(timeout=0.3)
        seen["leased_after_label"] = await database_sync_to_async(leased)(user)
        await comm.disconnect()

    async_to_sync(run)()
    join = seen["join"]
    assert [o["type"] for o in join] == ["cluster.offered"] * window
    assert len({o["annotation_id"] for o in join}) == window
    assert all(o["images"] and o["images"][0]["url"].startswith("/images/") for o in join)
    assert seen["leased_after_join"] == {o["annotation_id"]: o["lease"] for o in join}
    saved, topped = seen["after_label"]
    assert saved["type"] == "label.saved" and saved["annotation_id"] == join[0]["annotation_id"]
    assert topped["type"] == "cluster.offered"
    assert topped["annotation_id"] not in {o["annotation_id"] for o in join}
    assert topped["progress"] == {"done": 1, "total": window + 3}
    window_now = {o["annotation_id"]: o["lease"] for o in join[1:] + [topped]}
    assert seen["leased_after_label"] == window_now
    # Closed: every cluster of the window is free for others at once, none labelled.
    assert leased(user) == {}
    assert ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False).count() == 1
    _, claimed = claim_clusters(task, annotator_for(task), 20)
    assert {a.pk for a in claimed} == set(ClusterAnnotation.objects.filter(
        task=task, labelled_at__isnull=True).values_list("pk", flat=True)) >= set(window_now)


def test_without_prefetch_a_client_gets_one_cluster_at_a_time():
    task = launched_task(4)
    comm = communicator(task, annotator_for(task))

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        first = await comm.receive_json_from(timeout=10)
        quiet = await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()
        return first, quiet

    first, quiet = async_to_sync(run)()
    assert first["type"] == "cluster.offered" and quiet


def test_a_reconnected_page_keeps_its_clusters_and_its_unacknowledged_label(settings):
    """The socket drops; the page rejoins with every lease it holds and resends its label:
    the label is saved, the clusters it still shows or queues stay its own (same leases),
    a cluster someone took meanwhile is withdrawn, and the window is filled up again."""
    settings.ANNOTATION_PREFETCH_WINDOW = 3
    task = launched_task(8)
    user, rival = annotator_for(task), annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra").pk
    first, second = communicator(task, user), communicator(task, user)
    out = {}

    async def run():
        assert (await first.connect())[0]
        await first.send_json_to(JOIN)
        offers = [await first.receive_json_from(timeout=10) for _ in range(3)]
        await first.disconnect()  # the label for offers[0] never got out
        # Meanwhile someone else takes the page's last cluster (its lease was given back).
        lost = offers[2]["annotation_id"]

        def take():
            ClusterAnnotation.objects.filter(pk=lost).update(
                leased_to=rival, lease_token="rival", lease_expires_at=timezone.now()
                + timezone.timedelta(minutes=3))
        await database_sync_to_async(take)()
        assert (await second.connect())[0]
        keep = [{"annotation_id": o["annotation_id"], "lease": o["lease"]} for o in offers]
        await second.send_json_to({**JOIN, "keep": keep})
        await second.send_json_to(label_msg(offers[0], zebra))
        out["replies"] = [await second.receive_json_from(timeout=10) for _ in range(4)]
        assert await second.receive_nothing(timeout=0.3)
        out["leased"] = await database_sync_to_async(leased)(user)
        await second.disconnect()
        out["offers"] = offers

    async_to_sync(run)()
    offers, replies = out["offers"], out["replies"]
    withdrawn, fill, saved, topped = replies
    assert withdrawn == {"type": "cluster.withdrawn", "annotation_id": offers[2]["annotation_id"],
                         "reason": withdrawn["reason"]}
    assert fill["type"] == "cluster.offered"  # kept two (one labelled next), leased one
    assert saved == {"type": "label.saved", "annotation_id": offers[0]["annotation_id"],
                     "labels": [zebra]}
    assert topped["type"] == "cluster.offered"
    assert out["leased"] == {offers[1]["annotation_id"]: offers[1]["lease"],
                             fill["annotation_id"]: fill["lease"],
                             topped["annotation_id"]: topped["lease"]}
    assert ClusterAnnotation.objects.get(pk=offers[0]["annotation_id"]).labels.get().pk == zebra


def test_two_pages_labelling_at_once_never_share_a_cluster(settings):
    """Two annotators' sockets fill and top up their windows interleaved until the task
    ends: no cluster is ever in both windows, each is labelled once, nothing is refused."""
    settings.ANNOTATION_PREFETCH_WINDOW = 4
    task = launched_task(17)
    zebra = Label.objects.get(task=task, name="Zebra").pk
    users = [annotator_for(task), annotator_for(task)]
    comms = [communicator(task, u) for u in users]
    windows = [{}, {}]
    overlaps, refused, labelled = [], [], [[], []]

    async def page(i):
        comm, window = comms[i], windows[i]
        assert (await comm.connect())[0]
        await comm.send_json_to(JOIN)
        while True:
            msg = await comm.receive_json_from(timeout=20)
            if msg["type"] == "cluster.offered":
                window[msg["annotation_id"]] = msg
                overlaps.extend(set(windows[0]) & set(windows[1]))
            elif msg["type"] == "label.saved":
                labelled[i].append(msg["annotation_id"])
            elif msg["type"] == "label.refused":
                refused.append(msg)
            elif msg["type"] == "task.finished":
                break
            if window and msg["type"] in ("cluster.offered", "label.saved", "task.progress"):
                offer = window.pop(next(iter(window)))
                await comm.send_json_to(label_msg(offer, zebra))
        await comm.disconnect()

    async def run():
        await asyncio.gather(page(0), page(1))

    async_to_sync(run)()
    assert not overlaps and not refused
    everything = labelled[0] + labelled[1]
    assert len(everything) == 17 and len(set(everything)) == 17
    assert labelled[0] and labelled[1]
    assert not ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=True).exists()


def test_windows_claimed_by_threads_at_once_are_disjoint():
    """Six threads (own database connections) each fill a window of 3 and label through
    it, claiming one more per label, at the same time: no cluster is leased twice."""
    task = launched_task(36)
    zebra = Label.objects.get(task=task, name="Zebra").pk
    users = [annotator_for(task) for _ in range(6)]
    start = threading.Barrier(len(users))
    claimed: list[int] = []
    labelled: list[int] = []
    errors: list[BaseException] = []

    def work(user):
        try:
            start.wait()
            _, window = claim_clusters(task, user, 3)
            claimed.extend(a.pk for a in window)
            while window:
                held = window.pop(0)
                do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                               label_ids=[zebra])
                labelled.append(held.pk)
                _, more = claim_clusters(task, user, 1, holding=[a.pk for a in window])
                claimed.extend(a.pk for a in more)
                window.extend(more)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(claimed) == len(set(claimed)) == 36
    assert sorted(labelled) == sorted(claimed)


def test_time_spent_is_the_time_shown_capped_by_the_time_since_the_offer():
    """A cluster queued ahead waits unseen: the page's measure counts, never beyond the offer."""
    from datetime import timedelta

    task = launched_task(3)
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra").pk
    _, window = claim_clusters(task, user, 3)
    ClusterAnnotation.objects.filter(task=task).update(
        offered_at=timezone.now() - timedelta(seconds=60))
    shown, overstated, unmeasured = window
    for held, seconds in ((shown, 2.5), (overstated, 1000), (unmeasured, None)):
        do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[zebra], seconds=seconds)
    spent = dict(ClusterAnnotation.objects.values_list("pk", "seconds_spent"))
    assert spent[shown.pk] == 2.5
    assert 60 <= spent[overstated.pk] < 100 and 60 <= spent[unmeasured.pk] < 100


@pytest.mark.hostile
def test_a_bad_time_on_screen_is_refused_and_the_lease_kept():
    task = launched_task(2)
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra").pk
    comm = communicator(task, user)

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request"})
        offer = await comm.receive_json_from(timeout=10)
        replies = []
        for bad in (-1, "3", True, 10**9):
            await comm.send_json_to({**label_msg(offer, zebra), "seconds": bad})
            replies.append(await comm.receive_json_from(timeout=10))
        await comm.send_json_to({**label_msg(offer, zebra), "seconds": 1.25})
        replies.append(await comm.receive_json_from(timeout=10))
        await comm.disconnect()
        return offer, replies

    offer, replies = async_to_sync(run)()
    assert [r["type"] for r in replies] == ["label.refused"] * 4 + ["label.saved"]
    assert all("seconds must be a number" in r["reason"] for r in replies[:4])
    assert ClusterAnnotation.objects.get(pk=offer["annotation_id"]).seconds_spent <= 1.25
