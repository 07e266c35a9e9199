"""Registering a classifier or a detector from the model file a user uploads.

What an admin uploads (or ``register_classifier``/``register_detector`` or
training hands over) is checked before anything is stored. A classifier's
model must load and take square RGB crops, its label index must name one class
per model output, and thresholds may only name classes of the index. A
detector's model (Keras, SavedModel or ONNX) must load, take square RGB images
and give what its declared output format says (boxes, scores and classes;
YOLOv5 rows; YOLOX head rows: services.detector_inference), and its category map
must map the model's class numbers to animal, person or vehicle. A refused
upload leaves storage and the database as they were. The model is loaded and
run only in a short-lived child process with a deadline, a memory cap and a
scratch folder (services.sandbox), never in the process that received it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from accounts.access import check_capability, check_site_staff
from accounts.models import Organisation
from accounts.taxonomy import Capability
from core.text import not_utf8_message, utf8_problem

from ..exceptions import ClassifierError
from ..models import Classifier, Detector
from ..taxonomy import (
    BoxOrder,
    Category,
    DetectorInput,
    DetectorOutput,
    Fill,
    Placement,
    Preprocessing,
)
from .detectors import DETECTORS
from .geofence import check_ranges
from .modelfiles import model_suffix
from .sandbox import run_model_check


@dataclass
class ClassifierFiles:
    """The uploaded files, as (file name, bytes)."""

    model: tuple[str, bytes]
    label_index: tuple[str, bytes]
    thresholds: tuple[str, bytes] | None = None


def _text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ClassifierError(not_utf8_message(name, utf8_problem(data))) from exc


def read_label_index(name: str, data: bytes) -> list[str]:
    """Class names in output order from ``{"0": "Zebra", "1": "Lion"}`` (or a JSON list)."""
    try:
        loaded = json.loads(_text(name, data))
    except json.JSONDecodeError as exc:
        raise ClassifierError(f"{name}: not JSON ({exc.msg} at line {exc.lineno}).") from exc
    if isinstance(loaded, dict):
        try:
            order = sorted((int(key), value) for key, value in loaded.items())
        except (TypeError, ValueError) as exc:
            raise ClassifierError(f"{name}: keys must be output numbers \"0\", \"1\", … "
                                  f"({exc}).") from exc
        if [i for i, _ in order] != list(range(len(order))):
            raise ClassifierError(f"{name}: output numbers must run 0 to {len(order) - 1} "
                                  "without gaps.")
        loaded = [value for _, value in order]
    if not isinstance(loaded, list) or not loaded:
        raise ClassifierError(f"{name}: expected {{\"0\": \"class name\", …}} with at least "
                              "one class.")
    classes = [value.strip() if isinstance(value, str) else value for value in loaded]
    for i, value in enumerate(classes):
        if not isinstance(value, str) or not value or len(value) > 100:
            raise ClassifierError(f"{name}: output {i} needs a class name of 1 to 100 "
                                  f"characters, not {value!r}.")
    twice = sorted({c for c in classes if classes.count(c) > 1})
    if twice:
        raise ClassifierError(f"{name}: class names appear twice: {', '.join(twice)}.")
    return classes


def read_thresholds(name: str, data: bytes, classes: list[str]) -> dict[str, float]:
    """Per-class thresholds from JSON ``{"Zebra": 0.7}`` or CSV rows ``class,threshold``."""
    text = _text(name, data).strip()
    if text.startswith("{"):
        try:
            pairs = list(json.loads(text).items())
        except json.JSONDecodeError as exc:
            raise ClassifierError(f"{name}: not JSON ({exc.msg} at line {exc.lineno}).") \
                from exc
    else:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
        if rows and rows[0][:2] == ["class", "threshold"]:
            rows = rows[1:]
        if any(len(row) != 2 for row in rows):
            raise ClassifierError(f"{name}: each line must be “class,threshold”.")
        pairs = [(row[0].strip(), row[1].strip()) for row in rows]
    thresholds: dict[str, float] = {}
    for label, value in pairs:
        if label not in classes:
            raise ClassifierError(f"{name}: {label!r} is not a class of the label index.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
        if not 0.0 <= number <= 1.0:
            raise ClassifierError(f"{name}: the threshold of {label!r} must be a number from 0 "
                                  f"to 1, not {value!r}.")
        thresholds[label] = number
    return thresholds


def _checked_model(files: ClassifierFiles, classes: list[str], input_size: int | None) -> int:
    """Load the model once (in a child process); return its input size.

    Refuses a label index of the wrong size.
    """
    filename = files.model[0]
    model = run_model_check("classifier", *files.model, {"input_size": input_size})
    if model["outputs"] != len(classes):
        raise ClassifierError(
            f"The label index {files.label_index[0]} names {len(classes)} classes but the model "
            f"{filename} has {model['outputs']} outputs; they must match, one name per output.")
    return model["size"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "classifier"


def check_may_register(acting_user, organisation: Organisation | None,
                       what: str = "classifiers") -> None:
    """Organisation admins register their own models; site staff shared ones."""
    if acting_user is None:
        return
    if organisation is None:
        check_site_staff(acting_user, f"publish {what} shared by every organisation")
    else:
        check_capability(acting_user, organisation, Capability.CHANGE)


def _check_version(model, *, name: str, version: str, organisation: Organisation | None,
                   preprocessing: str, threshold: float) -> tuple[str, str]:
    """(name, version) stripped, when new for ``model`` and the options are valid."""
    kind = model._meta.verbose_name
    name, version = name.strip(), version.strip()
    if not name or not version:
        raise ClassifierError(f"A {kind} needs a name and a version.")
    if preprocessing not in Preprocessing.values:
        raise ClassifierError(f"Unknown preprocessing {preprocessing!r}; choose one of "
                              f"{', '.join(Preprocessing.values)}.")
    if not 0.0 <= threshold <= 1.0:
        raise ClassifierError(f"The threshold must be from 0 to 1, not {threshold}.")
    if model.objects.filter(organisation=organisation, name=name, version=version).exists():
        raise ClassifierError(f"{name} version {version} is registered already; give the new "
                              "model another version.")
    return name, version


def _store_and_create(folder: str, checked, create, kind: str = "classifier"):
    """Store the checked upload's model file, then ``create(model_key)`` the record.

    The file is deleted again when the record cannot be made.
    """
    owner = "shared" if checked.organisation is None else str(checked.organisation.pk)
    filename, data = checked.files.model
    key = default_storage.save(
        f"{folder}/{owner}/{_slug(checked.name)}/{_slug(checked.version)}/model"
        f"{model_suffix(filename, kind)}", ContentFile(data))
    try:
        with transaction.atomic():
            return create(key)
    except IntegrityError as exc:
        default_storage.delete(key)
        raise ClassifierError(f"{checked.name} version {checked.version} is registered "
                              "already.") from exc
    except BaseException:
        default_storage.delete(key)
        raise


def _update(obj, allowed: set[str], fields: dict) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ClassifierError(f"These {obj._meta.verbose_name} fields are fixed at "
                              f"registration: {', '.join(sorted(unknown))}; register a new "
                              "version instead.")
    for name, value in fields.items():
        setattr(obj, name, value)


@dataclass
class CheckedClassifier:
    """An upload that passed every check, ready for ``do_register_classifier``."""

    files: ClassifierFiles
    name: str
    version: str
    organisation: Organisation | None
    classes: list[str]
    thresholds: dict[str, float]
    input_size: int
    region: str = ""
    preprocessing: str = Preprocessing.RAW
    threshold: float = 0.5
    description: str = ""


def check_classifier(files: ClassifierFiles, *, name: str, version: str = "1",
                     organisation: Organisation | None = None, acting_user=None,
                     input_size: int | None = None, region: str = "",
                     preprocessing: str = Preprocessing.RAW, threshold: float = 0.5,
                     description: str = "") -> CheckedClassifier:
    """Check an upload without storing anything (loads the model once, in a child process).

    ``organisation`` None publishes it to every organisation (site staff
    only). Raises ClassifierError naming the file and problem, AccessDenied
    when the user may not register there.
    """
    check_may_register(acting_user, organisation)
    name, version = _check_version(Classifier, name=name, version=version,
                                   organisation=organisation, preprocessing=preprocessing,
                                   threshold=threshold)
    classes = read_label_index(*files.label_index)
    thresholds = read_thresholds(*files.thresholds, classes) if files.thresholds else {}
    size = _checked_model(files, classes, input_size)
    return CheckedClassifier(files, name, version, organisation, classes, thresholds, size,
                             region.strip(), preprocessing, threshold, description)


def do_register_classifier(checked: CheckedClassifier) -> Classifier:
    """Store the checked model and create its Classifier version (nothing stored on failure)."""
    return _store_and_create("classifiers", checked, lambda key: Classifier.objects.create(
        organisation=checked.organisation, name=checked.name, version=checked.version,
        region=checked.region, description=checked.description, model_key=key,
        classes=checked.classes, input_size=checked.input_size,
        preprocessing=checked.preprocessing, threshold=checked.threshold,
        class_thresholds=checked.thresholds))


def check_thresholds(classifier: Classifier, thresholds, threshold: float) -> dict[str, float]:
    """Edited thresholds: only the classifier's classes, each from 0 to 1."""
    if not isinstance(thresholds, dict):
        raise ClassifierError("Per-class thresholds are {\"class name\": score, …}.")
    if not 0.0 <= threshold <= 1.0:
        raise ClassifierError(f"The threshold must be from 0 to 1, not {threshold}.")
    data = json.dumps(thresholds).encode()
    return read_thresholds("Per-class thresholds", data, classifier.classes)


