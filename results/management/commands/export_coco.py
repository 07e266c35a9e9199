from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from results.services.coco import export_coco
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Write a task's labelled clusters as COCO Camera Traps JSON (images with "
            "sequence, location and time; categories with 0 = empty; boxes in pixels).")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name, when several have the survey.")
        parser.add_argument("--task", type=int, help="The task whose labels are written "
                            "(default: the survey's latest).")
        parser.add_argument("--out", required=True, help="The .json file to write.")

    def handle(self, *args, survey, org, task, out, **options):
        path = Path(out)
        if not path.parent.is_dir():
            raise CommandError(f"The folder {path.parent} does not exist; create it first.")
        if path.is_dir():
            raise CommandError(f"{path} is a folder; give a file name ending in .json.")
        try:
            result = export_coco(survey_named(survey, org), path, task_id=task)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Wrote {result['images']} image(s) and {result['annotations']} annotation(s) "
            f"({result['boxes']} with a box) from task “{result['task'].name}” to {path}.")
