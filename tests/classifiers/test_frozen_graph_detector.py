"""A frozen TensorFlow graph with MegaDetector v4.1's names, registered and run as a detector.

The tiny graph is built here in TF1 style: ``image_tensor`` (uint8) in,
``detection_boxes`` (normalised y1, x1, y2, x2), ``detection_scores`` and
``detection_classes`` (numbered from 1) out, like the TensorFlow Object
Detection API's frozen inference graphs. Its box is fixed; its score is the mean
red of the letterboxed input.
"""

import pytest

from classifiers.exceptions import ClassifierError
from classifiers.models import Detection, Detector
from classifiers.services.detection import do_detect_survey
from classifiers.services.registration import DetectorFiles, check_detector, do_register_detector
from classifiers.taxonomy import Category
from tests.classifiers.test_onnx_detector import MEAN_RED, SIDE, red_survey

pytestmark = pytest.mark.django_db

# Input pixels 16..48 across, 24..40 down, of the 64-pixel square; a second box far away
# scores nothing.
BOXES = [[[24 / SIDE, 16 / SIDE, 40 / SIDE, 48 / SIDE], [0.0, 0.0, 0.05, 0.05]]]


def frozen_graph(*, names=("image_tensor", "detection_boxes"), hostile=False) -> bytes:
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.uint8, [None, None, None, 3], name=names[0])
        red = tf.reduce_mean(tf.cast(images[..., 0], tf.float32) / 255.0, axis=[1, 2])
        batch = tf.shape(images)[0]
        tf.identity(tf.tile(tf.constant(BOXES), [batch, 1, 1]), name=names[1])
        tf.identity(tf.stack([red, red * 0.0], axis=1), name="detection_scores")
        tf.identity(tf.fill([batch, 2], 1.0), name="detection_classes")
        tf.identity(tf.fill([batch], 2.0), name="num_detections")
        if hostile:
            tf.io.write_file("planted.txt", "x", name="planted")
    return graph.as_graph_def().SerializeToString()


def register_pb(data: bytes, **options) -> Detector:
    return do_register_detector(check_detector(
        DetectorFiles(("md_v4.1.0.pb", data), ("categories.json", b'{"1": "animal"}')),
        name="md_v4.1", version="4.1.0", input_size=SIDE, output_format="boxes",
        box_order="yxyx", threshold=0.8, **options))


def test_a_frozen_megadetector_v4_graph_is_registered_and_its_box_lands(media_storage):
    detector = register_pb(frozen_graph())
    assert (detector.input_size, detector.output_format) == (SIDE, "boxes")
    assert detector.model_key.endswith(".pb")
    survey, images = red_survey()
    survey.registered_detector = detector
    assert do_detect_survey(survey) == len(images)
    for image in images:
        box = Detection.objects.get(image=image)
        assert (box.left, box.top, box.right, box.bottom) == pytest.approx(
            (0.25, 1 / 3, 0.75, 2 / 3), abs=0.002)
        assert box.category == Category.ANIMAL and box.source == "md_v4.1 4.1.0"
        assert box.score == pytest.approx(MEAN_RED, abs=0.01)


@pytest.mark.hostile
def test_a_frozen_graph_with_a_file_op_is_refused_before_import(media_storage, tmp_path):
    with pytest.raises(ClassifierError, match="uses the operation WriteFile \\(in node "
                                              "'planted'"):
        register_pb(frozen_graph(hostile=True))
    assert not Detector.objects.exists() and not list(media_storage.rglob("*.pb"))


@pytest.mark.hostile
@pytest.mark.parametrize("data, message", [
    (frozen_graph(names=("images", "detection_boxes")), "has no image_tensor node"),
    (frozen_graph(names=("image_tensor", "boxes")), "has no detection_boxes node"),
    (frozen_graph()[:200], "not a frozen TensorFlow graph, or it is cut short"),
])
def test_a_frozen_graph_without_the_names_or_cut_short_is_refused(media_storage, data,
                                                                   message):
    with pytest.raises(ClassifierError, match=message):
        register_pb(data)
    assert not Detector.objects.exists()
