"""The detector a new install uses: zamba's camera-trap YOLOX-tiny, registered at first use.

``default_detector()`` builds the Keras model once from the installed zamba
wheel's weights (services.yolox), stores it as a ``.keras`` file in the model
store and registers it like a user's detector, shared by every organisation (its model
ends in YOLOX's own grid decoding, so it gives YOLOv5-style rows in pixels):
one class (0 → animal), 640 px input read from the original photo (the web
copy moves its scores by up to 0.29 on the Peru photos), placed top-left on
black as YOLOX was trained. Later calls find the record. Without the asset
(zamba not installed) there is no default detector: the weight-free motion
detector is then the one to choose.
"""

from __future__ import annotations

import os
import tempfile

from ..exceptions import ClassifierError
from ..models import Detector
from ..taxonomy import BoxOrder, Category, DetectorInput, DetectorOutput, Fill, Placement
from . import yolox
from .registration import CheckedDetector, DetectorFiles, do_register_detector

NAME = "yolox-tiny-animal"
VERSION = "20220528"  # the date in the weights' file name
# Relevance: zamba's own confidence. On the Peru originals the animals score 0.51–0.87, but
# so do out-of-focus flares (0.67–0.69): no threshold separates them.
THRESHOLD = yolox.CONFIDENCE
DESCRIPTION = ("zamba 2.7.2's camera-trap detector (YOLOX-tiny, MIT; zamba calls it "
               "MegadetectorLite), one class: animal. No person or vehicle class.")


def registered_default() -> Detector | None:
    """The default detector's record when it has been registered."""
    return Detector.objects.filter(organisation=None, name=NAME, version=VERSION).first()


def default_detector() -> Detector:
    """The default detector, built and registered on first use (takes ~10 s once).

    Raises ClassifierError when zamba's weights are not installed, naming
    the install step and the motion detector as the alternative.
    """
    found = registered_default()
    if found is not None:
        return found
    if yolox.asset_path() is None:
        raise ClassifierError(
            f"The default detector's weights ({yolox.WEIGHTS}) are not installed: run "
            "pip install --no-deps -r requirements/detector.txt (make does this), or choose "
            "the weight-free motion detector for the survey.")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        yolox.model_from_checkpoint().save(path)
        with open(path, "rb") as fh:
            data = fh.read()
    checked = CheckedDetector(
        DetectorFiles(("model.keras", data), ("category_map.json", b'{"0": "animal"}')),
        NAME, VERSION, None, {"0": Category.ANIMAL}, yolox.SIZE, DetectorOutput.YOLOV5,
        BoxOrder.XYXY, threshold=THRESHOLD, nms_iou=yolox.NMS_IOU, description=DESCRIPTION,
        input_source=DetectorInput.ORIGINAL, placement=Placement.TOP_LEFT, fill=Fill.BLACK)
    try:
        return do_register_detector(checked)
    except ClassifierError:
        found = registered_default()  # another process registered it meanwhile
        if found is None:
            raise
        return found
