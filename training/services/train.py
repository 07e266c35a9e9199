"""Training a species classifier on exported training data, and registering it.

The input is a folder written by ``export_training_data``::

    classification_ds/classification_ds.csv    a row per crop (training_data.CSV_COLUMNS)
    label_index.json                           {"0": class, …}: the model's outputs
    crops/…                                    the crops the rows' ``path`` names

``check_training`` reads and checks everything first (nothing is written
when it refuses); ``do_train_classifier`` splits the crops BY SITE — every
crop of a (dataset, location) pair goes to one side, so the held-out score
says how the classifier does at places it has never seen — trains (see
train_model), measures it on the held-out locations, picks per-class
thresholds for the target precision (see train_report) and registers the
network as a new Classifier version through classifiers.services.registration.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import Organisation
from classifiers.exceptions import ClassifierError
from classifiers.models import Classifier
from classifiers.services.registration import (
    ClassifierFiles,
    check_classifier,
    check_may_register,
    do_register_classifier,
    read_label_index,
)
from classifiers.taxonomy import Preprocessing
from core.progress import Progress, ignore_progress
from core.text import file_utf8_problem, not_utf8_message

from ..exceptions import TrainingError
from ..selectors import classifier_to_fine_tune, next_classifier_version
from . import train_model
from .train_report import Evaluation, build_report, write_report
from .training_data import CSV_COLUMNS

NEEDED_COLUMNS = ("path", "dataset", "location", "label")
DEFAULT_INPUT_SIZE = 96
HOLD_OUT = 0.2  # of the crops, in whole locations
SPLIT_TRIES = 50
LEARNING_RATE = 0.002
# Fine-tuning starts a new Adam on a trained network. Adam's first steps move every weight
# by about the learning rate whatever its gradient, and a trained network's gradients are
# small: at 0.002 the first step took a perfect classifier's training loss from 0.001 to 5,
# and one epoch left it below chance on its held-out site (0.21, chance 0.43). At a tenth,
# the usual fine-tuning rate, it kept every prediction.
FINE_TUNE_LEARNING_RATE = 0.0002


@dataclass
class TrainOptions:
    epochs: int
    name: str = ""
    version: str = ""
    organisation: Organisation | None = None
    base_weights: str | None = None
    fine_tune: str | None = None  # a registered classifier's name
    from_version: str | None = None
    input_size: int | None = None  # default: DEFAULT_INPUT_SIZE, or the fine-tuned model's
    target_precision: float = 0.9
    batch_size: int = 32
    seed: int = 0
    architecture: str = "mobilenet"
    learning_rate: float | None = None  # default: learning_rate_of(options)
    hold_out: float = HOLD_OUT


@dataclass
class Crop:
    row: int  # line number in the CSV (the header is line 1)
    path: str  # absolute
    site: tuple[str, str]  # (dataset, location)
    label: int


@dataclass
class TrainingData:
    folder: Path
    classes: list[str]
    crops: list[Crop]


@dataclass
class Split:
    train: list[Crop]
    held_out: list[Crop]
    train_sites: list[tuple[str, str]]
    held_out_sites: list[tuple[str, str]]


@dataclass
class TrainingResult:
    classifier: Classifier
    report: dict
    report_keys: list[str] = field(default_factory=list)
    seconds: float = 0.0


def learning_rate_of(options: TrainOptions) -> float:
    """The rate given, else FINE_TUNE_LEARNING_RATE when fine-tuning, else LEARNING_RATE."""
    if options.learning_rate is not None:
        return options.learning_rate
    return FINE_TUNE_LEARNING_RATE if options.fine_tune else LEARNING_RATE


def check_options(options: TrainOptions) -> None:
    """Raise TrainingError naming the option to fix."""
    if options.epochs < 1:
        raise TrainingError(f"--epochs {options.epochs}: give at least 1 epoch.")
    if options.input_size is not None and not 32 <= options.input_size <= 512:
        raise TrainingError(f"--input-size {options.input_size}: give 32 to 512 pixels.")
    if not 0 < options.target_precision <= 1:
        raise TrainingError(f"--target-precision {options.target_precision}: give a "
                            "fraction above 0, at most 1 (e.g. 0.9).")
    if not 1 <= options.batch_size <= 1024:
        raise TrainingError(f"--batch-size {options.batch_size}: give 1 to 1024.")
    if options.architecture not in train_model.ARCHITECTURES:
        raise TrainingError(f"--architecture {options.architecture!r}: choose one of "
                            f"{', '.join(train_model.ARCHITECTURES)}.")
    if options.from_version and not options.fine_tune:
        raise TrainingError("--from-version goes with --fine-tune NAME.")
    if options.fine_tune and options.base_weights:
        raise TrainingError("Give --fine-tune or --base-weights, not both: fine-tuning "
                            "starts from the registered classifier's own weights.")
    if options.base_weights and not Path(options.base_weights).is_file():
        raise TrainingError(f"--base-weights: there is no file {options.base_weights!r}.")
    if options.learning_rate is not None and not 0 < options.learning_rate <= 1:
        raise TrainingError(f"--learning-rate {options.learning_rate}: give a rate above 0, "
                            f"at most 1 (default {LEARNING_RATE}; {FINE_TUNE_LEARNING_RATE} "
                            "when fine-tuning).")
    if not 0 < options.hold_out < 1:
        raise TrainingError(f"hold_out {options.hold_out}: a fraction between 0 and 1.")


def _label_index(folder: Path) -> list[str]:
    path = folder / "label_index.json"
    if not path.is_file():
        raise TrainingError(f"{folder} has no label_index.json: give a folder written by "
                            "export_training_data (it holds label_index.json and "
                            "classification_ds/classification_ds.csv).")
    try:
        return read_label_index(str(path), path.read_bytes())
    except ClassifierError as exc:
        raise TrainingError(str(exc)) from exc


def _crop_path(folder: Path, value: str, line: int, csv_name: str) -> str:
    relative = Path(value)
    if not value or relative.is_absolute() or ".." in relative.parts:
        raise TrainingError(f"{csv_name} line {line}: path {value!r} must be a relative path "
                            "inside the data folder (no “..”).")
    path = folder / relative
    if not path.is_file():
        raise TrainingError(f"{csv_name} line {line}: the crop {value} is missing.")
    return str(path)


def _rows(folder: Path, classes: list[str]) -> list[Crop]:
    path = folder / "classification_ds" / "classification_ds.csv"
    if not path.is_file():
        raise TrainingError(f"{folder} has no classification_ds/classification_ds.csv: give "
                            "a folder written by export_training_data.")
    index = {name: i for i, name in enumerate(classes)}
    try:
        return _read_rows(path, folder, index)
    except UnicodeDecodeError as exc:
        raise TrainingError(not_utf8_message(str(path), file_utf8_problem(path))) from exc


def _read_rows(path: Path, folder: Path, index: dict[str, int]) -> list[Crop]:
    crops = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in NEEDED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TrainingError(f"{path}: missing column(s) {', '.join(missing)}; the columns "
                                f"are {','.join(CSV_COLUMNS)}.")
        for line, row in enumerate(reader, start=2):
            values = {c: (row.get(c) or "").strip() for c in NEEDED_COLUMNS}
            empty = [c for c in ("dataset", "location", "label") if not values[c]]
            if empty:
                raise TrainingError(f"{path} line {line}: empty {', '.join(empty)}.")
            if values["label"] not in index:
                raise TrainingError(f"{path} line {line}: label {values['label']!r} is not in "
                                    "label_index.json.")
            crops.append(Crop(line, _crop_path(folder, values["path"], line, path.name),
                              (values["dataset"], values["location"]), index[values["label"]]))
    return crops


def read_training_data(folder: Path) -> TrainingData:
    """The data folder's classes and crops, checked. Raises TrainingError naming the file,
    column or line (and the crop) that is missing or malformed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"--data {folder}: there is no such folder.")
    classes = _label_index(folder)
    crops = _rows(folder, classes)
    if not crops:
        raise TrainingError(f"{folder}/classification_ds/classification_ds.csv has no rows.")
    unused = sorted(set(classes) - {classes[c.label] for c in crops})
    if unused:
        raise TrainingError(f"label_index.json names {', '.join(unused)} but no row of "
                            "classification_ds.csv has that label; export the data again.")
    return TrainingData(folder, classes, crops)


