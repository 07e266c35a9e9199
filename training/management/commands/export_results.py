from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Task
from training.services.results import write_results_csv


class Command(BaseCommand):
    help = "Write a task's results as CSV: one row per cluster and species."

    def add_arguments(self, parser):
        parser.add_argument("--task", type=int, required=True, help="The task's id.")
        parser.add_argument("--out", required=True, help="The CSV file to write ('-' for stdout).")

    def handle(self, *args, task, out, **options):
        found = Task.objects.select_related("survey").filter(pk=task).first()
        if found is None:
            raise CommandError(f"There is no task with id {task}. List tasks in the admin.")
        if out == "-":
            rows = write_results_csv(found, self.stdout)
        else:
            path = Path(out)
            if not path.parent.exists():
                raise CommandError(f"The folder {path.parent} does not exist.")
            with path.open("w", newline="", encoding="utf-8") as fh:
                rows = write_results_csv(found, fh)
            self.stderr.write(f"Wrote {rows} row(s) to {path}.")
