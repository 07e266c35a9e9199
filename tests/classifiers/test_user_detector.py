"""Detectors from users' model files: registration, the output contract, NMS, surveys, scoping.

The tiny detectors (tests/classifiers/models.py) find bright squares on a dark
background and give overlapping duplicates around each one, so non-max
suppression has work to do. Images are 128×96: letterboxed to 64×64 they
shrink by half under an 8-pixel grey band, which puts squares drawn at
multiples of 8 pixels exactly on the detectors' 4-pixel window grid.
"""

import io
import json
import re
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from accounts.taxonomy import Role
from classifiers.exceptions import ClassifierError
from classifiers.models import Detection, Detector
from classifiers.selectors import relevant_detections, threshold_for
from classifiers.services.detection import do_detect_survey
from classifiers.services.detector_inference import (
    DetectImage,
    LoadedDetector,
    compile_detector,
    detections,
    load_detector_file,
)
from classifiers.services.registration import (
    DetectorFiles,
    check_detector,
    do_register_detector,
    do_update_detector,
)
from classifiers.services.runs import do_run_detection
from classifiers.taxonomy import Category
from core.exceptions import AccessDenied
from surveys.exceptions import SurveyError
from surveys.models import Image, Survey
from surveys.services.surveys import do_save_survey
from surveys.taxonomy import SurveyStatus
from tests.classifiers.models import (
    boxes_saved_model,
    keras_classifier,
    yolo_keras_detector,
    zipped_saved_model,
)
from tests.factories import (
    CameraFactory,
    ClusterFactory,
    MembershipFactory,
    OrganisationFactory,
    SurveyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

WIDTH, HEIGHT, SQUARE = 128, 96, 32
WHITE, YELLOW, DARK = (255, 255, 255), (255, 255, 0), (20, 20, 20)
# Per image: (colour, left, top) of each square; the last image is empty.
SCENES = [[(WHITE, 16, 24), (YELLOW, 72, 40)], [(WHITE, 80, 8)], []]
YOLO_MAP = b'{"0": "animal", "1": "person"}'
BOXES_MAP = b'{"1": "animal", "2": "person"}'  # the TF Object Detection API counts from 1


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """File name → bytes of each tiny model (built once)."""
    folder = tmp_path_factory.mktemp("detectors")
    built = {
        "squares.keras": yolo_keras_detector(folder / "squares.keras"),
        "squares.zip": boxes_saved_model(folder, order="yxyx"),
        "squares-xyxy.zip": boxes_saved_model(folder, order="xyxy"),
        "classifier.keras": keras_classifier(folder / "classifier.keras", size=32, classes=3),
        "classifier.zip": zipped_saved_model(folder, size=24, classes=4),
    }
    return {name: path.read_bytes() for name, path in built.items()}


def files(models, model="squares.keras", category_map=YOLO_MAP, *, data=None):
    name = model.replace("-xyxy", "")
    return DetectorFiles(model=(name, data if data is not None else models[model]),
                         category_map=("categories.json", category_map))


def register(models, model="squares.keras", category_map=YOLO_MAP, **options):
    options.setdefault("name", "Squares")
    if model.endswith(".keras"):
        options.setdefault("preprocessing", "unit")
        options.setdefault("output_format", "yolov5")
    return do_register_detector(check_detector(files(models, model, category_map), **options))


def jpeg(squares) -> bytes:
    img = PILImage.new("RGB", (WIDTH, HEIGHT), DARK)
    for colour, left, top in squares:
        img.paste(colour, (left, top, left + SQUARE, top + SQUARE))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def expected_box(left, top):
    return (left / WIDTH, top / HEIGHT, (left + SQUARE) / WIDTH, (top + SQUARE) / HEIGHT)


def square_survey(organisation=None) -> tuple[Survey, list[Image]]:
    """A survey of one cluster of three stored 128×96 images (SCENES)."""
    survey = SurveyFactory(**({"organisation": organisation} if organisation else {}))
    camera = CameraFactory(site__survey=survey)
    cluster = ClusterFactory(site=camera.site, image_count=len(SCENES))
    images = []
    for n, squares in enumerate(SCENES):
        key = default_storage.save(f"surveys/{survey.pk}/IMG_{n}.JPG", ContentFile(jpeg(squares)))
        images.append(Image.objects.create(camera=camera, cluster=cluster, filename=f"IMG_{n}.JPG",
                                           key=key, width=WIDTH, height=HEIGHT,
                                           content_hash=f"{survey.pk:032x}{n:032x}"))
    return survey, images


def stored_files(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()
                  if not p.relative_to(media).as_posix().startswith("surveys/"))


def assert_found_the_squares(images, source):
    for image, squares in zip(images, SCENES, strict=True):
        boxes = list(Detection.objects.filter(image=image).order_by("left"))
        assert len(boxes) == len(squares), (image.filename, boxes)  # duplicates merged
        for box, (colour, left, top) in zip(boxes, sorted(squares, key=lambda s: s[1]),
                                            strict=True):
            found = (box.left, box.top, box.right, box.bottom)
            assert found == pytest.approx(expected_box(left, top), abs=0.02), image.filename
            assert box.category == (Category.ANIMAL if colour == WHITE else Category.PERSON)
            assert box.source == source and 0.5 < box.score <= 1.0


# --- the two formats on a survey ------------------------------------------------------
def test_a_keras_yolo_detector_finds_the_squares_and_a_rerun_changes_nothing(
        models, media_storage):
    detector = register(models, threshold=0.3)
    assert (detector.output_format, detector.input_size, detector.category_map) == (
        "yolov5", 64, {"0": Category.ANIMAL, "1": Category.PERSON})
    assert stored_files(media_storage) == [detector.model_key]
    survey, images = square_survey()
    survey.registered_detector = detector
    do_save_survey(survey)
    assert survey.detector_source == "Squares 1"
    assert do_detect_survey(survey) == 3
    assert_found_the_squares(images, "Squares 1")
    assert not Image.objects.filter(cluster__survey=survey, detected=False).exists()
    before = list(Detection.objects.order_by("id").values_list("id", "score"))
    assert do_detect_survey(survey) == 0  # detected images are skipped
    assert list(Detection.objects.order_by("id").values_list("id", "score")) == before


@pytest.mark.parametrize("model, order", [("squares.zip", "yxyx"),
                                          ("squares-xyxy.zip", "xyxy")])
def test_a_saved_model_giving_boxes_scores_classes_in_either_order(models, model, order):
    detector = register(models, model, BOXES_MAP, box_order=order, version="2")
    assert (detector.output_format, detector.input_size) == ("boxes", 64)
    survey, images = square_survey()
    survey.registered_detector = detector
    assert do_detect_survey(survey) == 3
    assert_found_the_squares(images, "Squares 2")


def test_the_wrong_box_order_puts_the_boxes_elsewhere(models):
    """The option matters: xyxy boxes read as yxyx land transposed."""
    detector = register(models, "squares-xyxy.zip", BOXES_MAP, box_order="yxyx")
    survey, images = square_survey()
    survey.registered_detector = detector
    do_detect_survey(survey)
    box = Detection.objects.filter(image=images[1]).first()  # the white square at (80, 8)
    assert box is None or abs(box.left - 80 / WIDTH) > 0.1


def _run_on_one_image(models, model, category_map, nms_iou, preprocessing):
    probed = load_detector_file_from(models, model)
    run = compile_detector(probed, box_order="yxyx", category_map=category_map, nms_iou=nms_iou)
    ((_, (boxes,)),) = list(detections(LoadedDetector(run, probed), [DetectImage(1, "k")],
                                       preprocessing, read=lambda key: jpeg(SCENES[0])))
    return boxes


def load_detector_file_from(models, model):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=model[-6:]) as tmp:
        tmp.write(models[model])
        tmp.flush()
        return load_detector_file(tmp.name, output_format="yolov5" if model.endswith(
            ".keras") else "boxes")


