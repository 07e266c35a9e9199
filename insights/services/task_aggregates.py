"""The numbers behind a task's annotation page, from five GROUP BY queries.

Definitions (the page repeats them):

* **Clusters of the task**: its ClusterAnnotation rows (one per cluster of the survey,
  made when the task is launched). **Labelled**: saved by a person (``labelled_at`` set).
* **Progress**: clusters labelled by the end of each clock hour (UTC hours, drawn in the
  site's time zone, ``settings.TIME_ZONE``), against the task's clusters.
* **Throughput**: per annotator, clusters labelled; ``clusters/hour`` is clusters with a
  measured time divided by the hours measured (``seconds_spent``: from the cluster being
  offered to its label being saved, so time between clusters and away from the page is
  not in it); the median is taken of the measured seconds rounded to 0.1 s in the
  database. Labels imported from elsewhere have no annotator and no measured time.
* **Agreement with the AI**: of an annotator's labelled clusters that carried a classifier
  suggestion, the share where one of the annotator's labels is the suggestion (names
  compared without case, the way translations match classes to labels). A cluster queued
  for the AI check was queued because its labels lacked the suggestion: it counts as a
  disagreement whatever a checker did to its labels afterwards (accepting the suggestion
  replaces them, so they are no longer the annotator's).
* **Kept on check**: the only second opinion a task stores is the AI check's (one set of
  labels per cluster and task; a relabel replaces it). Of an annotator's clusters that
  another person checked, the share whose labels that person kept (rejected the AI's
  suggestion) rather than replacing them (accepted it, or gave other labels). The
  sample is the clusters where the annotator and the AI disagreed, not a random one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.functions import Round, TruncHour
from django.utils import timezone

from annotation.models import ClusterAnnotation, Task
from annotation.taxonomy import AI_VERDICTS, AiCheck

NO_ANNOTATOR = "(no annotator recorded)"


@dataclass
class AnnotatorRow:
    """One annotator's work in a task."""

    annotator_id: int | None
    name: str
    clusters: int  # clusters labelled
    measured: int  # of those, with a measured time
    seconds: float  # the measured time, summed
    median_seconds: float | None
    first: datetime | None
    last: datetime | None
    suggested: int = 0  # labelled clusters that carried an AI suggestion
    agreed: int = 0  # of those, one of the annotator's labels was the suggestion
    checked: int = 0  # labelled clusters another person answered the AI check of
    kept: int = 0  # of those, the checker kept the annotator's labels

    @property
    def clusters_per_hour(self) -> float | None:
        return per_hour(self.measured, self.seconds)

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.suggested if self.suggested else None

    @property
    def kept_share(self) -> float | None:
        return self.kept / self.checked if self.checked else None


@dataclass
class TaskInsights:
    task: Task
    tz: ZoneInfo  # the zone times are shown in
    total: int  # clusters of the task
    labelled: int
    hourly: list[tuple[datetime, int]]  # (UTC hour start, clusters labelled in it), in order
    annotators: list[AnnotatorRow]

    @property
    def progress(self) -> list[tuple[datetime, int, int]]:
        """(hour start, labelled in that hour, labelled by its end)."""
        return cumulative(self.hourly)


# --- pure helpers (tested by hand) -------------------------------------------------
def per_hour(clusters: int, seconds: float) -> float | None:
    """Clusters per hour of measured time (None without any)."""
    return round(clusters * 3600 / seconds, 2) if seconds else None


