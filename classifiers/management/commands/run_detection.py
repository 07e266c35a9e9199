from django.core.management.base import CommandError

from classifiers.selectors import detection_counts
from classifiers.services.runs import do_run_detection
from core.exceptions import UserError
from surveys.selectors import survey_named

from ._following import StageCommand


class Command(StageCommand):
    help = ("Run the detection stage of a ready (or failed) survey again, then the stages "
            "after it, and follow them with a progress bar: images no detector has seen yet "
            "are detected. Celery's gpu queue does the work; --now does it here.")

    def add_arguments(self, parser):
        self.add_common_arguments(parser)
        parser.add_argument("--detector", help="Use this detector from now on: default (the "
                            "default animal detector), motion or whole (weight-free), or a "
                            "registered one as NAME or NAME:VERSION.")

    def handle(self, *args, survey, org, detector, now, json, **options):
        try:
            target = survey_named(survey, org)
        except UserError as exc:
            raise CommandError(str(exc)) from exc

        def measure():
            counts = detection_counts(target)
            return "images detected", counts["detected"], counts["images"]

        self.run_and_follow(
            target, lambda inline: do_run_detection(target, detector=detector, inline=inline),
            measure, lambda: detection_counts(target), now=now, as_json=json)
