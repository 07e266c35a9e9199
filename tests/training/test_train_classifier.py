"""train_classifier: the split by site, thresholds, bad input, and export → train → register →
classify a new survey."""

import csv
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from classifiers.models import Classifier, Detection
from tests.factories import OrganisationFactory
from tests.training.synthetic_surveys import generated_survey
from training.exceptions import TrainingError
from training.services import train_model
from training.services.train import (
    FINE_TUNE_LEARNING_RATE,
    Crop,
    TrainOptions,
    check_training,
    do_train_classifier,
    split_by_site,
)
from training.services.train_report import (
    Evaluation,
    build_report,
    choose_threshold,
    class_thresholds,
)
from training.services.training_data import CSV_COLUMNS, TrainingDataOptions, export_training_data
from traptagger.celery import discover_tasks

SPECIES = ["Zebra", "Elephant", "Lion"]


# --- the split by site ------------------------------------------------------------------
def crops_at(sites: dict) -> list[Crop]:
    """``sites``: {(dataset, location): [label, …]}."""
    out = []
    for site, labels in sites.items():
        out += [Crop(len(out) + 2, f"/x/{len(out)}.jpg", site, label) for label in labels]
    return out


def test_split_keeps_every_location_on_one_side_and_is_deterministic():
    sites = {("S1", f"L{i}"): [i % 3] * (5 + i) + [(i + 1) % 3] for i in range(9)}
    sites[("S2", "L0")] = [0, 1, 2]  # the same location name in another dataset is another site
    crops = crops_at(sites)
    for seed in range(6):
        split = split_by_site(crops, 3, seed=seed)
        assert not set(split.train_sites) & set(split.held_out_sites)
        assert {c.site for c in split.train} == set(split.train_sites)
        assert {c.site for c in split.held_out} == set(split.held_out_sites)
        assert len(split.train) + len(split.held_out) == len(crops)
        assert {c.label for c in split.train} == {0, 1, 2}  # training sees every class
        assert 0.1 <= len(split.held_out) / len(crops) <= 0.45
        assert split_by_site(crops, 3, seed=seed).held_out_sites == split.held_out_sites
    held = {tuple(split_by_site(crops, 3, seed=s).held_out_sites) for s in range(6)}
    assert len(held) > 1  # the seed matters


def test_split_refuses_fewer_than_two_locations():
    with pytest.raises(TrainingError, match="1 location.*at least 2"):
        split_by_site(crops_at({("S1", "A"): [0, 1, 1, 0]}), 2)
    two = split_by_site(crops_at({("S1", "A"): [0, 1], ("S1", "B"): [1, 0]}), 2)
    assert len(two.train_sites) == len(two.held_out_sites) == 1


# --- thresholds -------------------------------------------------------------------------
def test_threshold_is_the_lowest_score_reaching_the_target_precision():
    #                      scores: 0.95 0.9  0.8  0.7   0.6  0.5   0.4
    right = np.array([True, True, True, False, True, False, False])
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    # Precision keeping ≥ t: 1, 1, 1, .75, .8, .667, .571
    assert choose_threshold(right, scores, 0.8) == 0.6
    assert choose_threshold(right, scores, 0.9) == 0.8
    assert choose_threshold(right, scores, 0.5) == 0.4
    assert choose_threshold(right[3:4], scores[3:4], 0.5) is None  # only a wrong one
    assert choose_threshold(right[:0], scores[:0], 0.5) is None
    # Tied scores are kept or dropped together: at 0.7 two crops, one right (0.5 precision).
    tied = choose_threshold(np.array([True, True, False]), np.array([0.9, 0.7, 0.7]), 0.9)
    assert tied == 0.9
    assert choose_threshold(np.array([True]), np.array([0.123456]), 0.9) == 0.1234


