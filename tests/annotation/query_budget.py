"""Queries of one label on the tagging socket's path: save, then the window topped up.

Shared by tests/annotation/test_label_queries.py and the load benchmark.
"""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.services.leases import do_label, open_labeller, top_up

TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
# What a database thread says once, when it opens its connection (core.db_threads).
CONNECTING = ("SELECT VERSION()", "SET SESSION TRANSACTION ISOLATION", "PRAGMA")


def statements(sql: list[str]) -> list[str]:
    """``sql`` without transaction control (the save's BEGIN and COMMIT) and without what
    a thread's new connection runs once."""
    return [q for q in sql if not q.strip().upper().startswith(TRANSACTION + CONNECTING)]


def count_label_queries(task, user) -> tuple[int, list[str]]:
    """(statements, all SQL including BEGIN/COMMIT) of one label by ``user`` on ``task``
    as the socket makes it:
    ``do_label`` then ``top_up`` of one cluster, the socket already open (its labeller made,
    its window of three leased, the progress counted once)."""
    labeller = open_labeller(user, task.pk)
    window = top_up(labeller, 3).payloads
    first = window[0]
    label_id = next(iter(pk for pk, label in labeller.labels.items() if label.task_id))
    with CaptureQueriesContext(connection) as ctx:
        do_label(labeller, annotation_id=first["annotation_id"], token=first["lease"],
                 label_ids=[label_id], seconds=1.5)
        offer = top_up(labeller, 1, [p["annotation_id"] for p in window[1:]])
    assert len(offer.payloads) == 1, offer
    sql = [q["sql"] for q in ctx.captured_queries]
    return len(statements(sql)), sql