def do_update_classifier(classifier: Classifier, *, acting_user=None, **fields) -> Classifier:
    """Save edits of a classifier's description, region and thresholds (checked first)."""
    check_may_register(acting_user, classifier.organisation)
    _update(classifier, {"description", "region", "threshold", "class_thresholds", "geofence",
                         "species_ranges"}, fields)
    classifier.class_thresholds = check_thresholds(
        classifier, classifier.class_thresholds, classifier.threshold)
    classifier.species_ranges = check_ranges(classifier.species_ranges, classifier.classes)
    classifier.save(update_fields=list(fields))
    return classifier


# --- detectors ---------------------------------------------------------------------
CATEGORY_NAMES = {c.label.lower(): c.value for c in Category}


@dataclass
class DetectorFiles:
    """The uploaded files, as (file name, bytes)."""

    model: tuple[str, bytes]
    category_map: tuple[str, bytes]


def read_category_map(name: str, data: bytes) -> dict[str, int]:
    """``{"0": "animal", "1": "person"}`` → ``{"0": 1, "1": 2}`` (MegaDetector's categories)."""
    try:
        loaded = json.loads(_text(name, data))
    except json.JSONDecodeError as exc:
        raise ClassifierError(f"{name}: not JSON ({exc.msg} at line {exc.lineno}).") from exc
    if not isinstance(loaded, dict) or not loaded:
        raise ClassifierError(f"{name}: expected {{\"class number\": \"animal\", …}} mapping "
                              "at least one of the model's classes to animal, person or vehicle.")
    mapped: dict[str, int] = {}
    for key, value in loaded.items():
        if not (isinstance(key, str) and key.strip().isdigit()):
            raise ClassifierError(f"{name}: keys are the model's class numbers \"0\", \"1\", …, "
                                  f"not {key!r}.")
        category = CATEGORY_NAMES.get(value.strip().lower()) if isinstance(value, str) else None
        if category is None:
            raise ClassifierError(f"{name}: class {key.strip()} must map to animal, person or "
                                  f"vehicle, not {value!r}.")
        mapped[str(int(key))] = category
    return mapped