def test_class_thresholds_and_report_on_a_hand_made_table():
    # truth, predicted, score per held-out crop
    table = [(0, 0, 0.9), (0, 0, 0.8), (1, 0, 0.6), (1, 1, 0.7), (1, 1, 0.95), (0, 1, 0.5),
             (2, 0, 0.99)]
    truth, predicted, scores = (np.array(col) for col in zip(*table, strict=True))
    evaluation = Evaluation(["A", "B", "C"], truth, predicted, scores)
    thresholds, unreached = class_thresholds(evaluation, 0.9)
    # A: 0.99 is wrong (a C), so no threshold keeps precision ≥ 0.9; B: 0.7 and up are right.
    assert thresholds == {"A": 1.0, "B": 0.7, "C": 1.0}
    assert unreached == ["A", "C"]
    report, chosen = build_report(evaluation, 0.9, {"held_out_locations": [["S", "X"]]}, [])
    assert chosen == thresholds
    assert report.summary["held_out_accuracy"] == round(4 / 7, 4)
    assert report.summary["chance_accuracy"] == round(3 / 7, 4)
    assert report.summary["beats_chance"] is True
    assert report.confusion == [[2, 1, 0], [1, 2, 0], [1, 0, 0]]
    b = report.classes[1]
    assert (b["held_out"], b["precision"], b["recall"]) == (3, round(2 / 3, 4), round(2 / 3, 4))
    assert (b["precision_at_threshold"], b["recall_at_threshold"]) == (1.0, round(2 / 3, 4))
    assert report.classes[2]["accuracy"] == 0.0