def median_of_counts(counts: dict[float, int]) -> float | None:
    """The median of values given as {value: how many times}; the mean of the middle two."""
    n = sum(counts.values())
    if not n:
        return None
    wanted = [(n - 1) // 2, n // 2]  # positions of the middle value(s), from 0
    found, seen = [], 0
    for value in sorted(counts):
        seen += counts[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
    return (found[0] + found[1]) / 2


def cumulative(hourly: list[tuple[datetime, int]]) -> list[tuple[datetime, int, int]]:
    total, rows = 0, []
    for hour, n in hourly:
        total += n
        rows.append((hour, n, total))
    return rows


def same_name(a: str, b: str) -> bool:
    """Whether a classifier class and a label name the same thing (case-insensitive)."""
    return a.strip().casefold() == b.strip().casefold()


# --- queries -----------------------------------------------------------------------
class UTCHour(TruncHour):
    """The UTC hour a datetime falls in. On SQLite by its own strftime: Django's TruncHour
    there is a Python function called for every row (70 ms for a task of 14,000 labels,
    the page's slowest query); other databases truncate natively."""

    def __init__(self, expression):
        super().__init__(expression, tzinfo=UTC)

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.lhs)  # stored as UTC text: "YYYY-MM-DD HH:MM:SS"
        return f"strftime(%s, {sql})", ("%Y-%m-%d %H:00:00", *params)


def _annotators(labelled) -> list[AnnotatorRow]:
    """Per-annotator counts, medians and agreement (three GROUP BY queries)."""
    by_another = Q(ai_check__in=AI_VERDICTS) & ~Q(checked_by=F("annotator"))
    rows = {
        aid: AnnotatorRow(aid, name or NO_ANNOTATOR, clusters, measured, seconds or 0.0,
                          None, first, last, suggested=suggested, checked=checked, kept=kept)
        for aid, name, clusters, measured, seconds, suggested, checked, kept, first, last
        in labelled.values_list("annotator_id", "annotator__username")
        .annotate(clusters=Count("id"), measured=Count("seconds_spent"),
                  seconds=Sum("seconds_spent"),
                  suggested=Count("id", filter=~Q(cluster__suggestion="")),
                  checked=Count("id", filter=by_another),
                  kept=Count("id", filter=by_another & Q(ai_check=AiCheck.REJECTED)),
                  first=Min("labelled_at"), last=Max("labelled_at")).order_by()
    }
    histograms: dict[int | None, Counter] = defaultdict(Counter)
    for aid, tenths, n in (labelled.filter(seconds_spent__isnull=False)
                           .annotate(tenths=Round("seconds_spent", precision=1))
                           .values_list("annotator_id", "tenths").annotate(n=Count("id"))
                           .order_by()):
        histograms[aid][tenths] += n
    through = ClusterAnnotation.labels.through
    for aid, label, suggestion, n in (
            through.objects.filter(clusterannotation__in=labelled.values("id"),
                                   clusterannotation__ai_check=AiCheck.NONE)
            .exclude(clusterannotation__cluster__suggestion="")
            .values_list("clusterannotation__annotator_id", "label__name",
                         "clusterannotation__cluster__suggestion")
            .annotate(n=Count("id")).order_by()):
        if same_name(label, suggestion):
            rows[aid].agreed += n
    for row in rows.values():
        row.median_seconds = median_of_counts(histograms.get(row.annotator_id, {}))
        row.agreed = min(row.agreed, row.suggested)  # labels differing only in case
    return sorted(rows.values(), key=lambda r: (-r.clusters, r.name.casefold()))


def task_insights(task: Task) -> TaskInsights:
    """Progress, hourly counts, throughput and agreement of ``task`` (five queries).

    Precondition: the caller checked the user may view the task (insights.selectors).
    """
    annotations = ClusterAnnotation.objects.filter(task=task).order_by()
    totals = annotations.aggregate(
        total=Count("id"), labelled=Count("id", filter=Q(labelled_at__isnull=False)))
    labelled = annotations.filter(labelled_at__isnull=False)
    hourly = list(labelled.annotate(hour=UTCHour("labelled_at"))
                  .values_list("hour").annotate(n=Count("id")).order_by("hour"))
    return TaskInsights(
        task=task, tz=timezone.get_default_timezone(), total=totals["total"],
        labelled=totals["labelled"],
        hourly=[(hour.astimezone(UTC), n) for hour, n in hourly],
        annotators=_annotators(labelled))