@dataclass
class CheckedDetector:
    """An upload that passed every check, ready for ``do_register_detector``."""

    files: DetectorFiles
    name: str
    version: str
    organisation: Organisation | None
    category_map: dict[str, int]
    input_size: int
    output_format: str
    box_order: str = BoxOrder.YXYX
    preprocessing: str = Preprocessing.RAW
    threshold: float = 0.2
    nms_iou: float = 0.5
    description: str = ""
    input_source: str = DetectorInput.WEB
    placement: str = Placement.CENTRED
    fill: str = Fill.GREY


def _check_nms_iou(nms_iou: float) -> None:
    if not 0.0 < nms_iou <= 1.0:
        raise ClassifierError(f"The non-max suppression IoU must be above 0 and at most 1, "
                              f"not {nms_iou}.")


def _check_input_options(input_source: str, placement: str, fill: str) -> None:
    for what, value, choices in (("input", input_source, DetectorInput),
                                 ("placement", placement, Placement), ("fill", fill, Fill)):
        if value not in choices.values:
            raise ClassifierError(f"Unknown detector {what} {value!r}; choose one of "
                                  f"{', '.join(choices.values)}.")


def _check_detector_name(name: str, version: str) -> None:
    if name in DETECTORS:
        raise ClassifierError(f"{name!r} is the name of a weight-free detector; choose another.")
    if ":" in name:
        raise ClassifierError("A detector's name cannot hold “:” (it separates name and version "
                              "in run_detection --detector NAME:VERSION).")
    if any(c.isspace() for c in version):
        raise ClassifierError(f"A detector's version cannot hold spaces: {version!r}.")
    if len(name) > 40 or len(version) > 9:
        raise ClassifierError("A detector's name has at most 40 characters and its version 9 "
                              "(its boxes are marked “name version”).")


