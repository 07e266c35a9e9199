from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from results.services.record_table import export_record_table
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Write camtrapR-style record_table.csv (independent records per station and "
            "species) and camera_operation.csv (station × day) into a folder.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name, when several have the survey.")
        parser.add_argument("--task", type=int, help="The task whose labels count "
                            "(default: the survey's latest).")
        parser.add_argument("--interval", type=float, required=True,
                            help="Minutes between independent records of a species at a "
                            "station (e.g. 30).")
        parser.add_argument("--out", required=True, help="The folder to write into.")

    def handle(self, *args, survey, org, task, interval, out, **options):
        try:
            found = survey_named(survey, org)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        folder = Path(out)
        if not folder.is_dir():
            raise CommandError(f"The folder {folder} does not exist; create it first.")
        try:
            result = export_record_table(found, folder, interval_minutes=interval,
                                         task_id=task)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Wrote {result['records']} independent record(s) from task “{result['task'].name}” "
            f"and {result['stations']} station(s) of camera operation into {folder}."
            + (f" {result['untimed']} labelled cluster(s) without a time were left out."
               if result["untimed"] else ""))
