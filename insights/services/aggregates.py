"""The numbers behind a survey's insights page, from a constant number of bulk queries.

Definitions (the page repeats them under each plot):

* **Detection**: a cluster with a species. *Verified*: a species label of the task on a
  cluster labelled by a person. *AI-only*: the classifier's suggestion on a cluster that
  nobody has labelled in the task. Special labels (Nothing, Unknown, …) are no species.
* **Independent detection**: camtrapR's rule, as in the record table
  (results.services.record_table.Independence): at least the independence interval
  after the last independent detection of the same species at the same site. Activity,
  detection rates and the map count independent detections, timed at the cluster's start
  (its first corrected timestamp) in the survey's time zone.
* **Camera operation**: a camera works from the local day of its first image to that of
  its last, except the days wholly inside a gap between two consecutive images longer
  than ``settings.INSIGHTS_GAP_DAYS`` (such gaps are flagged).
* **Trap-nights**: per site, the days on which at least one of its cameras worked
  (camtrapR's station-level effort); the survey's is the sum over its sites.

Every aggregate is a COUNT … GROUP BY in the database, or one streamed ``values_list``
pass over the task's label rows (one a detection, never one an image) whose rows are
bucketed in Python (hours of the day are converted with zoneinfo here, not by the
database: MariaDB without its time-zone tables cannot). No model instance of an image is
ever made. Detection times are whole seconds (as cameras write them).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, Func, IntegerField, Max, Min, OuterRef, Q
from django.utils.functional import cached_property

from annotation.models import ClusterAnnotation, Label, Task
from classifiers.models import Detection
from classifiers.selectors import relevance_of
from results.services.record_table import Independence, day_range
from surveys.models import Camera, Cluster, Image, Site, Survey

STREAM_CHUNK = 5000
ALL_SITES = "All sites"


@dataclass(frozen=True)
class Filters:
    """What the page shows: every field optional; the defaults show everything."""

    species: str = ""  # one species name, or every species
    site_id: int | None = None
    since: date | None = None  # local days of the survey's time zone, both included
    until: date | None = None
    interval_minutes: float = 30.0  # independence interval
    include_ai: bool = False  # count AI-only detections in activity, rates and the map
    task_id: int | None = None  # the task whose labels count (default: the latest)


@dataclass
class CameraOperation:
    """One camera's operation: working spans and flagged gaps (local days)."""

    camera_id: int
    path: str
    site_id: int
    first: datetime | None = None
    last: datetime | None = None
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    days: set[date] = field(default_factory=set)


@dataclass
class SurveyInsights:
    survey: Survey
    filters: Filters
    task: Task | None
    tz: ZoneInfo
    sites: dict[int, tuple[str, float | None, float | None]]  # id -> name, lat, lon
    headline: dict[str, object]
    # (site id, species) -> count, verified and AI-only apart
    verified: Counter
    ai_only: Counter
    # species -> 24 counts of independent detections by local hour
    activity: dict[str, list[int]]
    # (site id, species) -> independent detections
    independent: Counter
    trap_nights: dict[int, int]  # site id -> trap-nights
    cameras: list[CameraOperation]
    gap_days: float

    @property
    def species(self) -> list[str]:
        names = {s for _site, s in self.verified} | {s for _site, s in self.ai_only}
        return sorted(names, key=str.casefold)

    @property
    def only_ai_found(self) -> bool:
        """Only AI suggestions match the filters and they are not counted in the timed
        plots: the page says how to see them (a new survey, before anyone labels)."""
        return bool(self.ai_only) and not self.verified and not self.filters.include_ai


# --- pure helpers (tested by hand) -------------------------------------------------
def local_hour(moment: datetime | float, tz: ZoneInfo) -> int:
    """The hour of the day (0-23) in ``tz`` of an aware datetime or of seconds since 1970."""
    if isinstance(moment, datetime):
        return moment.astimezone(tz).hour
    return datetime.fromtimestamp(moment, tz).hour


def operation_days(first: datetime, last: datetime, gaps, tz: ZoneInfo) -> set[date]:
    """The local days a camera worked: its first image's day to its last's, both included,
    minus the days strictly between the two ends of each flagged gap."""
    days = set(day_range(first.astimezone(tz).date(), last.astimezone(tz).date()))
    for start, end in gaps:
        after, before = start.astimezone(tz).date(), end.astimezone(tz).date()
        days.difference_update(day_range(after + timedelta(days=1), before - timedelta(days=1)))
    return days