def _candidate(sites: list, counts: Counter, rng: random.Random, share: float) -> set:
    order = sorted(sites)
    rng.shuffle(order)
    total, held = sum(counts.values()), set()
    for site in order[:-1]:  # at least one location stays for training
        held.add(site)
        if sum(counts[s] for s in held) >= share * total:
            break
    return held


def split_by_site(crops: list[Crop], classes: int, *, seed: int = 0,
                  share: float = HOLD_OUT) -> Split:
    """Hold out whole locations, about ``share`` of the crops, deterministic for ``seed``.

    Of SPLIT_TRIES shuffles, keeps the one whose training side has every class,
    then whose held-out side has the most classes, then is nearest ``share``.
    Raises TrainingError with fewer than two locations.
    """
    by_site: dict[tuple[str, str], set[int]] = defaultdict(set)
    counts: Counter = Counter()
    for crop in crops:
        by_site[crop.site].add(crop.label)
        counts[crop.site] += 1
    sites = list(by_site)
    if len(sites) < 2:
        raise TrainingError(
            f"The data has {len(sites)} location(s); the held-out split needs at least 2 "
            "(dataset, location) pairs so the classifier is measured at a place it was not "
            "trained on. Export tasks with more sites.")
    rng, total, best = random.Random(seed), len(crops), None
    for _ in range(SPLIT_TRIES):
        held = _candidate(sites, counts, rng, share)
        trained = set().union(*(by_site[s] for s in sites if s not in held))
        tested = set().union(*(by_site[s] for s in held))
        score = (len(trained) == classes, len(tested),
                 -abs(sum(counts[s] for s in held) / total - share))
        if best is None or score > best[0]:
            best = (score, held)
    held = best[1]
    return Split([c for c in crops if c.site not in held], [c for c in crops if c.site in held],
                 sorted(s for s in sites if s not in held), sorted(held))