@pytest.mark.parametrize("model, category_map, preprocessing", [
    ("squares.keras", {"0": 1, "1": 2}, "unit"), ("squares.zip", {"1": 1, "2": 2}, "raw")])
def test_non_max_suppression_merges_the_overlapping_duplicates(
        models, model, category_map, preprocessing):
    everything = _run_on_one_image(models, model, category_map, 1.0, preprocessing)
    merged = _run_on_one_image(models, model, category_map, 0.5, preprocessing)
    # Without suppression each square has its neighbours' windows around it too.
    assert len(everything) >= 6 and len(merged) == 2
    assert {b.category for b in merged} == {Category.ANIMAL, Category.PERSON}
    for kept in merged:
        twins = [b for b in everything if b.category == kept.category]
        assert max(b.score for b in twins) == kept.score and len(twins) >= 3


def test_the_category_map_decides_categories_and_drops_unmapped_classes(models):
    detector = register(models, category_map=b'{"0": "Vehicle"}')
    survey, images = square_survey()
    survey.registered_detector = detector
    assert do_detect_survey(survey) == 2  # the yellow square's class is not mapped
    assert set(Detection.objects.values_list("category", flat=True)) == {Category.VEHICLE}


# --- relevance ------------------------------------------------------------------------
def test_a_registered_detectors_threshold_decides_relevance(models):
    detector = register(models, threshold=0.6)
    survey, images = square_survey()
    survey.registered_detector = detector
    do_detect_survey(survey)
    image = images[2]
    for source, score in [("Squares 1", 0.55), ("someone's detector", 0.55),
                          ("Squares 1", 0.65)]:
        Detection.objects.create(image=image, left=0.1, top=0.5, right=0.3, bottom=0.7,
                                 score=score, source=source)
    relevant = relevant_detections(survey)
    assert relevant.filter(image=image, source="Squares 1").count() == 1  # 0.65, not 0.55
    assert relevant.filter(image=image, source="someone's detector").count() == 1  # 0.1
    assert relevant.exclude(image=image).count() == 3  # the squares score above 0.6
    do_update_detector(detector, threshold=0.9)
    assert relevant_detections(survey).filter(source="Squares 1").count() == 0
    assert threshold_for("Squares 1", {"Squares 1": 0.9}) == 0.9
    assert threshold_for("Squares 1") == 0.1  # unknown to settings: the default


