"""Masks: polygons per camera; boxes wholly inside are masked, and un-masked when it goes."""

import numpy as np
import pytest

from classifiers.exceptions import MaskError
from classifiers.geometry import boxes_inside_polygon
from classifiers.models import Detection, Mask
from classifiers.selectors import relevant_detections
from classifiers.services.masks import do_delete_mask, do_save_mask
from classifiers.taxonomy import DetectionStatus
from core.exceptions import AccessDenied
from tests.factories import CameraFactory, member

from .static_helpers import box, images_at

pytestmark = pytest.mark.django_db

SQUARE = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
# A "U": the square with a notch cut down from the top middle.
NOTCHED = [[0.0, 0.0], [0.2, 0.0], [0.2, 0.3], [0.3, 0.3], [0.3, 0.0], [0.5, 0.0],
           [0.5, 0.5], [0.0, 0.5]]


@pytest.mark.parametrize("polygon, left, top, right, bottom, expected", [
    (SQUARE, 0.1, 0.1, 0.2, 0.2, True),       # wholly inside
    (SQUARE, 0.4, 0.4, 0.6, 0.6, False),      # partly inside
    (SQUARE, 0.6, 0.6, 0.7, 0.7, False),      # outside
    (SQUARE, 0.0, 0.0, 0.5, 0.5, True),       # on the edges counts as inside
    (NOTCHED, 0.05, 0.05, 0.15, 0.4, True),   # in one arm of the U
    (NOTCHED, 0.1, 0.1, 0.4, 0.2, False),     # corners inside, but spans the notch
    (NOTCHED, 0.22, 0.05, 0.28, 0.2, False),  # inside the notch
])
def test_a_box_is_masked_only_when_wholly_inside(polygon, left, top, right, bottom, expected):
    result = boxes_inside_polygon(np.array([[left, top, right, bottom]]), polygon)
    assert bool(result[0]) is expected


@pytest.fixture
def camera_boxes():
    camera = CameraFactory()
    image = images_at(camera, 1)[0]
    made = Detection.objects.bulk_create([
        box(image, 0.1, 0.1, 0.2, 0.2, classification="inside"),
        box(image, 0.4, 0.4, 0.6, 0.6, classification="partly"),
        box(image, 0.1, 0.1, 0.2, 0.2, classification="drawn", status=DetectionStatus.ADDED),
    ])
    return camera, {d.classification: d for d in made}


def statuses(boxes) -> dict:
    return {name: Detection.objects.get(pk=d.pk).status for name, d in boxes.items()}


def test_saving_a_mask_masks_the_boxes_inside_and_removing_it_brings_them_back(camera_boxes):
    camera, boxes = camera_boxes
    survey = camera.site.survey
    mask = Mask(camera=camera, polygon=SQUARE)
    counts = do_save_mask(mask)
    assert counts["masked"] == 1
    assert statuses(boxes) == {"inside": "masked", "partly": "active", "drawn": "added"}
    assert set(relevant_detections(survey).values_list("classification", flat=True)) == {
        "partly", "drawn"}

    mask.polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0]]  # moved away
    assert do_save_mask(mask)["unmasked"] == 1
    assert statuses(boxes)["inside"] == "active"

    mask.polygon = SQUARE
    do_save_mask(mask)
    do_delete_mask(mask)
    assert statuses(boxes) == {"inside": "active", "partly": "active", "drawn": "added"}


@pytest.mark.parametrize("polygon, message", [
    ([[0.1, 0.1], [0.2, 0.2]], "at least 3 points; it has 2"),
    ([[0.1, 0.1], [1.2, 0.2], [0.3, 0.4]], "Point 2 of the polygon, [1.2, 0.2], lies outside"),
    ([[0.1, 0.1], [-0.1, 0.2], [0.3, 0.4]], "lies outside the image"),
    ([[0.1, 0.1], ["a", 0.2], [0.3, 0.4]], "Point 2 of the polygon is not a pair of numbers"),
    ({"x": 1}, "must be a list of [x, y] points"),
])
def test_a_bad_polygon_is_refused_naming_the_field(camera_boxes, polygon, message):
    camera, boxes = camera_boxes
    with pytest.raises(MaskError) as caught:
        do_save_mask(Mask(camera=camera, polygon=polygon))
    assert str(caught.value).startswith("Mask polygon:") and message in str(caught.value)
    assert not Mask.objects.exists()
    assert statuses(boxes)["inside"] == "active"


def test_saving_a_mask_needs_change_on_the_camera(camera_boxes):
    camera, boxes = camera_boxes
    reader = member(camera.site.survey.organisation, "read")
    with pytest.raises(AccessDenied):
        do_save_mask(Mask(camera=camera, polygon=SQUARE), acting_user=reader)
    assert not Mask.objects.exists()
