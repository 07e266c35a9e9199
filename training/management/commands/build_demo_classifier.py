from django.core.management.base import BaseCommand

from training.services.demo_classifier import do_build_demo_classifier


class Command(BaseCommand):
    help = "Train the small demo species classifier on synthetic scenes and register it."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Train again even if it exists.")
        parser.add_argument("--epochs", type=int, default=12)

    def handle(self, *args, rebuild, epochs, **options):
        self.stdout.write("Training the demo classifier (about a minute on a CPU)…")
        report = do_build_demo_classifier(rebuild=rebuild, epochs=epochs)
        if report.accuracy is None:
            self.stdout.write(f"Reusing “{report.classifier.name}”.")
        else:
            self.stdout.write(
                f"“{report.classifier.name}” trained: held-out accuracy {report.accuracy:.1%}."
            )