def test_the_organisations_own_detector_threshold_wins_over_a_shared_one(models):
    org = OrganisationFactory()
    register(models, threshold=0.3)  # shared
    register(models, threshold=0.6, organisation=org)
    other = register(models, threshold=0.9, organisation=OrganisationFactory(), version="7")
    survey, images = square_survey(org)
    for source in ("Squares 1", other.source):
        Detection.objects.create(image=images[2], left=0.1, top=0.5, right=0.3, bottom=0.7,
                                 score=0.5, source=source)
    # Own 0.6 (not the shared 0.3): "Squares 1" at 0.5 is out. Another organisation's
    # detector is unknown here: its source gets the default 0.1, not its 0.9.
    assert list(relevant_detections(survey).values_list("source", flat=True)) == ["Squares 7"]
    survey.detection_threshold = 0.4  # the survey's own threshold overrides every detector's
    assert relevant_detections(survey).count() == 2


# --- choosing a detector, and who may -------------------------------------------------
def test_run_detection_takes_a_registered_detector_the_organisation_may_use(models):
    org, other = OrganisationFactory(), OrganisationFactory()
    theirs = register(models, name="Theirs", organisation=other)
    shared = register(models, name="Shared", version="3")
    survey, _ = square_survey(org)
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.READY)
    survey.refresh_from_db()
    with pytest.raises(ClassifierError, match="Unknown detector 'Theirs'") as err:
        do_run_detection(survey, detector="Theirs")
    assert "Shared:3" in str(err.value) and "motion" in str(err.value)
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.READY and survey.registered_detector is None
    do_run_detection(survey, detector="Shared:3")
    survey.refresh_from_db()
    assert survey.registered_detector == shared and survey.status == SurveyStatus.DETECTING
    # Going back to a weight-free detector clears the registered one.
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.READY)
    survey.refresh_from_db()
    do_run_detection(survey, detector="whole")
    survey.refresh_from_db()
    assert survey.registered_detector is None and survey.detector == "whole"
    # Nor can the survey be saved with another organisation's detector.
    survey.registered_detector = theirs
    with pytest.raises(SurveyError, match="belongs to another organisation"):
        do_save_survey(survey)


def test_who_may_register_a_detector_where(models):
    org, other = OrganisationFactory(), OrganisationFactory()
    admin = MembershipFactory(organisation=org, role=Role.ADMIN).user
    check_detector(files(models), name="Own", organisation=org, acting_user=admin,
                   preprocessing="unit", output_format="yolov5")
    with pytest.raises(AccessDenied):
        check_detector(files(models), name="Theirs", organisation=other, acting_user=admin)
    with pytest.raises(AccessDenied, match="publish detectors shared"):
        check_detector(files(models), name="Shared", acting_user=admin)
    staff = UserFactory(is_superuser=True, is_staff=True)
    check_detector(files(models), name="Shared", acting_user=staff, preprocessing="unit",
                   output_format="yolov5")


