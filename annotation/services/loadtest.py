"""The annotation load test (``manage.py annotation_loadtest``): many annotators at once
against a running server, then every answer checked against the database.

``run_load_test`` makes (or reuses) the accounts, logs them in over HTTP, labels
through real websockets (annotation.services.loadtest_client) and returns a
``Report``: labels/s, latency from a label sent to the next cluster received
(p50/p99), errors, handshake failures, and the two things that must never happen:

* a double lease: one cluster in two annotators' windows at once, or saved for two;
* a lost label: acknowledged (``label.saved``) but not in the database as that
  annotator's, with those labels.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import asdict, dataclass

from accounts.services.organisations import do_ensure_members
from accounts.taxonomy import Role

from ..models import ClusterAnnotation, Label, Task
from .loadtest_client import log_in_all, run_annotators

PREFIX = "loadtest"


@dataclass
class Report:
    annotators: int
    connected: int
    seconds: float
    labels: int
    labels_per_second: float
    p50_ms: float | None
    p99_ms: float | None
    handshake_failures: int
    handshake_p99_ms: float | None
    errors: int
    double_leases: int
    lost_labels: int
    pace: float | None
    first_errors: list[str]

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        def ms(value):
            return "-" if value is None else f"{value:.0f} ms"
        return [
            f"annotators {self.connected}/{self.annotators} connected"
            f"{'' if self.pace is None else f', one label every {self.pace:g} s each'}",
            f"labels     {self.labels} in {self.seconds:.1f} s = {self.labels_per_second:.1f}/s",
            f"latency    p50 {ms(self.p50_ms)}, p99 {ms(self.p99_ms)} (label sent → next "
            "cluster received)",
            f"handshakes {self.handshake_failures} failed, p99 {ms(self.handshake_p99_ms)}",
            f"errors     {self.errors}",
            f"double leases {self.double_leases}, lost labels {self.lost_labels} "
            "(checked against the database)",
            *(f"  {line}" for line in self.first_errors),
        ]


def usernames_for(task: Task, count: int) -> list[str]:
    return [f"{PREFIX}-{task.survey.organisation_id}-{n:03}" for n in range(count)]


def label_ids_for(task: Task) -> list[int]:
    """The top-level labels an annotator may give (the task's, and Unknown)."""
    ids = list(Label.objects.filter(task=task, parent__isnull=True).values_list("pk", flat=True))
    return ids or list(Label.objects.filter(task=None, name="Unknown").values_list("pk",
                                                                                   flat=True))


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1] * 1000


def check_against_database(task: Task, users: list, run) -> tuple[int, int]:
    """(double leases, lost labels) of ``run`` as the database holds them now."""
    tally = run.tally
    saved = tally.saved
    rows = {a.pk: a for a in ClusterAnnotation.objects.filter(task=task, pk__in=list(saved))
            .prefetch_related("labels")}
    lost = 0
    double = set(tally.double_offers) | set(tally.saved_twice)
    for pk, (who, labels) in saved.items():
        row = rows.get(pk)
        if row is None or row.labelled_at is None:
            lost += 1
        elif row.annotator_id != users[who].pk:
            double.add(pk)  # acknowledged to one annotator, saved as another's
        elif sorted(label.pk for label in row.labels.all()) != sorted(labels):
            lost += 1
    return len(double), lost


def run_load_test(task: Task, *, annotators: int, seconds: float, url: str,
                  pace: float | None = None, cookies: dict[str, str] | None = None) -> Report:
    """Run the load test against the server at ``url`` and check the database after.

    ``cookies``: session cookies by username from an earlier run against the same
    server (a benchmark running several cases logs in once); the accounts missing from
    it are (re)created with a new password and logged in, and added to it.
    Raises loadtest_client.LoadTestError when the server refuses the log-ins.
    """
    from accounts.models import User

    names = usernames_for(task, annotators)
    cookies = {} if cookies is None else cookies
    missing = [n for n in names if n not in cookies]
    if missing:
        _, password = do_ensure_members(task.survey.organisation, missing, role=Role.ANNOTATOR)
        cookies.update(asyncio.run(log_in_all(url, missing, password)))
    by_name = {u.username: u for u in User.objects.filter(username__in=names)}
    users = [by_name[n] for n in names]
    run = asyncio.run(run_annotators(url, task.pk, [cookies[n] for n in names],
                                     label_ids_for(task), seconds, pace))
    double, lost = check_against_database(task, users, run)
    tally = run.tally
    problems = tally.handshake_failures + tally.errors
    return Report(
        annotators=annotators, connected=run.connected, seconds=round(run.seconds, 2),
        labels=len(tally.saved), labels_per_second=round(len(tally.saved) / run.seconds, 1),
        p50_ms=_round(_percentile(tally.latencies, 0.5)),
        p99_ms=_round(_percentile(tally.latencies, 0.99)),
        handshake_failures=len(tally.handshake_failures),
        handshake_p99_ms=_round(_percentile(tally.handshake_seconds, 0.99)),
        errors=len(tally.errors), double_leases=double, lost_labels=lost, pace=pace,
        first_errors=problems[:5])


def _round(value):
    return None if value is None else round(value, 1)