@dataclass
class Plan:
    """Checked input, ready to train: nothing is stored until the end of training."""

    data: TrainingData
    split: Split
    options: TrainOptions
    name: str
    version: str
    start_from: Classifier | None = None


def _name_and_version(options: TrainOptions) -> tuple[str, str]:
    name = (options.name or f"Trained {date.today().isoformat()}").strip()
    version = (options.version or "").strip() or next_classifier_version(
        name, options.organisation)
    if Classifier.objects.filter(organisation=options.organisation, name=name,
                                 version=version).exists():
        raise TrainingError(f"{name} version {version} is registered already; give another "
                            "--classifier-version (or none for the next free one).")
    return name, version


def _start_from(options: TrainOptions) -> Classifier | None:
    if not options.fine_tune:
        return None
    found = classifier_to_fine_tune(options.fine_tune, options.organisation,
                                    options.from_version)
    if found is None:
        which = f"{options.fine_tune!r}" + (f" version {options.from_version!r}"
                                           if options.from_version else "")
        raise TrainingError(f"--fine-tune: there is no classifier {which} this organisation "
                            "may use; see Classifiers in the admin.")
    size = options.input_size
    if size is not None and size != found.input_size:
        raise TrainingError(f"--input-size {size}: {found} takes {found.input_size} px crops; "
                            "leave --input-size out when fine-tuning.")
    return found


def check_training(folder: Path, options: TrainOptions, *, acting_user=None) -> Plan:
    """Check the options, the data folder and the starting point; store nothing.

    Raises TrainingError (or AccessDenied when ``acting_user`` may not register
    for ``options.organisation``).
    """
    check_options(options)
    check_may_register(acting_user, options.organisation)
    data = read_training_data(folder)
    split = split_by_site(data.crops, len(data.classes), seed=options.seed,
                          share=options.hold_out)
    start = _start_from(options)
    name, version = _name_and_version(options)
    return Plan(data, split, options, name, version, start)


def _network(plan: Plan):
    """(model, input size, preprocessing, how it started) for the plan."""
    options, classes = plan.options, plan.data.classes
    if plan.start_from is not None:
        start = train_model.fine_tune_start(plan.start_from, classes)
        note = (f"fine-tuned from {plan.start_from}"
                + ("" if start.kept_classes == classes else
                   f" (new head; {len(start.kept_classes)} class(es) kept)"))
        return start.model, start.size, start.preprocessing, note
    size = options.input_size or DEFAULT_INPUT_SIZE
    model = train_model.build_model(options.architecture, size, len(classes))
    note = f"{options.architecture} from random weights"
    if options.base_weights:
        part = train_model.load_base_weights(model, options.base_weights)
        note = f"{options.architecture} from {Path(options.base_weights).name} ({part})"
    return model, size, Preprocessing.RAW, note


