"""camtrapR-style inputs for occupancy and activity analyses.

* Record table: one row per independent record (a species at a station), from the
  verified labels of a task. A record is independent when it comes at least
  ``interval`` minutes after the last independent record of the same species at the
  same station (camtrapR's minDeltaTime with deltaTimeComparedTo =
  "lastIndependentRecord"); the delta columns give that time.
* Camera operation matrix: station × day, 1 where the station's cameras were out (from
  its first to its last image), NA before and after, as camtrapR's cameraOperation.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db.models import Max, Min

from annotation.models import ClusterAnnotation, Task
from surveys.models import Image, Survey

from ..exceptions import ExportError
from ..selectors import task_for
from .results import safe_cell

RECORD_COLUMNS = ["Station", "Species", "DateTimeOriginal", "Date", "Time", "delta.time.secs",
                  "delta.time.mins", "delta.time.hours", "delta.time.days", "Directory",
                  "FileName"]
BATCH = 900  # under 1,000: see paging.PAGE


def _labelled_records(task: Task):
    """(station, species, cluster id) of every species label of the task, in table order."""
    through = ClusterAnnotation.labels.through
    return (
        through.objects.filter(clusterannotation__task=task,
                               clusterannotation__labelled_at__isnull=False,
                               label__task=task)
        .order_by("clusterannotation__cluster__site__name", "label__name",
                  "clusterannotation__cluster__start", "clusterannotation__cluster_id")
        .values_list("clusterannotation__cluster__site__name", "label__name",
                     "clusterannotation__cluster_id")
    )


def _first_images(cluster_ids) -> dict[int, tuple]:
    first: dict[int, tuple] = {}
    for cluster_id, camera, filename, taken in (
        Image.objects.filter(cluster_id__in=cluster_ids, corrected_timestamp__isnull=False)
        .order_by("cluster_id", "corrected_timestamp", "filename")
        .values_list("cluster_id", "camera__path", "filename", "corrected_timestamp")
    ):
        first.setdefault(cluster_id, (camera, filename, taken))
    return first


class Independence:
    """camtrapR's minDeltaTime rule, compared to the last independent record.

    Feed records of each (station, species) in time order: ``check`` says whether
    one is independent, i.e. comes at least ``interval`` after the last independent
    record of the same station and species (exactly ``interval`` later counts).
    Used by the record table and by the insights' detection rates.

    Times are datetimes with a timedelta ``interval``, or numbers of seconds with
    ``interval`` in seconds (the insights stream epoch seconds: no datetime per row).
    """

    def __init__(self, interval: timedelta | float):
        self.interval = interval
        self.last: dict[tuple, datetime | float] = {}

    def check(self, station, species, when: datetime | float) -> float | None:
        """Seconds since the last independent record (0 for the first), or None if dependent."""
        previous = self.last.get((station, species))
        if previous is not None and when - previous < self.interval:
            return None
        self.last[(station, species)] = when
        if previous is None:
            return 0
        since = when - previous
        return since.total_seconds() if isinstance(since, timedelta) else since


def write_record_table(task: Task, out, *, interval_minutes: float) -> tuple[int, int]:
    """Write the record table; return (records written, labelled clusters without a time)."""
    if interval_minutes < 0:
        raise ExportError("The independence interval cannot be negative (--interval).")
    tz = ZoneInfo(task.survey.timezone)
    independence = Independence(timedelta(minutes=interval_minutes))
    writer = csv.writer(out)
    writer.writerow(RECORD_COLUMNS)
    written = untimed = 0
    rows = _labelled_records(task).iterator(chunk_size=BATCH)
    while batch := list(islice(rows, BATCH)):
        first = _first_images([cluster_id for _s, _l, cluster_id in batch])
        for station, species, cluster_id in batch:
            if cluster_id not in first:
                untimed += 1
                continue
            camera, filename, taken = first[cluster_id]
            local = taken.astimezone(tz).replace(tzinfo=None)
            delta = independence.check(station, species, local)
            if delta is None:
                continue  # not independent of the last record
            writer.writerow([
                safe_cell(station), safe_cell(species), local.isoformat(sep=" "),
                local.date().isoformat(), local.time().isoformat(), int(delta),
                round(delta / 60, 1), round(delta / 3600, 1), round(delta / 86400, 1),
                safe_cell(camera), safe_cell(filename),
            ])
            written += 1
    return written, untimed


def day_range(first: date, last: date) -> list[date]:
    """Every calendar day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def write_camera_operation(survey: Survey, out) -> int:
    """Write station × day (1 out, NA not set up) from each station's first to last image."""
    tz = ZoneInfo(survey.timezone)
    spans = {
        station: (first.astimezone(tz).date(), last.astimezone(tz).date())
        for station, first, last in (
            Image.objects.filter(camera__site__survey=survey, corrected_timestamp__isnull=False)
            .values_list("camera__site__name")
            .annotate(first=Min("corrected_timestamp"), last=Max("corrected_timestamp"))
            .order_by("camera__site__name")
        )
    }
    writer = csv.writer(out)
    if not spans:
        writer.writerow(["Station"])
        return 0
    days = day_range(min(s for s, _ in spans.values()), max(e for _, e in spans.values()))
    writer.writerow(["Station", *(d.isoformat() for d in days)])
    for station, (first, last) in spans.items():
        writer.writerow([safe_cell(station),
                         *("1" if first <= d <= last else "NA" for d in days)])
    return len(spans)


def export_record_table(survey: Survey, folder: Path, *, interval_minutes: float,
                        task_id: int | None = None) -> dict:
    """Write ``record_table.csv`` and ``camera_operation.csv`` into ``folder``."""
    task = task_for(survey, task_id)
    with (folder / "record_table.csv").open("w", newline="", encoding="utf-8") as fh:
        records, untimed = write_record_table(task, fh, interval_minutes=interval_minutes)
    with (folder / "camera_operation.csv").open("w", newline="", encoding="utf-8") as fh:
        stations = write_camera_operation(survey, fh)
    return {"task": task, "records": records, "untimed": untimed, "stations": stations}
