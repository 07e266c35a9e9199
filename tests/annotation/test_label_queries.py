"""A label costs at most four statements: save, labels, the next lease, what the page shows
(plus the BEGIN and COMMIT of the save's transaction, not counted here).

Issue 20 measured 18 queries (16 statements and the BEGIN/COMMIT): a permission check
and two progress counts on every label, a query per candidate lease, three per
cluster shown.
"""

import logging

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from annotation.models import ClusterAnnotation, Label
from classifiers.models import Detection
from surveys.models import Image
from tests.annotation.helpers import annotator_for, launched_task
from tests.annotation.query_budget import count_label_queries, statements
from tests.conftest import ws_headers
from traptagger.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
BUDGET = 4


def test_the_service_path_of_one_label_takes_four_queries():
    task = launched_task(6)
    user = annotator_for(task)
    for image in Image.objects.filter(cluster__survey=task.survey):  # boxes to show
        Detection.objects.create(image=image, left=0.1, top=0.1, right=0.4, bottom=0.4,
                                 score=0.9, source="md_v5a", classification="zebra")
    count, sql = count_label_queries(task, user)
    assert count <= BUDGET, "\n".join(sql)
    saved = ClusterAnnotation.objects.get(task=task, labelled_at__isnull=False)
    assert saved.annotator == user and saved.labels.count() == 1
    assert saved.seconds_spent is not None and 0 <= saved.seconds_spent <= 1.5


class _Queries(logging.Handler):
    """Every query any thread runs while settings.DEBUG logs them (django.db.backends)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record):
        sql = str(getattr(record, "sql", "") or "")
        if sql and "core_broadcast" not in sql:  # the embedded mode's outbox relay polls
            self.sql.append(sql)


def test_a_label_through_the_socket_takes_four_queries(settings):
    """Counted through the whole ASGI stack, on whatever thread the consumer runs them."""
    settings.ANNOTATION_PREFETCH_WINDOW = 3
    settings.DEBUG = True  # every connection logs its queries, in every thread
    task = launched_task(7)
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra").pk
    comm = WebsocketCommunicator(application, f"/ws/annotate/{task.pk}/",
                                 headers=ws_headers(user))
    handler, logger = _Queries(), logging.getLogger("django.db.backends")
    counts, level = [], logger.level

    async def run():
        assert (await comm.connect())[0]
        await comm.send_json_to({"type": "cluster.request", "prefetch": True})
        offers = [await comm.receive_json_from(timeout=10) for _ in range(3)]
        for offer in offers[:3]:
            handler.sql.clear()
            await comm.send_json_to({"type": "label.submit", "annotation_id":
                                     offer["annotation_id"], "lease": offer["lease"],
                                     "labels": [zebra]})
            assert (await comm.receive_json_from(timeout=10))["type"] == "label.saved"
            topped = await comm.receive_json_from(timeout=10)
            assert topped["type"] == "cluster.offered"
            counts.append((len(statements(handler.sql)), list(handler.sql),
                           topped["progress"]))
        await comm.disconnect()

    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        async_to_sync(run)()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    for count, sql, _ in counts:
        assert count <= BUDGET, "\n".join(sql)
    # Progress is counted incrementally and stays right.
    assert [progress for _, _, progress in counts] == [
        {"done": n, "total": 7} for n in (1, 2, 3)]
