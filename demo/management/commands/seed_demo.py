from django.core.management.base import BaseCommand, CommandError

from demo.services import ensure_demo


class Command(BaseCommand):
    help = "Create the demo organisation, accounts, survey (through the real queue) and task."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=900,
                            help="Seconds to wait for the worker to process the survey.")

    def handle(self, *args, timeout, **options):
        try:
            demo = ensure_demo(timeout=timeout, say=self.stdout.write)
        except TimeoutError as exc:
            raise CommandError(str(exc)) from exc
        if demo.task is None:
            raise CommandError("The demo survey could not be processed; see the messages above.")
        self.stdout.write(f"Demo ready: survey #{demo.survey.pk}, task #{demo.task.pk}.")
