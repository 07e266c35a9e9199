import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifiers.services.megadetector import write_batch_output
from core.exceptions import UserError
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Write one detector's boxes on a survey as MegaDetector batch output (format "
            "1.4), that detector named in its header: its images by their path relative to "
            "the folder they were imported from, with its boxes (those deleted, static, "
            "hidden or masked left out). Default: the current detector; --detector picks an "
            "earlier, superseded one.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name (or id), when several have the "
                            "survey.")
        parser.add_argument("--out", required=True, help="The .json file to write.")
        parser.add_argument("--detector", help="Whose boxes: the source recorded on them "
                            "(e.g. md_v5a.0.0, motion, \"yolox-tiny-animal 20220528\"); "
                            "default: the detector whose boxes are current.")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args, survey, org, out, detector, json: bool, **options):
        path = Path(out)
        if not path.parent.is_dir():
            raise CommandError(f"The folder {path.parent} does not exist; create it first.")
        try:
            target = survey_named(survey, org)
            # Written beside and renamed at the end: a half-written file never has the name.
            partial = path.with_name(path.name + ".part")
            try:
                with open(partial, "w", encoding="utf-8") as fh:
                    counts = write_batch_output(target, fh, detector=detector)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
        if json:
            self.stdout.write(_dumps({"out": str(path), **counts}))
            return
        self.stdout.write(f"Wrote {counts['detections']} box(es) on {counts['images']} "
                          f"image(s) of survey “{target.name}” to {path} (detector: "
                          f"{counts['detector']}).")


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
