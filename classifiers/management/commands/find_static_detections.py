import json

from django.core.management.base import BaseCommand, CommandError

from classifiers.services.static import do_find_static_detections
from core.exceptions import UserError
from surveys.selectors import survey_named


class Command(BaseCommand):
    help = ("Apply a survey's masks and find its static detections (boxes that recur at one "
            "camera) here, now: new groups wait in the admin (Static groups) to be accepted "
            "or rejected; decisions made at the same camera location in earlier surveys are "
            "applied. Safe to run again.")

    def add_arguments(self, parser):
        parser.add_argument("--survey", required=True, help="Survey name.")
        parser.add_argument("--org", help="Organisation name (or id), when several have the "
                            "survey.")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")

    def handle(self, *args, survey, org, json: bool, **options):
        try:
            target = survey_named(survey, org)
            counts = do_find_static_detections(target)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        if json:
            self.stdout.write(_dumps({"survey": target.name, **counts}))
            return
        self.stdout.write(
            f"Survey “{target.name}”: {counts['pending_groups']} static group(s) to review, "
            f"{counts['remembered_groups']} decided from earlier surveys at the same cameras, "
            f"{counts['static_boxes']} static box(es); masks: {counts['masked']} box(es) "
            f"masked, {counts['unmasked']} un-masked.")


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
