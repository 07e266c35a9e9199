"""ONNX detectors: registered like any detector, run through the detection stage, checked first.

The tiny ONNX model is built here with onnx.helper, exported as PyTorch does
MegaDetector v5: NCHW float input of a fixed batch of 1, one output of YOLOv5
rows [1, N, 5 + 3] (animal, person, vehicle) in input pixels. Its box is fixed;
its objectness is the mean red of the input, so a score says the input went in
as RGB 0..1, channels first, letterboxed on grey.
"""

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from classifiers.exceptions import ClassifierError
from classifiers.models import Detection, Detector
from classifiers.services.detection import do_detect_survey
from classifiers.services.detector_inference import _yolox_decode
from classifiers.services.registration import DetectorFiles, check_detector, do_register_detector
from classifiers.taxonomy import Category
from surveys.models import Image
from tests.factories import CameraFactory, ClusterFactory, SurveyFactory

pytestmark = pytest.mark.django_db

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIDE = 64
WIDTH, HEIGHT = 128, 96  # letterboxed to 64×48 under an 8-pixel grey band
MEGADETECTOR_MAP = b'{"0": "animal", "1": "person", "2": "vehicle"}'
# cx, cy, w, h in input pixels; the second box overlaps the first and scores half: NMS drops it.
BOXES = np.array([[[32, 32, 32, 16], [33, 32, 32, 16], [10, 10, 4, 4]]], np.float32)
FACTOR = np.array([[[1.0], [0.5], [0.0]]], np.float32)  # × objectness per row
CLASS_SCORES = np.array([[[0.1, 0.9, 0.2]] * 3], np.float32)  # person wins
# Mean red of the letterboxed red image: 48 red rows of 64, 16 grey (114) ones.
MEAN_RED = (48 * 255 + 16 * 114) / 64 / 255


def _const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def megadetector_like(*, extra_nodes=(), extra_initializers=(), opsets=()) -> bytes:
    """A YOLOv5-style ONNX detector (see the module docstring), deterministic weights."""
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIDE, SIDE])
    output = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 8])
    nodes = [
        helper.make_node("Gather", ["images", "red_index"], ["red"], axis=1),  # [1, S, S]
        helper.make_node("ReduceMean", ["red"], ["mean"], axes=[1, 2], keepdims=0),  # [1]
        helper.make_node("Reshape", ["mean", "shape111"], ["objectness1"]),
        helper.make_node("Mul", ["objectness1", "factor"], ["objectness"]),  # [1, 3, 1]
        helper.make_node("Concat", ["boxes", "objectness", "class_scores"], ["output0"],
                         axis=2),
        *extra_nodes,
    ]
    initializers = [_const("red_index", np.array(0, np.int64)),
                    _const("shape111", np.array([1, 1, 1], np.int64)),
                    _const("factor", FACTOR), _const("boxes", BOXES),
                    _const("class_scores", CLASS_SCORES), *extra_initializers]
    graph = helper.make_graph(nodes, "megadetector-like", [images], [output], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), *opsets],
                              ir_version=8, producer_name="tests")
    return model.SerializeToString()


def red_survey():
    survey = SurveyFactory()
    camera = CameraFactory(site__survey=survey)
    cluster = ClusterFactory(site=camera.site, image_count=3)
    buf = io.BytesIO()
    PILImage.new("RGB", (WIDTH, HEIGHT), (255, 0, 0)).save(buf, "JPEG", quality=95)
    images = []
    for n in range(3):  # more images than the model's fixed batch of 1
        key = default_storage.save(f"surveys/{survey.pk}/RED_{n}.JPG", ContentFile(
            buf.getvalue()))
        images.append(Image.objects.create(
            camera=camera, cluster=cluster, filename=f"RED_{n}.JPG", key=key, width=WIDTH,
            height=HEIGHT, content_hash=f"{survey.pk:032x}{n:032x}"))
    return survey, images


def register_onnx(data: bytes, name="MDv5 onnx", **options) -> Detector:
    options = {"output_format": "yolov5", "preprocessing": "unit", "threshold": 0.2, **options}
    return do_register_detector(check_detector(
        DetectorFiles(("md_v5a.onnx", data), ("categories.json", MEGADETECTOR_MAP)),
        name=name, **options))


def test_an_onnx_megadetector_is_registered_and_its_box_lands_on_the_image(media_storage):
    detector = register_onnx(megadetector_like())
    assert (detector.input_size, detector.output_format, detector.category_map) == (
        SIDE, "yolov5", {"0": Category.ANIMAL, "1": Category.PERSON, "2": Category.VEHICLE})
    assert detector.model_key.endswith(".onnx")
    survey, images = red_survey()
    survey.registered_detector = detector
    assert do_detect_survey(survey) == 3  # one box each: the overlapping twin suppressed
    for image in images:
        box = Detection.objects.get(image=image)
        # Input pixels 16..48 × 24..40 of the 64-pixel square, less the 8-pixel band, over
        # the 64×48 photo inside it.
        assert (box.left, box.top, box.right, box.bottom) == pytest.approx(
            (0.25, 1 / 3, 0.75, 2 / 3), abs=0.002)
        assert box.category == Category.PERSON and box.source == "MDv5 onnx 1"
        assert box.score == pytest.approx(MEAN_RED * 0.9, abs=0.01)


