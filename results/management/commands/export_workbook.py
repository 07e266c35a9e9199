from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from results.selectors import task_for
from results.services.workbook import export_workbook
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Write an Excel workbook of a task's labelled clusters: one row per label "
            "(parents with their children beneath), one column per site.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name, when several have the survey.")
        parser.add_argument("--task", type=int, help="The task whose labels are counted "
                            "(default: the survey's latest).")
        parser.add_argument("--out", required=True, help="The .xlsx file to write.")

    def handle(self, *args, survey, org, task, out, **options):
        path = Path(out)
        if path.suffix.lower() != ".xlsx":
            raise CommandError(f"{path}: give a file name ending in .xlsx.")
        if not path.parent.is_dir():
            raise CommandError(f"The folder {path.parent} does not exist; create it first.")
        try:
            result = export_workbook(task_for(survey_named(survey, org), task), path)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Wrote {result['labels']} label row(s) × {result['sites']} site(s) "
                          f"from task “{result['task'].name}” to {path}.")