# --- bad input: refused, nothing stored -----------------------------------------------
@pytest.mark.parametrize("model, data, message", [
    ("det.keras", b"\x00" * 100, "det.keras: The file is not a Keras model"),
    ("det.zip", b"PK\x03\x04 not really a zip", "det.zip: "),
    ("det.onnx", b"\x00", "det.onnx: The file is not an ONNX model"),
    ("det.pt", b"\x00", "det.pt: a detector's model file is a Keras file"),
])
def test_a_file_that_is_not_a_model_is_refused_naming_it(models, model, data, message,
                                                         media_storage):
    with pytest.raises(ClassifierError, match=message):
        check_detector(DetectorFiles((model, data), ("c.json", YOLO_MAP)), name="Bad")
    assert not Detector.objects.exists() and stored_files(media_storage) == []


@pytest.mark.parametrize("model, shapes", [
    ("classifier.keras", "outputs of shapes (2, 3) for 2 image(s)"),
    ("classifier.zip", "outputs of shapes scores (2, 4) for 2 image(s)"),
])
def test_outputs_that_are_not_detections_are_refused_naming_their_shapes(
        models, model, shapes, media_storage):
    with pytest.raises(ClassifierError, match="boxes \\[batch, N, 4\\]") as err:
        check_detector(files(models, model), name="Bad")
    assert shapes in str(err.value) and str(err.value).startswith(model)
    assert not Detector.objects.exists() and stored_files(media_storage) == []


@pytest.mark.parametrize("data, message", [
    (b"[", "not JSON"),
    (b"{}", "at least one"),
    (b'["animal"]', "at least one"),
    (b'{"a": "animal"}', "class numbers"),
    (b'{"-1": "animal"}', "class numbers"),
    (b'{"0": "zebra"}', "class 0 must map to animal, person or vehicle, not 'zebra'"),
    (b'{"0": 1}', "must map to animal"),
    (b'{"0": "animal", "5": "person"}',
     "names class 5 but the model squares.keras gives scores for 2 classes"),
])
def test_bad_category_maps_are_refused(models, data, message, media_storage):
    with pytest.raises(ClassifierError, match=message) as err:
        check_detector(files(models, category_map=data), name="Bad", preprocessing="unit",
                       output_format="yolov5")
    assert "categories.json" in str(err.value)
    assert not Detector.objects.exists() and stored_files(media_storage) == []


@pytest.mark.parametrize("options, message", [
    ({"name": "motion"}, "weight-free detector"),
    ({"name": "a:b"}, "cannot hold “:”"),
    ({"name": "Sq", "version": "1 b"}, "cannot hold spaces"),
    ({"name": "x" * 41}, "at most 40 characters"),
    ({"name": "Sq", "nms_iou": 0.0}, "IoU must be above 0"),
    ({"name": "Sq", "box_order": "xywh"}, "Unknown box order"),
    ({"name": "Sq", "input_size": 32}, "takes 64×64 images, not the 32×32"),
])
def test_bad_options_are_refused(models, options, message):
    with pytest.raises(ClassifierError, match=message):
        check_detector(files(models), output_format="yolov5", **options)
    assert not Detector.objects.exists()


def test_the_same_version_twice_is_refused(models, media_storage):
    first = register(models)
    with pytest.raises(ClassifierError, match="registered already"):
        register(models)
    assert stored_files(media_storage) == [first.model_key]


@pytest.mark.hostile
def test_a_zipped_detector_that_escapes_its_folder_is_refused(tmp_path, media_storage):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../outside-detector.txt", "x")
        zf.writestr("saved_model.pb", "x")
    with pytest.raises(ClassifierError, match="outside itself"):
        check_detector(DetectorFiles(("evil.zip", archive.getvalue()), ("c.json", BOXES_MAP)),
                       name="Evil")
    assert not list(tmp_path.parent.rglob("outside-detector.txt"))
    assert not Detector.objects.exists() and stored_files(media_storage) == []


# --- the edges: command and admin -----------------------------------------------------
def test_register_detector_command(models, tmp_path):
    model = tmp_path / "squares.keras"
    model.write_bytes(models["squares.keras"])
    categories = tmp_path / "categories.json"
    categories.write_bytes(YOLO_MAP)
    out = io.StringIO()
    call_command("register_detector", "--name", "Cmd", "--model", str(model), "--category-map",
                 str(categories), "--preprocessing", "unit", "--output-format", "yolov5",
                 "--threshold", "0.4", "--json",
                 stdout=out)
    record = json.loads(out.getvalue())
    assert (record["output_format"], record["input_size"], record["category_map"]) == (
        "yolov5", 64, {"0": 1, "1": 2})
    assert Detector.objects.get().threshold == 0.4
    categories.write_bytes(b'{"0": "lion"}')
    with pytest.raises(CommandError, match="class 0 must map to animal"):
        call_command("register_detector", "--name", "Cmd", "--detector-version", "2",
                     "--model", str(model), "--category-map", str(categories))
    with pytest.raises(CommandError, match="no file"):
        call_command("register_detector", "--name", "Cmd", "--model", "/nonexistent.keras",
                     "--category-map", str(categories))
    assert Detector.objects.count() == 1