def test_the_yolox_format_decodes_the_grid_as_the_default_detectors_layer_does():
    import tensorflow as tf

    from classifiers.services import yolox

    rows = np.random.default_rng(7).normal(size=(2, 84, 6)).astype(np.float32)
    layer = yolox.decode_layer_class()(size=SIDE)
    assert np.asarray(_yolox_decode(tf.constant(rows), SIDE)) == pytest.approx(
        np.asarray(layer(rows)), rel=1e-5)


# --- refused: before any runtime loads the file ---------------------------------------
def _refused(data: bytes, message: str, media_storage) -> str:
    with pytest.raises(ClassifierError, match=message) as err:
        register_onnx(data)
    assert str(err.value).startswith("md_v5a.onnx: ")
    assert not Detector.objects.exists() and not list(media_storage.rglob("*.onnx"))
    return str(err.value)


@pytest.mark.hostile
def test_a_custom_domain_operator_is_refused_naming_it(media_storage):
    evil = helper.make_node("RunShell", ["images"], ["ignored"], domain="com.evil",
                            name="payload")
    message = _refused(megadetector_like(extra_nodes=[evil],
                                         opsets=[helper.make_opsetid("com.evil", 1)]),
                       "RunShell of the custom domain 'com.evil'", media_storage)
    assert "'payload'" in message
    # onnxruntime's own contrib operators are a custom domain too.
    contrib = helper.make_node("FusedConv", ["images", "w"], ["y"], domain="com.microsoft")
    _refused(megadetector_like(extra_nodes=[contrib],
                               opsets=[helper.make_opsetid("com.microsoft", 1)]),
             "FusedConv of the custom domain 'com.microsoft'", media_storage)


@pytest.mark.hostile
def test_a_standard_operator_outside_the_allow_list_is_refused(media_storage):
    decoder = helper.make_node("RandomNormal", [], ["noise"], shape=[1], name="dice")
    _refused(megadetector_like(extra_nodes=[decoder]), "operator RandomNormal \\(node 'dice'",
             media_storage)


@pytest.mark.hostile
def test_external_data_is_refused_naming_the_tensor_and_its_path(media_storage, tmp_path):
    outside = helper.make_tensor("weights", TensorProto.FLOAT, [4], [0.0] * 4)
    outside.ClearField("float_data")
    outside.data_location = TensorProto.EXTERNAL
    outside.external_data.add(key="location", value="../../../../etc/passwd")
    _refused(megadetector_like(extra_initializers=[outside]),
             "tensor 'weights' .*external data file '../../../../etc/passwd'", media_storage)


@pytest.mark.hostile
def test_an_operator_hidden_in_a_subgraph_is_refused(media_storage):
    inner = helper.make_graph(
        [helper.make_node("RunShell", [], ["z"], domain="com.evil", name="deep")], "then",
        [], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])])
    clean = helper.make_graph(
        [helper.make_node("Constant", [], ["z"], value=_const("zero", np.zeros(1, np.float32)))],
        "else", [], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])])
    branch = helper.make_node("If", ["cond"], ["picked"], then_branch=inner, else_branch=clean,
                              name="branch")
    _refused(megadetector_like(extra_nodes=[branch],
                               extra_initializers=[_const("cond", np.array(True))]),
             "RunShell of the custom domain 'com.evil' \\(node 'deep' in subgraph then_branch",
             media_storage)


@pytest.mark.hostile
@pytest.mark.parametrize("cut", [0.5, 0.9, 40])
def test_a_truncated_file_is_refused(media_storage, cut):
    data = megadetector_like()
    end = int(len(data) * cut) if cut < 1 else cut
    _refused(data[:end], "not an ONNX model, or it is cut short", media_storage)


@pytest.mark.hostile
def test_a_stored_model_swapped_for_a_hostile_one_is_refused_by_the_worker(media_storage):
    """The worker checks the stored file again before onnxruntime loads it."""
    detector = register_onnx(megadetector_like(), name="Swapped")
    evil = helper.make_node("RunShell", ["images"], ["ignored"], domain="com.evil")
    with default_storage.open(detector.model_key, "wb") as fh:
        fh.write(megadetector_like(extra_nodes=[evil],
                                   opsets=[helper.make_opsetid("com.evil", 1)]))
    survey, images = red_survey()
    survey.registered_detector = detector
    with pytest.raises(ClassifierError, match="RunShell of the custom domain"):
        do_detect_survey(survey)
    assert not Detection.objects.exists()
