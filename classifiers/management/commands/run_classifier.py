from django.core.management.base import CommandError

from classifiers.selectors import classification_counts, classifier_named
from classifiers.services.runs import do_run_classifier
from core.exceptions import UserError
from surveys.selectors import survey_named

from ._following import StageCommand


class Command(StageCommand):
    help = ("Classify a ready (or failed) survey's relevant boxes with a classifier and "
            "suggest each cluster's species, following the work with a progress bar. "
            "Another classifier than the survey's replaces its classifications. Celery's gpu "
            "queue does the work; --now does it here.")

    def add_arguments(self, parser):
        self.add_common_arguments(parser)
        parser.add_argument("--classifier", required=True, help="Classifier name (the "
                            "organisation's own or a shared one).")
        parser.add_argument("--classifier-version", help="Which version (default: the newest).")

    def handle(self, *args, survey, org, classifier, classifier_version, now, json, **options):
        version = classifier_version
        try:
            target = survey_named(survey, org)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        chosen = classifier_named(classifier, target, version)
        if chosen is None:
            which = f"{classifier!r} version {version!r}" if version else repr(classifier)
            raise CommandError(f"There is no classifier called {which} that survey "
                               f"“{target.name}” may use; see Classifiers in the admin.")

        def measure():
            counts = classification_counts(target)
            return "boxes classified", counts["classified"], counts["relevant_animal_boxes"]

        self.run_and_follow(
            target, lambda inline: do_run_classifier(target, chosen, inline=inline),
            measure, lambda: classification_counts(target), now=now, as_json=json)
