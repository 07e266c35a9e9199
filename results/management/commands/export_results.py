from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Task
from core.exceptions import UserError
from results.services.results import (
    AGGREGATE_COLUMNS,
    AVAILABLE_COLUMNS,
    DETECTION_COLUMNS,
    IMAGE_COLUMNS,
    LEVELS,
    RESULT_COLUMNS,
    ResultsOptions,
    check_options,
    default_columns,
    write_results_csv,
)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date; write it as YYYY-MM-DD.") from exc


class Command(BaseCommand):
    help = ("Write a task's results as CSV: by default one row per cluster and species (or "
            "per cluster with --joined); --level picks detection, image, cluster rows or sums "
            "per camera, site or survey. Cluster columns: " + ", ".join(AVAILABLE_COLUMNS)
            + "; image rows add " + ", ".join(IMAGE_COLUMNS) + "; detection rows add "
            + ", ".join(DETECTION_COLUMNS) + "; sums: " + ", ".join(AGGREGATE_COLUMNS) + ".")

    def add_arguments(self, parser):
        parser.add_argument("--task", type=int, required=True, help="The task's id.")
        parser.add_argument("--out", required=True, help="The CSV file to write ('-' for stdout).")
        parser.add_argument("--level", choices=LEVELS, default="cluster",
                            help="One row per detection, image or cluster (and label); or one "
                            "per camera, site or survey and label, with sums.")
        parser.add_argument("--columns", help="Comma-separated columns, in order (default "
                            "for clusters: " + ",".join(RESULT_COLUMNS) + ").")
        parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                            help="Name a column differently in the header (repeatable).")
        parser.add_argument("--joined", action="store_true",
                            help="One row per cluster, its labels joined with '; '.")
        parser.add_argument("--labels", help="Comma-separated label names to keep.")
        parser.add_argument("--since", type=_day, help="Clusters from this day (YYYY-MM-DD, "
                            "the survey's time zone).")
        parser.add_argument("--until", type=_day, help="Clusters up to this day, included.")

    def handle(self, *args, task, out, level, columns, rename, joined, labels, since, until,
               **options):
        found = Task.objects.select_related("survey").filter(pk=task).first()
        if found is None:
            raise CommandError(f"There is no task with id {task}. List tasks in the admin.")
        renames = {}
        for pair in rename:
            old, sep, new = pair.partition("=")
            if not sep:
                raise CommandError(f"--rename {pair!r}: write it as OLD=NEW.")
            renames[old.strip()] = new.strip()
        spec = ResultsOptions(
            columns=[c.strip() for c in columns.split(",")] if columns
            else default_columns(level),
            level=level, rename=renames, joined=joined,
            labels=[name.strip() for name in labels.split(",")] if labels else None,
            since=since, until=until,
        )
        try:
            check_options(spec)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        if out == "-":
            rows = write_results_csv(found, self.stdout, spec)
        else:
            path = Path(out)
            if not path.parent.exists():
                raise CommandError(f"The folder {path.parent} does not exist.")
            with path.open("w", newline="", encoding="utf-8") as fh:
                rows = write_results_csv(found, fh, spec)
            self.stderr.write(f"Wrote {rows} row(s) to {path}.")