def operation(camera: CameraOperation, timestamps, tz: ZoneInfo, gap: timedelta) -> CameraOperation:
    """Fill ``camera`` from its images' corrected timestamps in time order (the rule the
    database applies in ``_operation``, in Python: for small cases and tests)."""
    previous = None
    for moment in timestamps:
        if previous is None:
            camera.first = moment
        elif moment - previous > gap:
            camera.gaps.append((previous, moment))
        previous = moment
    if previous is not None:
        camera.last = previous
        camera.days = operation_days(camera.first, previous, camera.gaps, tz)
    return camera


def window(filters: Filters, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The filters' date range as aware datetimes [start, end)."""
    start = datetime.combine(filters.since, time(), tzinfo=tz) if filters.since else None
    end = (datetime.combine(filters.until + timedelta(days=1), time(), tzinfo=tz)
           if filters.until else None)
    return start, end


def _in_window(field_name: str, start, end) -> Q:
    q = Q()
    if start is not None:
        q &= Q(**{f"{field_name}__gte": start})
    if end is not None:
        q &= Q(**{f"{field_name}__lt": end})
    return q


# --- queries -------------------------------------------------------------------------
def task_of(survey: Survey, task_id: int | None) -> Task | None:
    """The task whose labels count: ``task_id`` of this survey, else the latest; or None."""
    tasks = Task.objects.filter(survey=survey)
    if task_id is not None:
        return tasks.filter(pk=task_id).first()
    return tasks.order_by("-created_at", "-id").first()


def species_choices(survey: Survey, task: Task | None) -> list[str]:
    """Species a person may filter on: the task's labels and the classifier's suggestions."""
    names = set()
    if task is not None:
        names |= set(Label.objects.filter(task=task).values_list("name", flat=True))
    names |= set(Cluster.objects.filter(survey=survey).exclude(suggestion="")
                 .values_list("suggestion", flat=True).distinct())
    return sorted(names, key=str.casefold)


def _labelled(task: Task | None):
    """Whether a cluster has a person's label in ``task`` (an Exists for a Cluster query)."""
    if task is None:
        return Q(pk__in=[])
    return Exists(ClusterAnnotation.objects.filter(
        task=task, cluster=OuterRef("pk"), labelled_at__isnull=False))


def _verified_rows(task: Task | None, filters: Filters, start, end):
    """Label rows (site id, species, cluster start) of the task, filtered."""
    through = ClusterAnnotation.labels.through
    if task is None:
        return through.objects.none().values_list("id")
    rows = through.objects.filter(clusterannotation__task=task,
                                  clusterannotation__labelled_at__isnull=False,
                                  label__task=task)
    rows = rows.filter(_in_window("clusterannotation__cluster__start", start, end))
    if filters.site_id is not None:
        rows = rows.filter(clusterannotation__cluster__site_id=filters.site_id)
    if filters.species:
        rows = rows.filter(label__name=filters.species)
    return rows


def _ai_rows(survey: Survey, task: Task | None, filters: Filters, start, end):
    """Clusters with a suggestion and no person's label in the task, filtered."""
    rows = Cluster.objects.filter(survey=survey).exclude(suggestion="").filter(~_labelled(task))
    rows = rows.filter(_in_window("start", start, end))
    if filters.site_id is not None:
        rows = rows.filter(site_id=filters.site_id)
    if filters.species:
        rows = rows.filter(suggestion=filters.species)
    return rows


RANGE_SLACK = 4  # image ids of a survey's images may span this many times their number


def _with_animals(survey: Survey, images, counted: dict) -> int:
    """How many of the detected ``images`` have a relevant box (``counted``: their number
    and their first and last id).

    Imports make images in bulk, so their ids are usually dense: then the boxes of that
    id range are read once, a plain index range (the sources for relevance_of, then the
    relevant boxes' images as one set), where probing each image's boxes cost 3 times
    more on SQLite. Other surveys' boxes in the range are never counted (the images are
    this survey's), and their sources change no threshold. A sparse range (interleaved
    imports) would read too many other boxes: then each image's boxes are probed.
    """
    first, last = counted["first"], counted["last"]
    if first is None:
        return 0
    if last - first + 1 <= RANGE_SLACK * counted["n_images"]:
        boxes = Detection.objects.filter(image__gte=first, image__lte=last)
        relevant = relevance_of(survey, boxes).apply(boxes)
        return images.filter(detected=True, id__in=relevant.values("image_id")).count()
    kept = relevance_of(survey).apply(Detection.objects.filter(image=OuterRef("pk")))
    # An EXISTS in a WHERE, where MariaDB makes it a semi-join: inside COUNT(CASE …) it
    # runs as a dependent subquery per row, 3-4 times slower over 100,000 images.
    return images.filter(detected=True).filter(Exists(kept)).count()


def _headline(survey, task, filters, start, end) -> dict[str, object]:
    images = Image.objects.filter(camera__site__survey=survey)
    clusters = Cluster.objects.filter(survey=survey)
    if filters.site_id is not None:
        images = images.filter(camera__site_id=filters.site_id)
        clusters = clusters.filter(site_id=filters.site_id)
    if start or end:
        images = images.filter(_in_window("corrected_timestamp", start, end))
        clusters = clusters.filter(_in_window("start", start, end))
    counts = images.aggregate(
        n_images=Count("id"), n_detected=Count("id", filter=Q(detected=True)),
        first=Min("id"), last=Max("id"))
    with_animals = _with_animals(survey, images, counts)
    # Counted apart, each EXISTS in a WHERE (see _with_animals).
    n_clusters = clusters.count()
    labelled = clusters.filter(_labelled(task)).count()
    detected = counts["n_detected"]
    return {
        "images": counts["n_images"],
        "detected": detected,
        "empty": detected - with_animals,
        "empty_share": (detected - with_animals) / detected if detected else None,
        "clusters": n_clusters,
        "labelled": labelled,
        "labelled_share": labelled / n_clusters if n_clusters else None,
    }


def _counted(rows: Iterable[tuple], counts: Counter) -> Iterator[tuple]:
    """Count every (site id, species, seconds) row in ``counts``; pass on the timed ones."""
    for site_id, species, seconds in rows:
        counts[(site_id, species)] += 1
        if seconds is not None:
            yield site_id, species, seconds


def _detections(verified_rows, ai_rows, include_ai: bool, tz: ZoneInfo, interval: timedelta):
    """Species counts and independent detections from one streamed pass.

    The task's label rows and the AI-only clusters are streamed in time order and
    counted here (no COUNT query reads them a second time); the AI-only ones join the
    independent detections when asked (``include_ai``). Independence keeps one clock per
    (site, species), so time order is all it needs; times come as whole seconds since
    1970 (no datetime parsed per row).

    Returns (verified, ai_only: (site, species) -> n; activity: species -> 24 hourly
    counts; independent: (site, species) -> n).
    """
    verified, ai_only = Counter(), Counter()
    start = "clusterannotation__cluster__start"
    verified_stream = _counted(verified_rows.values_list(
        "clusterannotation__cluster__site_id", "label__name", EpochSeconds(start))
        .order_by(start, "clusterannotation__cluster_id").iterator(chunk_size=STREAM_CHUNK),
        verified)
    ai_stream = _counted(ai_rows.values_list("site_id", "suggestion", EpochSeconds("start"))
                         .order_by("start", "id").iterator(chunk_size=STREAM_CHUNK), ai_only)
    if include_ai:
        timed = heapq.merge(verified_stream, ai_stream, key=lambda r: r[2])
    else:
        timed = verified_stream
        deque(ai_stream, maxlen=0)  # counted, not timed
    independence = Independence(interval.total_seconds())
    activity: dict[str, list[int]] = defaultdict(lambda: [0] * 24)
    independent: Counter = Counter()
    for site_id, species, seconds in timed:
        if independence.check(site_id, species, seconds) is None:
            continue
        activity[species][local_hour(seconds, tz)] += 1
        independent[(site_id, species)] += 1
    return verified, ai_only, dict(activity), independent


class EpochSeconds(Func):
    """Whole seconds since 1970 of a (UTC) datetime column, computed in the database.

    Plain arithmetic, no time zone: the column holds UTC. Django's own datetime
    subtraction runs a Python function per row on SQLite; this runs in C everywhere
    (SQLite's ``unixepoch()`` where there is one: 2-3 times faster than strftime).
    """

    output_field = IntegerField()

    @cached_property
    def convert_value(self):
        # Every backend's SQL below returns integers: no int() per row (20,000 rows a page).
        return self._convert_value_noop

    def as_sqlite(self, compiler, connection, **extra):
        if connection.Database.sqlite_version_info >= (3, 38, 0):
            return self.as_sql(compiler, connection, template="unixepoch(%(expressions)s)",
                               **extra)
        return self.as_sql(compiler, connection,
                           template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)", **extra)

    def as_mysql(self, compiler, connection, **extra):
        # TO_SECONDS counts from year 0; ~15% cheaper per row than TIMESTAMPDIFF(SECOND …).
        return self.as_sql(compiler, connection,
                           template="(TO_SECONDS(%(expressions)s) - 62167219200)", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection,
                           template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS BIGINT)", **extra)


class Period(Func):
    """Which period of ``width`` seconds a number of seconds since 1970 falls in
    (integer division everywhere; shifted so that times before 1970 divide alike)."""

    output_field = IntegerField()

    def __init__(self, seconds, width: int):
        self.width = int(width)
        self.shift = self.width * (10**10 // self.width + 1)  # > 300 years of seconds
        super().__init__(seconds)

    def as_sql(self, compiler, connection, **extra):
        divide = "DIV" if connection.vendor == "mysql" else "/"
        return super().as_sql(compiler, connection, **extra, template=(
            f"((%(expressions)s + {self.shift}) {divide} {self.width})"))


def _operation(survey, filters, start, end, tz, gap) -> list[CameraOperation]:
    """Every camera's operation from one GROUP BY, whatever the number of images.

    The first and last image of each camera in each period of ``gap`` (camera, period,
    MIN, MAX: a few rows a camera, read from the (camera, time) index). Two images in
    one period are never more than ``gap`` apart, so every silence longer than ``gap``
    lies between one period's last image and the next non-empty period's first: the
    flagged gaps, exactly, without reading every image in order (LAG() did).
    """
    cameras = {
        cid: CameraOperation(cid, path, site_id)
        for cid, path, site_id in Camera.objects.filter(site__survey=survey)
        .filter(**({"site_id": filters.site_id} if filters.site_id is not None else {}))
        .order_by("site__name", "path").values_list("id", "path", "site_id")
    }
    images = Image.objects.filter(camera__site__survey=survey, corrected_timestamp__isnull=False)
    if filters.site_id is not None:
        images = images.filter(camera__site_id=filters.site_id)
    images = images.filter(_in_window("corrected_timestamp", start, end)).order_by()
    periods = (images.annotate(period=Period(EpochSeconds("corrected_timestamp"),
                                             max(1, int(gap.total_seconds()))))
               .values_list("camera_id", "period")
               .annotate(first=Min("corrected_timestamp"), last=Max("corrected_timestamp")))
    for camera_id, _period, first, last in sorted(periods, key=lambda r: (r[0], r[2])):
        camera = cameras[camera_id]
        if camera.first is None:
            camera.first = first
        elif first - camera.last > gap:
            camera.gaps.append((camera.last, first))
        camera.last = last
    for camera in cameras.values():
        if camera.first is not None:
            camera.days = operation_days(camera.first, camera.last, camera.gaps, tz)
    return list(cameras.values())


def survey_insights(survey: Survey, filters: Filters) -> SurveyInsights:
    """Every aggregate of the insights page for ``survey`` under ``filters``.

    Preconditions: the caller checked the user may view ``survey`` (insights.selectors)
    and validated ``filters`` (insights.forms). A constant number of queries.
    """
    tz = ZoneInfo(survey.timezone)
    start, end = window(filters, tz)
    task = task_of(survey, filters.task_id)
    gap_days = float(settings.INSIGHTS_GAP_DAYS)
    sites = {sid: (name, lat, lon) for sid, name, lat, lon in
             Site.objects.filter(survey=survey).order_by("name", "id")
             .values_list("id", "name", "latitude", "longitude")}
    verified, ai_only, activity, independent = _detections(
        _verified_rows(task, filters, start, end), _ai_rows(survey, task, filters, start, end),
        filters.include_ai, tz, timedelta(minutes=filters.interval_minutes))
    cameras = _operation(survey, filters, start, end, tz, timedelta(days=gap_days))
    site_days: dict[int, set[date]] = defaultdict(set)
    for camera in cameras:
        site_days[camera.site_id] |= camera.days
    trap_nights = {site_id: len(days) for site_id, days in site_days.items()}
    headline = _headline(survey, task, filters, start, end)
    headline["species"] = len({s for _site, s in verified})
    headline["trap_nights"] = sum(trap_nights.values())
    headline["independent"] = sum(independent.values())
    return SurveyInsights(
        survey=survey, filters=filters, task=task, tz=tz, sites=sites, headline=headline,
        verified=verified, ai_only=ai_only, activity=activity, independent=independent,
        trap_nights=trap_nights, cameras=cameras, gap_days=gap_days)
