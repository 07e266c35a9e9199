import json

from django.core.management.base import BaseCommand, CommandError

from classifiers.services.registration import (
    DetectorFiles,
    check_detector,
    do_register_detector,
)
from classifiers.taxonomy import (
    BoxOrder,
    DetectorInput,
    DetectorOutput,
    Fill,
    Placement,
    Preprocessing,
)
from core.exceptions import UserError
from surveys.selectors import organisation_named

from ._files import read_file


class Command(BaseCommand):
    help = ("Register an object detector: a Keras file (.keras, .h5), a zipped TensorFlow "
            "SavedModel, an ONNX file (.onnx) or a frozen graph (.pb, MegaDetector v4.1) giving "
            "what --output-format says, and its "
            "category map ({\"0\": \"animal\", \"1\": \"person\"}: the model's class numbers "
            "to animal, person or vehicle). Surveys then choose it with run_detection "
            "--detector NAME.")

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--detector-version", default="1", dest="detector_version",
                            help="Version of this detector (default 1).")
        parser.add_argument("--model", required=True, help="The model file.")
        parser.add_argument("--category-map", required=True, help="The category map (JSON).")
        parser.add_argument("--org", help="Owning organisation (name or id); without it the "
                            "detector is shared by every organisation.")
        parser.add_argument("--input-size", type=int,
                            help="Side images are letterboxed to (default: the model's).")
        parser.add_argument("--output-format", choices=DetectorOutput.values,
                            default=DetectorOutput.BOXES,
                            help="What the model gives: boxes (boxes, scores, classes; the "
                            "default), yolov5 (YOLO rows in pixels: YOLOv5, MegaDetector v5) or "
                            "yolox (YOLOX head rows exported without decoding).")
        parser.add_argument("--box-order", choices=BoxOrder.values, default=BoxOrder.YXYX,
                            help="Order of the model's box coordinates (boxes output).")
        parser.add_argument("--preprocessing", choices=Preprocessing.values,
                            default=Preprocessing.RAW, help="How pixels are scaled: raw 0..255, "
                            "unit 0..1 (YOLO), symmetric -1..1.")
        parser.add_argument("--input", choices=DetectorInput.values, default=DetectorInput.WEB,
                            dest="input_source", help="Which copy of each photo the model "
                            "reads: web (the 800 px copy) or original.")
        parser.add_argument("--placement", choices=Placement.values, default=Placement.CENTRED,
                            help="Where the photo sits in the square: centred (YOLOv5, "
                            "MegaDetector) or top_left (YOLOX).")
        parser.add_argument("--fill", choices=Fill.values, default=Fill.GREY,
                            help="What fills the rest of the square: grey (114) or black.")
        parser.add_argument("--threshold", type=float, default=0.2,
                            help="Relevance threshold of the detector's boxes.")
        parser.add_argument("--nms-iou", type=float, default=0.5,
                            help="Non-max suppression IoU (default 0.5).")
        parser.add_argument("--description", default="")
        parser.add_argument("--json", action="store_true", help="Print the record as JSON.")

    def handle(self, *args, **o):
        files = DetectorFiles(model=read_file(o["model"], "model"),
                              category_map=read_file(o["category_map"], "category-map"))
        try:
            organisation = organisation_named(o["org"]) if o["org"] else None
            detector = do_register_detector(check_detector(
                files, name=o["name"], version=o["detector_version"], organisation=organisation,
                input_size=o["input_size"], output_format=o["output_format"],
                box_order=o["box_order"],
                preprocessing=o["preprocessing"], threshold=o["threshold"],
                nms_iou=o["nms_iou"], description=o["description"],
                input_source=o["input_source"], placement=o["placement"], fill=o["fill"]))
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        record = {"id": detector.pk, "name": detector.name, "version": detector.version,
                  "output_format": detector.output_format, "input_size": detector.input_size,
                  "category_map": detector.category_map,
                  "organisation": organisation.name if organisation else None}
        if o["json"]:
            self.stdout.write(json.dumps(record))
        else:
            self.stdout.write(f"Registered {detector} ({detector.get_output_format_display()}, "
                              f"{detector.input_size}×{detector.input_size} input).")
