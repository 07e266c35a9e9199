"""The batched classification pipeline: crops as PIL cuts them, per-version idempotency."""

import io
import random

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from classifiers.models import Classifier, Detection
from classifiers.services.classification import do_classify_survey, square_crop
from classifiers.services.detectors import Box
from classifiers.services.inference import (
    ImageBoxes,
    crop_dataset,
    jpeg_ratio_index,
    load_model_file,
    predictions,
)
from surveys.models import Cluster
from tests.classifiers.models import colour_model, keras_classifier
from tests.factories import CameraFactory, ClusterFactory, ImageFactory, SurveyFactory
from training.synthetic import background, scene


def _jpeg(img: PILImage.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


BOXES = [(0.1, 0.2, 0.4, 0.5), (0.8, 0.1, 1.0, 0.3), (0.0, 0.0, 1.0, 1.0),
         (0.45, 0.45, 0.5, 0.52)]


@pytest.mark.parametrize("size", [32, 96])
def test_crops_match_the_pil_square_crop(size):
    rng = random.Random(1)
    img, _ = scene(rng, "Zebra", 640, 480, base=background(rng, 640, 480),
                   position=(200, 300, 200))
    data = _jpeg(img)
    ((ids, crops),) = list(crop_dataset([ImageBoxes("k", [1, 2, 3, 4], BOXES, 640, 480)],
                                        size, "raw", read=lambda key: data))
    assert list(ids.numpy()) == [1, 2, 3, 4] and crops.shape == (4, size, size, 3)
    decoded = PILImage.open(io.BytesIO(data))
    for crop, box in zip(crops.numpy(), BOXES, strict=True):
        reference = square_crop(decoded, Box(*box, 1.0), size)
        assert np.abs(reference - crop).mean() < 3.0
    # The whole-frame box is padded with black above and below (4:3 frame in a square).
    whole = crops.numpy()[2]
    assert whole[: size // 10].max() < 8 and whole[-(size // 10):].max() < 8
    assert whole[size // 2].mean() > 40


@pytest.mark.parametrize("side, size, expected", [
    (1000, 64, 2),   # 1000/4 = 250 ≥ 128, 1000/8 = 125 < 128
    (2048, 64, 3),   # 2048/8 = 256 ≥ 128
    (300, 224, 0),   # smaller than twice the input: full resolution
    (1000, 224, 1),  # 1000/2 = 500 ≥ 448, 1000/4 = 250 < 448
])
def test_jpeg_ratio_rule(side, size, expected):
    item = ImageBoxes("k", [1, 2], [(0.0, 0.0, side / 4000, side / 3000),
                                    (0.0, 0.0, 1.0, 1.0)], 4000, 3000)
    assert jpeg_ratio_index(item, size) == expected


def test_unknown_dimensions_decode_in_full():
    assert jpeg_ratio_index(ImageBoxes("k", [1], [(0, 0, 0.1, 0.1)]), 32) == 0


def test_a_coarse_decode_gives_the_same_answer(tmp_path):
    """Reading a 12 MP-like JPEG at 1/8 scale changes the crop little and the class not at all."""
    model = load_model_file(str(colour_model(tmp_path / "c.keras", size=16)))
    img = PILImage.new("RGB", (2400, 1800), (20, 20, 20))
    img.paste((30, 200, 40), (600, 450, 1800, 1350))  # a big green animal
    data = _jpeg(img)
    box = [(0.25, 0.25, 0.75, 0.75)]
    coarse = ImageBoxes("k", [1], box, 2400, 1800)
    assert jpeg_ratio_index(coarse, 16) == 3
    (full,) = list(predictions(model, [ImageBoxes("k", [1], box)], 16, "raw",
                               read=lambda k: data))
    (fast,) = list(predictions(model, [coarse], 16, "raw", read=lambda k: data))
    assert full[1][0] == fast[1][0] == 1  # green
    assert abs(full[2][0] - fast[2][0]) < 0.01


@pytest.mark.parametrize("logits", [True, False])
def test_logits_become_probabilities_decided_once_at_load(tmp_path, logits):
    import keras

    path = keras_classifier(tmp_path / "l.keras", size=32, classes=5, logits=logits, seed=9)
    model = load_model_file(str(path))
    assert model.logits is logits
    crops = np.random.default_rng(2).uniform(0, 255, (6, 32, 32, 3)).astype(np.float32)
    raw = np.asarray(keras.models.load_model(path, compile=False)(crops))
    probabilities = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True) if logits else raw
    best, score = (np.asarray(v) for v in model.predict(crops))
    assert list(best) == list(probabilities.argmax(axis=1))
    assert np.allclose(score, probabilities.max(axis=1), atol=1e-5)
    assert ((score > 0) & (score <= 1)).all()


@pytest.mark.parametrize("preprocessing, low, high", [
    ("raw", 0.0, 255.0), ("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0)])
def test_preprocessing_scales_crops(preprocessing, low, high):
    img = PILImage.new("RGB", (40, 40), (0, 0, 0))
    img.paste((255, 255, 255), (20, 0, 40, 40))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    ((_, crops),) = list(crop_dataset([ImageBoxes("k", [1], [(0.0, 0.0, 1.0, 1.0)])], 16,
                                      preprocessing, read=lambda k: buf.getvalue()))
    values = crops.numpy()
    assert values.min() == pytest.approx(low, abs=0.02 * (high - low))
    assert values.max() == pytest.approx(high, abs=0.02 * (high - low))


def test_a_failed_read_is_raised_not_swallowed(tmp_path):
    model = load_model_file(str(colour_model(tmp_path / "c.keras", size=16)))

    def read(key):
        raise FileNotFoundError(key)

    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        list(predictions(model, [ImageBoxes("gone.jpg", [1], [(0, 0, 1, 1)])], 16, "raw",
                         read=read))


@pytest.fixture
def colour_survey(db, tmp_path):
    """Twelve images with one box each: four red, four green, four blue; a colour classifier."""
    path = colour_model(tmp_path / "colour.keras", size=16)
    key = default_storage.save("classifiers/colour.keras", ContentFile(path.read_bytes()))
    v1 = Classifier.objects.create(name="Colour", version="1", model_key=key, input_size=16,
                                   classes=["red", "green", "blue"], threshold=0.3)
    survey = SurveyFactory(classifier=v1)
    camera = CameraFactory(site__survey=survey)
    colours = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}
    truth = {}
    for n in range(12):
        name = list(colours)[n % 3]
        cluster = ClusterFactory(survey=survey, site=camera.site)
        img = PILImage.new("RGB", (120, 90), (10, 10, 10))
        img.paste(colours[name], (30, 20, 90, 70))
        image_key = default_storage.save(f"img/{n}.jpg", ContentFile(_jpeg(img)))
        image = ImageFactory(camera=camera, cluster=cluster, key=image_key, web_key="",
                             width=120, height=90)
        det = Detection.objects.create(image=image, left=0.25, top=0.22, right=0.75,
                                       bottom=0.78, score=0.9, source="user")
        truth[det.pk] = name
    return survey, v1, truth


def classified(survey):
    return dict(Detection.objects.filter(image__camera__site__survey=survey).values_list(
        "id", "classification"))


def test_classification_is_right_saved_per_batch_and_skipped_per_version(
        colour_survey, settings):
    survey, v1, truth = colour_survey
    settings.CLASSIFY_BATCH = 5  # 12 boxes: three batches, three saves
    steps = []
    assert do_classify_survey(survey, progress=lambda d, t: steps.append((d, t))) == 12
    assert steps == [(5, 12), (10, 12), (12, 12)]
    assert classified(survey) == truth
    assert set(Detection.objects.values_list("classified_by", flat=True)) == {v1.pk}
    assert {c.suggestion for c in Cluster.objects.filter(survey=survey)} == {
        "red", "green", "blue"}
    # The same version again: nothing to do.
    assert do_classify_survey(survey) == 0
    # A new version of the classifier classifies everything again.
    v2 = Classifier.objects.create(name="Colour", version="2", model_key=v1.model_key,
                                   input_size=16, classes=["red", "green", "blue"])
    survey.classifier = v2
    assert do_classify_survey(survey) == 12
    assert set(Detection.objects.values_list("classified_by", flat=True)) == {v2.pk}


def test_a_run_cut_off_mid_way_resumes_with_what_is_left(colour_survey, settings):
    """A run killed after some batches keeps their results; the next does only the rest."""
    survey, v1, truth = colour_survey
    settings.CLASSIFY_BATCH = 4

    class Killed(Exception):
        pass

    def kill_after_two_batches(done, total):
        if done >= 8:
            raise Killed

    with pytest.raises(Killed):
        do_classify_survey(survey, progress=kill_after_two_batches)
    assert Detection.objects.filter(classified_by=v1).count() == 8
    assert do_classify_survey(survey) == 4
    assert classified(survey) == truth


def test_per_class_thresholds_decide_which_boxes_vote(colour_survey):
    survey, v1, truth = colour_survey
    do_classify_survey(survey)
    blue = max(Detection.objects.filter(classification="blue").values_list(
        "classification_score", flat=True))
    # Raise blue's threshold above its scores: blue clusters lose their suggestion.
    v1.class_thresholds = {"blue": min(1.0, blue + 0.01)}
    v1.save()
    from classifiers.services.classification import suggest_cluster_species

    suggest_cluster_species(survey, v1)
    assert {c.suggestion for c in Cluster.objects.filter(survey=survey)} == {
        "red", "green", ""}
