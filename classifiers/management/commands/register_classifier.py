import json

from django.core.management.base import BaseCommand, CommandError

from classifiers.services.registration import (
    ClassifierFiles,
    check_classifier,
    do_register_classifier,
)
from classifiers.taxonomy import Preprocessing
from core.exceptions import UserError
from surveys.selectors import organisation_named

from ._files import read_file


class Command(BaseCommand):
    help = ("Register a species classifier: a Keras file (.keras, .h5) or a zipped "
            "TensorFlow SavedModel, its label_index.json ({\"0\": \"class\", …}) and optional "
            "per-class thresholds (JSON {\"class\": 0.7} or CSV class,threshold). The label "
            "index must name one class per model output.")

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--classifier-version", default="1", dest="classifier_version",
                            help="Version of this classifier (default 1).")
        parser.add_argument("--model", required=True, help="The model file.")
        parser.add_argument("--label-index", required=True, help="label_index.json")
        parser.add_argument("--thresholds", help="Per-class thresholds (JSON or CSV).")
        parser.add_argument("--org", help="Owning organisation (name or id); without it the "
                            "classifier is shared by every organisation.")
        parser.add_argument("--region", default="")
        parser.add_argument("--input-size", type=int, help="Crop side (default: the model's).")
        parser.add_argument("--preprocessing", choices=Preprocessing.values,
                            default=Preprocessing.RAW, help="How crop pixels are scaled: raw "
                            "0..255 (the model rescales itself), unit 0..1, symmetric -1..1.")
        parser.add_argument("--threshold", type=float, default=0.5,
                            help="Threshold of classes without their own.")
        parser.add_argument("--description", default="")
        parser.add_argument("--json", action="store_true", help="Print the record as JSON.")

    def handle(self, *args, **o):
        files = ClassifierFiles(
            model=read_file(o["model"], "model"),
            label_index=read_file(o["label_index"], "label-index"),
            thresholds=read_file(o["thresholds"], "thresholds") if o["thresholds"] else None)
        try:
            organisation = organisation_named(o["org"]) if o["org"] else None
            classifier = do_register_classifier(check_classifier(
                files, name=o["name"], version=o["classifier_version"], organisation=organisation,
                input_size=o["input_size"], region=o["region"], threshold=o["threshold"],
                preprocessing=o["preprocessing"], description=o["description"]))
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        record = {"id": classifier.pk, "name": classifier.name, "version": classifier.version,
                  "classes": len(classifier.classes), "input_size": classifier.input_size,
                  "organisation": organisation.name if organisation else None}
        if o["json"]:
            self.stdout.write(json.dumps(record))
        else:
            self.stdout.write(f"Registered {classifier} ({record['classes']} classes, "
                              f"{classifier.input_size}×{classifier.input_size} crops).")
