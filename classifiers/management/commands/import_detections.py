import json

from django.core.management.base import BaseCommand, CommandError

from classifiers.services import megadetector
from core.exceptions import UserError
from surveys.selectors import survey_named

SHOWN = 50  # names listed in the text report; --json lists them all


class Command(BaseCommand):
    help = (
        "Import MegaDetector batch output (format 1.x) into a survey: boxes of conf ≥ 0.05 on "
        "the images the file names (paths relative to the folder the survey was imported "
        "from, with or without that folder's name). Importing a file again replaces that "
        "detector's boxes on its images; files the survey lacks are listed and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name (or id), when several have the "
                            "survey.")
        parser.add_argument("--json-file", required=True, help="MegaDetector's output .json.")
        parser.add_argument("--detector", help="The detector name/version to record as the "
                            "boxes' source (default: the file's info.detector).")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args, survey, org, json_file, detector, json, **options):
        as_json = json
        try:
            target = survey_named(survey, org)
            batch = megadetector.read_batch_output(json_file)
            result = megadetector.do_import_detections(
                target, batch, detector=detector, progress=self._progress)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(_dumps(result.as_dict()))
            return
        self.stdout.write(
            f"Survey “{target.name}”: stored {result.detections_stored} box(es) from "
            f"{result.source} on {result.images_updated} image(s) of the "
            f"{result.images_in_file} in the file; {result.detections_replaced} earlier "
            f"box(es) of {result.source} replaced; {result.low_confidence_skipped} box(es) "
            f"under conf {megadetector.MIN_CONFIDENCE} left out."
        )
        self._list(result.failed, "failure record(s) (MegaDetector could not read the image; "
                   "left as they were)")
        self._list(result.missing, "file(s) the survey does not have (skipped)")

    def _list(self, names: list[str], what: str) -> None:
        if not names:
            return
        self.stdout.write(f"{len(names)} {what}:")
        for name in names[:SHOWN]:
            self.stdout.write(f"  {name}")
        if len(names) > SHOWN:
            self.stdout.write(f"  … and {len(names) - SHOWN} more (--json lists them all)")

    def _progress(self, done: int, total: int) -> None:
        self.stderr.write(f"Stored the boxes of {done}/{total} images")


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