# --- bad input --------------------------------------------------------------------------
def write_data(folder: Path, rows, *, index=None, header=CSV_COLUMNS, bom=False, size=24):
    """A data folder like export_training_data's; ``rows``: (location, label[, path])."""
    (folder / "classification_ds").mkdir(parents=True, exist_ok=True)
    (folder / "crops").mkdir(exist_ok=True)
    lines = []
    for n, (location, label, *path) in enumerate(rows):
        name = path[0] if path else f"crops/{n}.jpg"
        if not path:
            colour = (200, 40, 40) if label == "Zebra" else (40, 40, 200)
            PILImage.new("RGB", (size, size), colour).save(folder / name)
        values = {"detection_id": n, "path": name, "dataset": "S1", "location": location,
                  "label": label, "dataset_class": label, "confidence": 0.9}
        lines.append([values.get(c, "") for c in header])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(lines)
    (folder / "classification_ds" / "classification_ds.csv").write_text(
        ("\ufeff" if bom else "") + out.getvalue(), encoding="utf-8")
    index = index if index is not None else {"0": "Zebra", "1": "Lion"}
    (folder / "label_index.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


GOOD = [("A", "Zebra"), ("A", "Lion"), ("B", "Zebra"), ("B", "Lion"), ("C", "Lion")]


def refused(folder, match, **options):
    options = {"epochs": 1, "architecture": "compact", **options}
    with pytest.raises(CommandError, match=match):
        call_command("train_classifier", "--data", str(folder),
                     *[f"--{k.replace('_', '-')}={v}" for k, v in options.items()],
                     stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_bad_input_is_refused_naming_the_file_row_or_option(tmp_path):
    good = write_data(tmp_path / "good", GOOD)
    refused(good, "--epochs 0: give at least 1", epochs=0)
    refused(good, "--input-size 8", input_size=8)
    refused(good, "--target-precision 1.5", target_precision=1.5)
    refused(good, "--batch-size 0", batch_size=0)
    refused(good, "--learning-rate 0.0: give a rate above 0", learning_rate=0)
    refused(good, "--from-version goes with --fine-tune", from_version="2")
    refused(good, "--fine-tune: there is no classifier 'Nope'", fine_tune="Nope")
    refused(good, "--base-weights: there is no file", base_weights=str(tmp_path / "w.h5"))
    refused(tmp_path / "absent", "no such folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(empty, "has no label_index.json: give a folder written by export_training_data")
    no_csv = write_data(tmp_path / "no_csv", GOOD)
    (no_csv / "classification_ds" / "classification_ds.csv").unlink()
    refused(no_csv, "has no classification_ds/classification_ds.csv")
    refused(write_data(tmp_path / "cols", GOOD, header=[c for c in CSV_COLUMNS
                                                          if c != "location"]),
            "missing column\\(s\\) location")
    refused(write_data(tmp_path / "label", [*GOOD, ("C", "Gnu")]),
            "classification_ds.csv line 7: label 'Gnu' is not in label_index.json")
    refused(write_data(tmp_path / "crop", [*GOOD, ("C", "Lion", "crops/gone.jpg")]),
            "line 7: the crop crops/gone.jpg is missing")
    refused(write_data(tmp_path / "dots", [*GOOD, ("C", "Lion", "../../etc/passwd")]),
            "line 7: path '../../etc/passwd' must be a relative path inside")
    refused(write_data(tmp_path / "blank", [*GOOD, ("", "Lion")]), "line 7: empty location")
    refused(write_data(tmp_path / "index", GOOD, index={"0": "Zebra", "2": "Lion"}),
            "label_index.json: output numbers must run 0 to 1")
    refused(write_data(tmp_path / "unused", GOOD, index={"0": "Zebra", "1": "Lion",
                                                          "2": "Gnu"}),
            "label_index.json names Gnu but no row")
    refused(write_data(tmp_path / "one_site", [("A", "Zebra"), ("A", "Lion")]),
            "1 location\\(s\\); the held-out split needs at least 2")
    assert not Classifier.objects.exists()
    assert not default_storage.listdir("")[0] and not default_storage.listdir("")[1]
    assert not (good / "trained").exists()


@pytest.mark.django_db
def test_a_bom_is_read_and_a_taken_version_is_refused_before_training(tmp_path):
    folder = write_data(tmp_path / "bom", GOOD, bom=True)
    plan = check_training(folder, TrainOptions(epochs=1, name="Mine", version="3"))
    assert [c.site for c in plan.data.crops][:2] == [("S1", "A")] * 2
    assert plan.data.classes == ["Zebra", "Lion"]
    Classifier.objects.create(name="Mine", version="3", model_key="x")
    with pytest.raises(TrainingError, match="Mine version 3 is registered already"):
        check_training(folder, TrainOptions(epochs=1, name="Mine", version="3"))
    assert check_training(folder, TrainOptions(epochs=1, name="Mine")).version == "4"


def test_base_weights_load_into_the_network_or_its_backbone_or_are_refused(tmp_path):
    import keras

    model = train_model.build_model("compact", 32, 3)
    same = train_model.build_model("compact", 32, 3)
    same.save_weights(tmp_path / "whole.weights.h5")
    assert train_model.load_base_weights(model, str(tmp_path / "whole.weights.h5")) == \
        "whole network"
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), same.get_weights(),
                                                     strict=True))
    other = train_model.build_model("compact", 48, 5)  # other classes: only the backbone fits
    other.get_layer("backbone").save_weights(tmp_path / "backbone.weights.h5")
    assert train_model.load_base_weights(model, str(tmp_path / "backbone.weights.h5")) == \
        "backbone"
    stranger = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    stranger.save_weights(tmp_path / "stranger.weights.h5")
    with pytest.raises(TrainingError, match="stranger.weights.h5 fits neither the compact_32 "
                       "network nor its backbone"):
        train_model.load_base_weights(model, str(tmp_path / "stranger.weights.h5"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(TrainingError, match="give a Keras weights file"):
        train_model.load_base_weights(model, str(tmp_path / "notes.txt"))


# --- repeatability ----------------------------------------------------------------------
def noisy_data(folder: Path) -> Path:
    """write_data's folder with noise crops, lopsided so a flip changes them."""
    folder = write_data(folder, [(location, label) for location in "ABC"
                                 for label in ("Zebra", "Lion") * 4])
    rng = np.random.default_rng(0)
    for n, crop in enumerate(sorted((folder / "crops").iterdir())):
        pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        pixels[:, :8, n % 3] //= 4
        PILImage.fromarray(pixels).save(crop)
    return folder


@pytest.mark.django_db
def test_the_same_seed_trains_the_same_network(tmp_path):
    """Shuffle and augmentation run in a parallel tf.data map; the seed must still fix them."""
    from core.progress import ignore_progress
    from training.services.train import _train_and_measure

    folder = noisy_data(tmp_path / "data")

    def trained(seed):
        plan = check_training(folder, TrainOptions(epochs=3, architecture="compact",
                                                   input_size=32, batch_size=4, seed=seed))
        model, _size, _pre, evaluation, history, _note = _train_and_measure(
            plan, ignore_progress, None)
        return model.get_weights(), evaluation.scores, history

    weights, scores, history = trained(1)
    again, scores_again, history_again = trained(1)
    assert all(np.array_equal(a, b) for a, b in zip(weights, again, strict=True))
    assert np.array_equal(scores, scores_again) and history == history_again
    other, _scores, _history = trained(2)
    assert not all(np.array_equal(a, b) for a, b in zip(weights, other, strict=True))


# --- fine-tuning ------------------------------------------------------------------------
COLOURS = {"Zebra": (200, 40, 40), "Lion": (40, 40, 200), "Gnu": (40, 180, 40)}


def coloured_data(folder: Path, index: list[str]) -> Path:
    """write_data's folder: at each of 3 locations 4 crops of each colour's class, under
    heavy noise; ``index``: the label index's order."""
    rows = [(location, name) for location in "ABC" for name in list(COLOURS) * 4]
    folder = write_data(folder, rows, index=dict(enumerate(index)))
    rng = np.random.default_rng(0)
    for n, (_location, name) in enumerate(rows):
        noise = rng.normal(0, 100, (24, 24, 3))
        pixels = np.clip(np.array(COLOURS[name]) + noise, 0, 255).astype(np.uint8)
        PILImage.fromarray(pixels).save(folder / f"crops/{n}.jpg")
    return folder


def predicted_names(model, classes: list[str], paths: list[str], size: int) -> list[str]:
    data = train_model.crop_pipeline(paths, [0] * len(paths), size, batch=64, training=False,
                                     seed=0)
    return [classes[i] for i in train_model.predict(model, data)[0]]


def probabilities(model, paths: list[str], size: int) -> np.ndarray:
    data = train_model.crop_pipeline(paths, [0] * len(paths), size, batch=64, training=False,
                                     seed=0)
    return model.predict(data, verbose=0)


@pytest.mark.django_db
def test_fine_tuning_keeps_what_the_network_knew_under_each_class_name(tmp_path):
    """Fine-tuning at the rate that trains from scratch (0.002) changed 8–33 % of these
    crops' predictions in one epoch (this base seed; bases of seeds 2–5 kept theirs): a new
    Adam moves every weight by about the rate at first. Fine-tuning's own default must keep
    them (seeds 1–5, 1–4 threads), whatever the new label index's order."""
    from core.progress import ignore_progress
    from training.services.train import _train_and_measure

    base_data = coloured_data(tmp_path / "base", ["Zebra", "Lion", "Gnu"])
    base = do_train_classifier(check_training(base_data, TrainOptions(
        epochs=4, name="Base", architecture="compact", input_size=32, batch_size=4,
        seed=1))).classifier
    paths = sorted(str(p) for p in (base_data / "crops").iterdir())
    stored = train_model._stored_keras(base)
    before = predicted_names(stored, base.classes, paths, 32)
    assert len(set(before)) == 3

    for order in (["Zebra", "Lion", "Gnu"], ["Gnu", "Zebra", "Lion"]):
        folder = coloured_data(tmp_path / "-".join(order), order)
        plan = check_training(folder, TrainOptions(epochs=1, name="Base", fine_tune="Base"))
        model, size, *_rest, history, _note = _train_and_measure(plan, ignore_progress, None)
        assert size == 32 and len(history) == 1
        assert predicted_names(model, plan.data.classes, paths, 32) == before, order

    # A new head: each class the old one knew keeps its output, under its name (compared
    # over the classes both know, as the softmax spreads over the new classes too).
    old = probabilities(stored, paths, 32)
    for classes in (["Gnu", "Zebra", "Lion"], ["Lion", "Eland", "Zebra", "Gnu"],
                    ["Eland", "Lion", "Zebra"]):
        start = train_model.fine_tune_start(base, classes)
        assert start.kept_classes == [c for c in classes if c in base.classes]
        new = probabilities(start.model, paths, 32)
        mine = new[:, [classes.index(c) for c in start.kept_classes]]
        theirs = old[:, [base.classes.index(c) for c in start.kept_classes]]
        assert np.allclose(mine / mine.sum(axis=1, keepdims=True),
                           theirs / theirs.sum(axis=1, keepdims=True), atol=1e-5), classes


# --- end to end -------------------------------------------------------------------------
TRAIN_SITES = ["Kopje", "Riverbed", "Waterhole", "Plains", "Ridge"]


@pytest.mark.django_db(transaction=True)
def test_export_train_register_and_classify_a_new_survey(tmp_path, capsys):
    """Verified labels → training data → a trained classifier → run on next season's survey."""
    org = OrganisationFactory(name="Serengeti Lion Project")
    _survey, task, _truth = generated_survey(org, "Season 1", TRAIN_SITES, 28, SPECIES,
                                             seed=5, labelled=True)
    data = tmp_path / "data"
    exported = export_training_data([task], data, TrainingDataOptions(crop_size=64))
    assert exported["crops"] == 140 and exported["classes"] == 3

    started = time.monotonic()
    call_command("train_classifier", "--data", str(data), "--epochs", "12",
                 "--architecture", "compact", "--input-size", "48", "--batch-size", "16",
                 "--org", org.name, "--name", "Season 1 species", "--seed", "1", "--json")
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "Epoch 12/12: [" in captured.err and "accuracy" in captured.err
    held_out = {tuple(s) for s in summary["held_out_locations"]}
    assert held_out and not held_out & {tuple(s) for s in summary["train_locations"]}
    assert summary["held_out_accuracy"] > summary["chance_accuracy"] + 0.2, summary
    assert summary["beats_chance"] is True
    measured = (f"\ntrained in {seconds:.1f} s; held-out accuracy "
                f"{summary['held_out_accuracy']} (chance {summary['chance_accuracy']}) at "
                f"{sorted(held_out)}")

    classifier = Classifier.objects.get(pk=summary["classifier_id"])
    assert (classifier.name, classifier.version, classifier.organisation) == (
        "Season 1 species", "1", org)
    assert classifier.classes == ["Elephant", "Lion", "Zebra"] and classifier.input_size == 48
    assert set(classifier.class_thresholds) == set(classifier.classes)
    assert all(0 <= t <= 1 for t in classifier.class_thresholds.values())
    report_prefix = classifier.model_key.rsplit("/", 1)[0] + "/report/"
    assert {"report.json", "report.md", "per_class.csv", "confusion.png"} <= set(
        default_storage.listdir(report_prefix)[1])
    local = Path(summary["report_folder"])
    assert (local / "model.keras").is_file() and (local / "report" / "confusion.png").is_file()
    stored = json.loads((local / "report" / "report.json").read_text())
    assert stored["summary"]["beats_chance"] is True and len(stored["history"]) == 12
    assert "beats chance" in (local / "report" / "report.md").read_text()

    # Next season: new sites, new backgrounds, never seen. run_classifier uses the new version.
    survey, _none, truth = generated_survey(org, "Season 2", ["Gorge", "Marsh"], 15, SPECIES,
                                            seed=99, labelled=False)
    call_command("run_classifier", "--survey", "Season 2", "--org", org.name, "--classifier",
                 "Season 1 species", "--classifier-version", "1", "--now", "--json")
    counts = json.loads(capsys.readouterr().out)
    assert counts["classified"] == len(truth)
    got = dict(Detection.objects.filter(pk__in=truth).values_list("pk", "classification"))
    accuracy = np.mean([got[pk] == species for pk, species in truth.items()])
    chance = max(list(truth.values()).count(s) for s in SPECIES) / len(truth)
    with capsys.disabled():
        print(f"{measured}; new survey: accuracy {accuracy:.2f} (chance {chance:.2f}) on "
              f"{len(truth)} boxes")
    assert accuracy > chance + 0.2, (accuracy, chance)
    survey.refresh_from_db()
    assert survey.classifier_id == classifier.pk

    # Fine-tuning: the same classes keep the head; other classes get a new one that keeps
    # the weights of the classes both know.
    call_command("train_classifier", "--data", str(data), "--epochs", "1", "--org", org.name,
                 "--name", "Season 1 species", "--fine-tune", "Season 1 species",
                 "--from-version", "1", "--json")
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["version"] == "2" and tuned["start"] == "fine-tuned from Season 1 species 1"
    assert tuned["input_size"] == 48 and tuned["learning_rate"] == FINE_TUNE_LEARNING_RATE
    # At the from-scratch rate this one epoch left 0.21 (chance 0.43; seeds 1-5: 0.21-1.0).
    assert tuned["held_out_accuracy"] > tuned["chance_accuracy"] + 0.2, tuned
    start = train_model.fine_tune_start(classifier, ["Lion", "Gnu"])
    assert start.model.output_shape == (None, 2) and start.kept_classes == ["Lion"]
    old_kernel = train_model._stored_keras(classifier).get_layer("classes").get_weights()[0]
    assert np.array_equal(start.model.layers[-1].get_weights()[0][:, 0], old_kernel[:, 1])


# --- from the admin, on the gpu queue -----------------------------------------------------
@pytest.mark.django_db
def test_admin_starts_training_on_the_gpu_queue_and_the_worker_registers_it(
        client, monkeypatch, django_capture_on_commit_callbacks):
    from celery import current_app
    from celery.canvas import Signature
    from django.urls import reverse

    from accounts.taxonomy import Role
    from results.services.exports import do_request_export, do_run_export
    from results.taxonomy import ExportKind
    from tests.factories import member
    from training.models import TrainingRun
    from training.taxonomy import TrainingStatus

    org = OrganisationFactory()
    survey, task, _truth = generated_survey(org, "S1", ["A", "B", "C"], 6, SPECIES[:2],
                                            seed=2, labelled=True)
    admin = member(org, Role.ADMIN)
    export = do_run_export(do_request_export(survey, ExportKind.TRAINING_DATA,
                                             acting_user=admin,
                                             options={"tasks": [task.pk],
                                                      "crop_size": 32}).pk)
    client.force_login(admin)
    response = client.post(reverse("admin:results_export_changelist"),
                           {"action": "train_classifier", "_selected_action": [export.pk]})
    add_url = reverse("admin:training_trainingrun_add")
    assert response.status_code == 302 and response["Location"] == f"{add_url}?export={export.pk}"
    assert client.get(response["Location"]).status_code == 200
    form = {"export": export.pk, "name": "From the admin", "version": "", "epochs": "0",
            "architecture": "compact", "input_size": "32", "target_precision": "0.9"}
    client.post(add_url, form)
    assert not TrainingRun.objects.exists()  # --epochs 0 refused by the service
    sent = []
    monkeypatch.setattr(Signature, "apply_async",
                        lambda self, *a, **kw: sent.append((self.task, self.options)))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(add_url, {**form, "epochs": "2"})
    run = TrainingRun.objects.get()
    assert sent == [("training.train_classifier", {"queue": "gpu"})]
    assert (run.status, run.organisation, run.total) == (TrainingStatus.PENDING, org, 2)

    discover_tasks()
    current_app.signature("training.train_classifier", args=[run.pk]).apply(throw=True)
    run.refresh_from_db()
    assert run.status == TrainingStatus.DONE, run.message
    assert (run.done, run.total) == (2, 2)
    assert run.classifier.name == "From the admin" and run.classifier.organisation == org
    assert run.report["summary"]["held_out_locations"]
    # A second delivery changes nothing.
    current_app.signature("training.train_classifier", args=[run.pk]).apply(throw=True)
    assert Classifier.objects.filter(name="From the admin").count() == 1
    page = client.get(reverse("admin:training_trainingrun_changelist")).content.decode()
    assert "From the admin" in page and "Held-out accuracy" in page


def test_the_default_network_is_mobilenet_sized_and_built_without_downloading(monkeypatch):
    import keras

    def no_download(*args, **kwargs):
        raise AssertionError("nothing may be downloaded")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    model = train_model.build_model("mobilenet", 96, 4)
    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 4)
    assert 500_000 < model.count_params() < 2_000_000
    norms = [layer for layer in model.get_layer("backbone").layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == train_model.BN_MOMENTUM for layer in norms)
    with pytest.raises(TrainingError, match="--architecture 'resnet'"):
        train_model.build_model("resnet", 96, 4)
