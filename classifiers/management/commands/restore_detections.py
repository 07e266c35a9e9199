import json

from django.core.management.base import BaseCommand, CommandError

from classifiers.services.supersede import describe, do_restore_detections, survey_detectors
from core.exceptions import UserError
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Bring back an earlier detector's boxes on a survey: importing results or running "
            "another detector superseded them (kept, not shown or counted). On the images "
            "they are on, the boxes of the detector that replaced them are superseded instead; "
            "people's boxes stay. Without --detector, lists the survey's detectors.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name (or id), when several have the "
                            "survey.")
        parser.add_argument("--detector", help="The boxes' source, e.g. motion or md_v5a.0.0.")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args, survey, org, detector, json: bool, **options):
        try:
            target = survey_named(survey, org)
            if detector is None:
                detectors = survey_detectors(target)
                self.stdout.write(_dumps(detectors) if json else
                                  f"Survey “{target.name}”: {describe(detectors)}.")
                return
            counts = do_restore_detections(target, detector)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        if json:
            self.stdout.write(_dumps({"survey": target.name, "detector": detector, **counts}))
            return
        self.stdout.write(
            f"Survey “{target.name}”: {counts['restored']} box(es) of {detector} restored on "
            f"{counts['images']} image(s); {counts['superseded']} box(es) of other detectors "
            "superseded. Run find_static_detections and run_classifier again to bring the "
            "static groups and classifications up to date.")


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
