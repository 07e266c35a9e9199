"""Registering a classifier: a model file, its label index and per-class thresholds.

What an admin uploads (or ``register_classifier`` / training hands over) is
checked before anything is stored: the model must load and take square RGB
crops, the label index must name one class per model output, and thresholds
may only name classes of the index. A refused upload leaves storage and the
database as they were.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from accounts.access import check_capability, check_site_staff
from accounts.models import Organisation
from accounts.taxonomy import Capability

from ..exceptions import ClassifierError
from ..models import Classifier
from ..taxonomy import Preprocessing
from .geofence import check_ranges
from .inference import load_model_file

MODEL_SUFFIXES = (".keras", ".h5", ".zip")
MAX_MODEL_BYTES = 2 * 1024**3


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
        raise ClassifierError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start}).") \
            from exc


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


def _model_suffix(filename: str) -> str:
    suffix = os.path.splitext(filename.lower())[1]
    if suffix not in MODEL_SUFFIXES:
        raise ClassifierError(f"{filename}: a model file is a Keras file (.keras, .h5) or a "
                              "zipped TensorFlow SavedModel folder (.zip).")
    return suffix


def _checked_model(files: ClassifierFiles, classes: list[str], input_size: int | None) -> int:
    """Load the model once; return its input size. Refuses a label index of the wrong size."""
    filename, data = files.model
    if len(data) > MAX_MODEL_BYTES:
        raise ClassifierError(f"{filename}: larger than {MAX_MODEL_BYTES // 1024**2} MB.")
    with tempfile.NamedTemporaryFile(suffix=_model_suffix(filename)) as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            model = load_model_file(tmp.name, input_size)
        except ClassifierError as exc:
            raise ClassifierError(f"{filename}: {exc}") from exc
    if model.outputs != len(classes):
        raise ClassifierError(
            f"The label index {files.label_index[0]} names {len(classes)} classes but the model "
            f"{filename} has {model.outputs} outputs; they must match, one name per output.")
    return model.size


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "classifier"


def check_may_register(acting_user, organisation: Organisation | None) -> None:
    """Organisation admins register their own classifiers; site staff shared ones."""
    if acting_user is None:
        return
    if organisation is None:
        check_site_staff(acting_user, "publish classifiers shared by every organisation")
    else:
        check_capability(acting_user, organisation, Capability.CHANGE)


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
    """Check an upload without storing anything (loads the model once).

    ``organisation`` None publishes it to every organisation (site staff
    only). Raises ClassifierError naming the file and problem, AccessDenied
    when the user may not register there.
    """
    check_may_register(acting_user, organisation)
    name, version = name.strip(), version.strip()
    if not name or not version:
        raise ClassifierError("A classifier needs a name and a version.")
    if preprocessing not in Preprocessing.values:
        raise ClassifierError(f"Unknown preprocessing {preprocessing!r}; choose one of "
                              f"{', '.join(Preprocessing.values)}.")
    if not 0.0 <= threshold <= 1.0:
        raise ClassifierError(f"The threshold must be from 0 to 1, not {threshold}.")
    if Classifier.objects.filter(organisation=organisation, name=name,
                                 version=version).exists():
        raise ClassifierError(f"{name} version {version} is registered already; give the new "
                              "model another version.")
    classes = read_label_index(*files.label_index)
    thresholds = read_thresholds(*files.thresholds, classes) if files.thresholds else {}
    size = _checked_model(files, classes, input_size)
    return CheckedClassifier(files, name, version, organisation, classes, thresholds, size,
                             region.strip(), preprocessing, threshold, description)


def do_register_classifier(checked: CheckedClassifier) -> Classifier:
    """Store the checked model and create its Classifier version (nothing stored on failure)."""
    folder = "shared" if checked.organisation is None else str(checked.organisation.pk)
    key = default_storage.save(
        f"classifiers/{folder}/{_slug(checked.name)}/{_slug(checked.version)}/model"
        f"{_model_suffix(checked.files.model[0])}", ContentFile(checked.files.model[1]))
    try:
        with transaction.atomic():
            return Classifier.objects.create(
                organisation=checked.organisation, name=checked.name, version=checked.version,
                region=checked.region, description=checked.description, model_key=key,
                classes=checked.classes, input_size=checked.input_size,
                preprocessing=checked.preprocessing, threshold=checked.threshold,
                class_thresholds=checked.thresholds)
    except IntegrityError as exc:
        default_storage.delete(key)
        raise ClassifierError(f"{checked.name} version {checked.version} is registered "
                              "already.") from exc
    except BaseException:
        default_storage.delete(key)
        raise


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
    allowed = {"description", "region", "threshold", "class_thresholds", "geofence",
               "species_ranges"}
    unknown = set(fields) - allowed
    if unknown:
        raise ClassifierError(f"These classifier fields are fixed at registration: "
                              f"{', '.join(sorted(unknown))}; register a new version instead.")
    for name, value in fields.items():
        setattr(classifier, name, value)
    classifier.class_thresholds = check_thresholds(
        classifier, classifier.class_thresholds, classifier.threshold)
    classifier.species_ranges = check_ranges(classifier.species_ranges, classifier.classes)
    classifier.save(update_fields=list(fields))
    return classifier
