"""The default detector: registered at first use, its input options, its boxes on real photos."""

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image as PILImage

from classifiers.exceptions import ClassifierError
from classifiers.models import Detection, Detector
from classifiers.services import yolox
from classifiers.services.default_detector import (
    NAME,
    THRESHOLD,
    VERSION,
    default_detector,
    registered_default,
)
from classifiers.services.detection import detect_items, do_detect_survey
from classifiers.services.detector_inference import PAD_VALUE, DetectImage, letterbox
from classifiers.services.registration import DetectorFiles, check_detector
from classifiers.taxonomy import Category, DetectorInput, DetectorOutput, Fill, Placement
from surveys.models import Image
from surveys.taxonomy import DEFAULT_DETECTOR
from tests.conftest import CAMERA_TRAPS
from tests.factories import CameraFactory, ClusterFactory, ImageFactory, SurveyFactory
from traptagger import settings as base_settings

pytestmark = pytest.mark.django_db


def _png(width: int, height: int, colour=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def test_letterbox_centred_on_grey_by_default():
    square, geometry = (np.asarray(t) for t in letterbox(_png(100, 50), 0, 64))
    assert geometry.tolist() == [16, 0, 32, 64]  # pad top, pad left, height, width
    assert square[0, 0].tolist() == [PAD_VALUE] * 3
    assert square[63, 63].tolist() == [PAD_VALUE] * 3
    assert square[32, 32].tolist() == pytest.approx([200, 10, 10], abs=1)


def test_letterbox_top_left_on_black():
    """YOLOX's placement: the photo in the top-left corner, black below and right."""
    square, geometry = (np.asarray(t) for t in letterbox(_png(100, 50), 0, 64, top_left=True,
                                                         fill=0.0))
    assert geometry.tolist() == [0, 0, 32, 64]
    assert square[0, 0].tolist() == pytest.approx([200, 10, 10], abs=1)
    assert square[31, 63].tolist() == pytest.approx([200, 10, 10], abs=1)
    assert square[32:].max() == 0.0
    tall, geometry = (np.asarray(t) for t in letterbox(_png(50, 100), 0, 64, top_left=True,
                                                       fill=0.0))
    assert geometry.tolist() == [0, 0, 64, 32]
    assert tall[:, 32:].max() == 0.0 and tall[:, :32].min() > 0


def test_the_detector_reads_the_copy_it_asks_for():
    rows = [(1, "originals/a.jpg", "web/a.jpg", 4000, 3000),
            (2, "originals/b.jpg", "", 4000, 3000)]
    web = Detector(name="d", input_size=640)
    assert detect_items(web, rows) == [DetectImage(1, "web/a.jpg"),
                                       DetectImage(2, "originals/b.jpg", 4000)]
    original = Detector(name="d", input_size=640, input_source=DetectorInput.ORIGINAL)
    assert detect_items(original, rows) == [DetectImage(1, "originals/a.jpg", 4000),
                                            DetectImage(2, "originals/b.jpg", 4000)]


# --- the default detector, registered at first use and run on real photos ------------------
needs_asset = pytest.mark.skipif(yolox.asset_path() is None,
                                 reason="zamba's YOLOX asset is not installed "
                                        "(requirements/detector.txt)")
PERU = CAMERA_TRAPS / "animl_peru_s90" / "examples/test_data/Peru/S90"
DEER = ("SDZG 2/EK000012.JPG", [0.168, 0.117, 0.664, 0.716])
# EK000005: an out-of-focus flare disc (0.67) beside two animals (0.60, 0.54), in the
# reference's words; the flare is the left-hand box.
FLARE = ("SDZG 1/EK000005.JPG", [0.239, 0.283, 0.43, 0.568])
ANIMALS = ("SDZG 1/EK000005.JPG", [[0.805, 0.236, 1.0, 0.575], [0.666, 0.15, 0.986, 0.545]])


def _iou(a, b) -> float:
    inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@needs_asset
def test_the_default_detector_is_registered_once_at_first_use(media_storage):
    assert registered_default() is None

    detector = default_detector()

    assert (detector.organisation, detector.name, detector.version) == (None, NAME, VERSION)
    assert detector.category_map == {"0": Category.ANIMAL}
    assert (detector.input_size, detector.output_format) == (640, DetectorOutput.YOLOV5)
    assert (detector.input_source, detector.placement, detector.fill) == (
        DetectorInput.ORIGINAL, Placement.TOP_LEFT, Fill.BLACK)
    assert default_storage.exists(detector.model_key)
    assert detector.model_key.endswith(".keras")
    stored = sorted(p for p in media_storage.rglob("*") if p.is_file())
    assert default_detector() == detector  # found, not built again
    assert sorted(p for p in media_storage.rglob("*") if p.is_file()) == stored
    assert Detector.objects.count() == 1


def test_without_the_weights_there_is_no_default_detector(monkeypatch, settings):
    monkeypatch.setattr(yolox, "asset_path", lambda name=yolox.WEIGHTS: None)
    with pytest.raises(ClassifierError, match="requirements/detector.txt.*motion detector"):
        default_detector()
    settings.SURVEY_DETECTOR = DEFAULT_DETECTOR
    survey = SurveyFactory()
    ImageFactory(camera__site__survey=survey, cluster=ClusterFactory(site__survey=survey))
    with pytest.raises(ClassifierError, match="not installed"):
        do_detect_survey(survey)
    assert not Detector.objects.exists()


def test_the_default_detector_is_what_a_new_install_chooses():
    assert base_settings.SURVEY_DETECTOR == DEFAULT_DETECTOR


@needs_asset
@pytest.mark.skipif(not PERU.exists(), reason="../shared Peru photos absent")
def test_the_detect_stage_finds_the_deer_and_keeps_the_animals_beside_a_flare(settings):
    """A new survey's detector is the default one, registered when the stage first runs."""
    settings.SURVEY_DETECTOR = base_settings.SURVEY_DETECTOR
    survey = SurveyFactory()
    assert survey.detector == DEFAULT_DETECTOR and survey.registered_detector is None
    camera = CameraFactory(site__survey=survey)
    cluster = ClusterFactory(site=camera.site, image_count=2)
    images = {}
    for n, name in enumerate((DEER[0], FLARE[0])):
        with PILImage.open(PERU / name) as photo:
            width, height = photo.size
        key = default_storage.save(f"surveys/{survey.pk}/{n}.JPG",
                                   ContentFile((PERU / name).read_bytes()))
        images[name] = Image.objects.create(
            camera=camera, cluster=cluster, filename=f"{n}.JPG", key=key, width=width,
            height=height, content_hash=f"{survey.pk:032x}{n:032x}")

    do_detect_survey(survey)

    survey.refresh_from_db()
    assert survey.registered_detector == registered_default()
    assert survey.detector_source == f"{NAME} {VERSION}"
    def boxes(name):
        made = Detection.objects.filter(image=images[name], source=survey.detector_source)
        return [([d.left, d.top, d.right, d.bottom], d.score) for d in made]

    deer = [score for box, score in boxes(DEER[0]) if _iou(box, DEER[1]) >= 0.85]
    assert deer and max(deer) > 0.7
    found = boxes(ANIMALS[0])
    for animal in ANIMALS[1]:
        scores = [score for box, score in found if _iou(box, animal) >= 0.85]
        assert scores and max(scores) >= THRESHOLD, (animal, found)
    # The flare scores as high as the animals: relevance keeps it too (see the README).
    assert any(_iou(box, FLARE[1]) >= 0.85 and score >= THRESHOLD for box, score in found)
    print({name: [(round(s, 3), [round(v, 3) for v in b]) for b, s in boxes(name)]
           for name in images})


def test_a_registered_detector_says_what_it_reads_and_how_it_is_placed(tmp_path):
    from tests.classifiers.models import yolo_keras_detector

    model = yolo_keras_detector(tmp_path / "squares.keras")
    categories = tmp_path / "categories.json"
    categories.write_text('{"0": "animal"}')
    call_command("register_detector", "--name", "Tl", "--model", str(model), "--category-map",
                 str(categories), "--output-format", "yolov5", "--input", "original",
                 "--placement", "top_left", "--fill", "black", stdout=io.StringIO())
    detector = Detector.objects.get(name="Tl")
    assert (detector.input_source, detector.placement, detector.fill) == (
        DetectorInput.ORIGINAL, Placement.TOP_LEFT, Fill.BLACK)
    files = DetectorFiles(("m.keras", model.read_bytes()), ("c.json", b'{"0": "animal"}'))
    with pytest.raises(ClassifierError, match="Unknown detector placement 'bottom'; choose one "
                                              "of centred, top_left"):
        check_detector(files, name="Other", placement="bottom")