def test_admin_registers_a_detector_by_upload_and_refuses_a_bad_file(client, models,
                                                                      media_storage):
    from django.core.files.uploadedfile import SimpleUploadedFile

    org = OrganisationFactory()
    admin = MembershipFactory(organisation=org, role=Role.ADMIN, user__is_staff=True).user
    client.force_login(admin)

    def post(model_name, data, organisation=org):
        return client.post("/admin/classifiers/detector/add/", {
            "organisation": organisation.pk, "name": "Uploaded", "version": "1",
            "description": "", "box_order": "yxyx", "preprocessing": "unit",
            "output_format": "yolov5",
            "threshold": "0.3", "nms_iou": "0.5",
            "model_file": SimpleUploadedFile(model_name, data),
            "category_map_file": SimpleUploadedFile("categories.json", YOLO_MAP)})

    refused = post("det.keras", b"not a model at all")
    assert refused.status_code == 200
    assert "det.keras: The file is not a Keras model" in refused.content.decode()
    assert not Detector.objects.exists() and stored_files(media_storage) == []
    theirs = post("squares.keras", models["squares.keras"], OrganisationFactory())
    assert "Select a valid choice" in theirs.content.decode() and not Detector.objects.exists()
    done = post("squares.keras", models["squares.keras"])
    assert done.status_code == 302, done.content.decode()[:2000]
    detector = Detector.objects.get()
    assert detector.organisation == org and detector.output_format == "yolov5"
    page = client.get(f"/admin/classifiers/detector/{detector.pk}/change/").content.decode()
    assert 'name="threshold"' in page and 'name="category_map"' not in page
    # The survey form offers the organisation's detectors, and says which are weight-free.
    register(models, name="Hidden", organisation=OrganisationFactory())
    survey_page = client.get(f"/admin/surveys/survey/{SurveyFactory(organisation=org).pk}"
                             "/change/").content.decode()
    assert "Hidden 1" not in survey_page and "Uploaded 1" in survey_page
    assert "(weight-free)" in survey_page


def _run_detection(*args) -> dict:
    # Explicit streams: under capsys, the --now thread running TensorFlow left pytest's
    # capture file closed at teardown (the command's own output is the same either way).
    out, err = io.StringIO(), io.StringIO()
    call_command("run_detection", "--survey", "Squares", *args, "--now", "--json", stdout=out,
                 stderr=err)
    assert "images detected" in err.getvalue()  # the progress bar
    return json.loads(out.getvalue())


@pytest.mark.django_db(transaction=True)
def test_run_detection_command_with_a_registered_detector(models):
    org = OrganisationFactory(name="Org")
    register(models, organisation=org, version="2", threshold=0.3)
    survey, images = square_survey(org)
    Survey.objects.filter(pk=survey.pk).update(name="Squares", status=SurveyStatus.READY)
    counts = _run_detection("--detector", "Squares:2")
    assert counts["status"] == SurveyStatus.READY and counts["detected"] == counts["images"] == 3
    assert counts["by_source"] == {"Squares 2": 3}
    survey.refresh_from_db()
    assert survey.registered_detector.version == "2"
    assert_found_the_squares(images, "Squares 2")
    # Again, with the detector remembered: nothing left to detect.
    assert _run_detection() == counts
    with pytest.raises(CommandError, match="Unknown detector 'Squares:9'"):
        _run_detection("--detector", "Squares:9")


@pytest.mark.parametrize("declared, message", [
    ("boxes", "the output format boxes expects boxes [batch, N, 4]"),
    ("yolox", "gives 169 rows for 64×64 images, but YOLOX's head has 84"),
])
def test_the_output_format_is_declared_not_guessed(models, declared, message, media_storage):
    """YOLO rows registered as another format are refused, saying which format they fit."""
    with pytest.raises(ClassifierError, match=re.escape(message)) as err:
        check_detector(files(models), name="Sq", preprocessing="unit", output_format=declared)
    if declared == "boxes":
        assert "declare the output format yolov5 or yolox" in str(err.value)
    assert not Detector.objects.exists() and stored_files(media_storage) == []
