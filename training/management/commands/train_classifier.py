import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import UserError
from core.progress import bar
from surveys.selectors import organisation_named
from training.services.train import (
    DEFAULT_INPUT_SIZE,
    FINE_TUNE_LEARNING_RATE,
    LEARNING_RATE,
    TrainOptions,
    check_training,
    do_train_classifier,
)
from training.services.train_model import ARCHITECTURES


class Command(BaseCommand):
    help = ("Train a species classifier on a folder written by export_training_data, hold "
            "out whole locations to measure it, choose per-class thresholds for a target "
            "precision, and register it as a new classifier version for run_classifier. "
            "No pre-trained weights are downloaded.")

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="The export_training_data folder.")
        parser.add_argument("--epochs", type=int, required=True)
        parser.add_argument("--name", default="", help="Classifier name (default "
                            "“Trained <date>”).")
        parser.add_argument("--classifier-version", default="", dest="classifier_version",
                            help="Version to register (default: the next free number).")
        parser.add_argument("--org", help="Owning organisation (name or id); without it the "
                            "classifier is shared by every organisation.")
        parser.add_argument("--base-weights", help="A Keras weights file to start from (the "
                            "whole network or its backbone).")
        parser.add_argument("--fine-tune", help="Start from this registered classifier's "
                            "network (a new head when the classes differ).")
        parser.add_argument("--from-version", help="With --fine-tune: which version "
                            "(default: the newest).")
        parser.add_argument("--input-size", type=int, help=f"Crop side in pixels (default "
                            f"{DEFAULT_INPUT_SIZE}; the fine-tuned model's when fine-tuning).")
        parser.add_argument("--architecture", choices=ARCHITECTURES, default="mobilenet",
                            help="mobilenet (MobileNetV3-Small, the default) or compact (a "
                            "small CNN for a few hundred crops).")
        parser.add_argument("--target-precision", type=float, default=0.9)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--learning-rate", type=float, help=f"Adam's learning rate "
                            f"(default {LEARNING_RATE}; {FINE_TUNE_LEARNING_RATE} when "
                            "fine-tuning).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", help="Also write the model, label files and report "
                            "here (default: <data>/trained/<name>-<version>).")
        parser.add_argument("--json", action="store_true", help="Print the report summary "
                            "as JSON.")

    def handle(self, *args, **o):
        try:
            options = TrainOptions(
                epochs=o["epochs"], name=o["name"], version=o["classifier_version"],
                organisation=organisation_named(o["org"]) if o["org"] else None,
                base_weights=o["base_weights"], fine_tune=o["fine_tune"],
                from_version=o["from_version"], input_size=o["input_size"],
                target_precision=o["target_precision"], batch_size=o["batch_size"],
                seed=o["seed"], architecture=o["architecture"],
                learning_rate=o["learning_rate"])
            plan = check_training(Path(o["data"]), options)
            out = Path(o["out"]) if o["out"] else (
                Path(o["data"]) / "trained" / _slug(f"{plan.name}-{plan.version}"))
            self._label = f"Epoch 1/{options.epochs}"
            result = do_train_classifier(plan, out=out, progress=self._bar,
                                         epoch_done=self._epoch)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        summary = result.report["summary"]
        if o["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
            return
        self._describe(result.classifier, summary, result.report["classes"])

    def _bar(self, done: int, total: int) -> None:
        self.stderr.write(f"\r{self._label}: {bar(done, total)} batches", ending="")

    _label = "Epoch 1"

    def _epoch(self, epoch: int, epochs: int, metrics: dict) -> None:
        shown = "  ".join(f"{k} {v}" for k, v in metrics.items())
        self.stderr.write(f"  {shown}")
        self._label = f"Epoch {epoch + 1}/{epochs}"

    def _describe(self, classifier, summary: dict, classes: list[dict]) -> None:
        self.stdout.write(
            f"Registered {classifier}: held-out accuracy {summary['held_out_accuracy']:.1%} "
            f"on {summary['held_out_crops']} crops at "
            f"{', '.join('/'.join(s) for s in summary['held_out_locations'])} (chance "
            f"{summary['chance_accuracy']:.1%}); trained in {summary['training_seconds']} s.")
        for row in classes:
            self.stdout.write(f"  {row['class']}: precision {row['precision']}, recall "
                              f"{row['recall']}, threshold {row['threshold']}")
        if summary["unreached_classes"]:
            self.stdout.write("Never reaching the target precision (threshold 1.0): "
                              + ", ".join(summary["unreached_classes"]))
        self.stdout.write(f"Report: {summary['report_folder']}/report")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in text).strip("-.")