def _train_and_measure(plan: Plan, progress: Progress, epoch_done) -> tuple:
    """Fit on the training locations; (model, size, preprocessing, evaluation, history,
    note)."""
    import keras

    options = plan.options
    keras.utils.set_random_seed(options.seed)
    model, size, preprocessing, note = _network(plan)
    train = plan.split.train
    pipeline = train_model.crop_pipeline(
        [c.path for c in train], [c.label for c in train], size, batch=options.batch_size,
        training=True, seed=options.seed, preprocessing=preprocessing)
    history = train_model.fit(
        model, pipeline, epochs=options.epochs,
        steps=train_model.steps_of(len(train), options.batch_size),
        weights=train_model.balanced_weights([c.label for c in train], len(plan.data.classes)),
        learning_rate=learning_rate_of(options), progress=progress, epoch_done=epoch_done)
    held = plan.split.held_out
    best, scores = train_model.predict(model, train_model.crop_pipeline(
        [c.path for c in held], [c.label for c in held], size, batch=options.batch_size,
        training=False, seed=options.seed, preprocessing=preprocessing))
    evaluation = Evaluation(plan.data.classes, np.asarray([c.label for c in held]), best,
                            scores)
    return model, size, preprocessing, evaluation, history, note


def _summary(plan: Plan, size: int, note: str, seconds: float) -> dict:
    split = plan.split
    return {"name": plan.name, "version": plan.version, "classes": plan.data.classes,
            "start": note, "input_size": size, "epochs": plan.options.epochs,
            "learning_rate": learning_rate_of(plan.options), "seed": plan.options.seed,
            "train_crops": len(split.train),
            "train_locations": [list(s) for s in split.train_sites],
            "held_out_locations": [list(s) for s in split.held_out_sites],
            "training_seconds": round(seconds, 1)}


def _register(plan: Plan, model_path: Path, thresholds: dict, size: int, preprocessing: str,
              report: dict, acting_user) -> Classifier:
    s = report["summary"]
    description = (f"Trained by TrapTagger ({s['start']}, {size} px) on {s['train_crops']} "
                   f"crops from {len(s['train_locations'])} location(s); held-out accuracy "
                   f"{s['held_out_accuracy']:.1%} at {len(s['held_out_locations'])} "
                   f"location(s) (chance {s['chance_accuracy']:.1%}).")
    index = {str(i): name for i, name in enumerate(plan.data.classes)}
    files = ClassifierFiles(model=("model.keras", model_path.read_bytes()),
                            label_index=("label_index.json", json.dumps(index).encode()),
                            thresholds=("thresholds.json", json.dumps(thresholds).encode()))
    checked = check_classifier(files, name=plan.name, version=plan.version,
                               organisation=plan.options.organisation, acting_user=acting_user,
                               input_size=size, preprocessing=preprocessing,
                               description=description)
    return do_register_classifier(checked)


def _store_report(classifier: Classifier, files: list[Path]) -> list[str]:
    """The report files in storage, in ``report/`` beside the classifier's model."""
    prefix = classifier.model_key.rsplit("/", 1)[0] + "/report/"
    return [default_storage.save(prefix + f.name, ContentFile(f.read_bytes())) for f in files]


def do_train_classifier(plan: Plan, *, out: Path | None = None, acting_user=None,
                        progress: Progress = ignore_progress, epoch_done=None
                        ) -> TrainingResult:
    """Train, measure on the held-out locations, choose thresholds, register.

    ``plan`` comes from ``check_training``. ``progress(batch, batches)`` runs
    within each epoch and ``epoch_done(epoch, epochs, metrics)`` after it. The
    model, label index, thresholds and report are also written to ``out``
    (when given) once registration succeeded. Raises TrainingError or
    ClassifierError; nothing is stored when it raises.
    """
    started = time.monotonic()
    model, size, preprocessing, evaluation, history, note = _train_and_measure(
        plan, progress, epoch_done)
    summary = _summary(plan, size, note, time.monotonic() - started)
    report, thresholds = build_report(evaluation, plan.options.target_precision, summary,
                                      history)
    with tempfile.TemporaryDirectory(prefix="tt-train-") as tmp:
        work = Path(tmp)
        model.save(work / "model.keras")
        files = write_report(report, work / "report")
        classifier = _register(plan, work / "model.keras", thresholds, size, preprocessing,
                               report.as_dict(), acting_user)
        keys = _store_report(classifier, files)
        (work / "label_index.json").write_text(json.dumps(
            {str(i): n for i, n in enumerate(plan.data.classes)}, indent=1), encoding="utf-8")
        (work / "thresholds.json").write_text(json.dumps(thresholds, indent=1),
                                              encoding="utf-8")
        if out is not None:
            shutil.copytree(work, out, dirs_exist_ok=True)
    report.summary.update(classifier_id=classifier.pk, report_folder=str(out) if out else None)
    return TrainingResult(classifier, report.as_dict(), keys, time.monotonic() - started)