def _checked_detector_model(files: DetectorFiles, category_map: dict[str, int],
                            input_size: int | None, output_format: str, box_order: str,
                            nms_iou: float) -> dict:
    """Load, probe and run the model once (in a child process); refuse outputs that are not
    of ``output_format`` and a map naming classes the model lacks. Returns the child's
    findings (size, output_format, classes)."""
    probed = run_model_check("detector", *files.model, {
        "input_size": input_size, "output_format": output_format, "box_order": box_order,
        "category_map": category_map, "nms_iou": nms_iou})
    numbers = sorted(int(k) for k in category_map)
    if probed["classes"] is not None and numbers[-1] >= probed["classes"]:
        raise ClassifierError(
            f"The category map {files.category_map[0]} names class {numbers[-1]} but the model "
            f"{files.model[0]} gives scores for {probed['classes']} classes (0 to "
            f"{probed['classes'] - 1}).")
    if probed["run_error"]:  # the whole compiled pass failed: TensorFlow's error says why
        raise ClassifierError(f"{files.model[0]}: the model's outputs cannot be read as "
                              f"detections: {probed['run_error']}")
    return probed


def check_detector(files: DetectorFiles, *, name: str, version: str = "1",
                   organisation: Organisation | None = None, acting_user=None,
                   input_size: int | None = None,
                   output_format: str = DetectorOutput.BOXES, box_order: str = BoxOrder.YXYX,
                   preprocessing: str = Preprocessing.RAW, threshold: float = 0.2,
                   nms_iou: float = 0.5, description: str = "",
                   input_source: str = DetectorInput.WEB, placement: str = Placement.CENTRED,
                   fill: str = Fill.GREY) -> CheckedDetector:
    """Check a detector upload without storing anything (loads and runs the model once, in a
    child process: services.sandbox).

    ``output_format`` says how the model's outputs are decoded (DetectorOutput:
    boxes, yolov5, yolox); outputs of other shapes are refused, never guessed.
    ``organisation`` None publishes it to every organisation (site staff
    only). Raises ClassifierError naming the file and problem (a file that is
    not a model, outputs of the wrong shapes, a bad category map), AccessDenied
    when the user may not register there.
    """
    check_may_register(acting_user, organisation, "detectors")
    name, version = _check_version(Detector, name=name, version=version,
                                   organisation=organisation, preprocessing=preprocessing,
                                   threshold=threshold)
    _check_detector_name(name, version)
    if box_order not in BoxOrder.values:
        raise ClassifierError(f"Unknown box order {box_order!r}; choose one of "
                              f"{', '.join(BoxOrder.values)}.")
    if output_format not in DetectorOutput.values:
        raise ClassifierError(f"Unknown output format {output_format!r}; choose one of "
                              f"{', '.join(DetectorOutput.values)}.")
    _check_nms_iou(nms_iou)
    _check_input_options(input_source, placement, fill)
    category_map = read_category_map(*files.category_map)
    probed = _checked_detector_model(files, category_map, input_size, output_format,
                                     box_order, nms_iou)
    return CheckedDetector(files, name, version, organisation, category_map, probed["size"],
                           probed["output_format"], box_order, preprocessing, threshold, nms_iou,
                           description, input_source, placement, fill)


def do_register_detector(checked: CheckedDetector) -> Detector:
    """Store the checked model and create its Detector version (nothing stored on failure)."""
    return _store_and_create("detectors", checked, lambda key: Detector.objects.create(
        organisation=checked.organisation, name=checked.name, version=checked.version,
        description=checked.description, model_key=key, input_size=checked.input_size,
        output_format=checked.output_format, box_order=checked.box_order,
        preprocessing=checked.preprocessing, category_map=checked.category_map,
        threshold=checked.threshold, nms_iou=checked.nms_iou,
        input_source=checked.input_source, placement=checked.placement, fill=checked.fill),
        "detector")


def do_update_detector(detector: Detector, *, acting_user=None, **fields) -> Detector:
    """Save edits of a detector's description, relevance threshold and NMS IoU (checked)."""
    check_may_register(acting_user, detector.organisation, "detectors")
    _update(detector, {"description", "threshold", "nms_iou"}, fields)
    if not 0.0 <= detector.threshold <= 1.0:
        raise ClassifierError(f"The threshold must be from 0 to 1, not {detector.threshold}.")
    _check_nms_iou(detector.nms_iou)
    detector.save(update_fields=list(fields))
    return detector
