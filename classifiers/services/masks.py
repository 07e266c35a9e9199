"""Masks: polygons over a camera's frame; the camera's boxes wholly inside are masked.

Masked boxes do not count (classifiers.selectors.relevance). Saving or deleting
a mask masks and un-masks the camera's machine boxes at once; the
static-detection stage applies the masks again to boxes detected since.
People's boxes (added or edited) are never masked.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from django.db import transaction

from accounts.access import check_capability
from accounts.taxonomy import Capability
from surveys.models import Camera

from ..exceptions import MaskError
from ..geometry import boxes_inside_polygon, polygon_problem
from ..models import Detection, Mask
from ..taxonomy import DetectionStatus

CHUNK = 2000


def check_polygon(polygon) -> list[list[float]]:
    """The polygon as a list of [x, y] floats; MaskError naming the problem otherwise."""
    problem = polygon_problem(polygon)
    if problem:
        raise MaskError(f"Mask polygon: {problem}")
    return [[float(x), float(y)] for x, y in polygon]


def apply_masks(camera: Camera) -> Counter:
    """Mask the camera's active boxes wholly inside a mask; un-mask the rest; return counts.

    Only machine boxes change (active ↔ masked), superseded ones too (so that they are
    right when restored). Call inside a transaction.
    """
    polygons = list(Mask.objects.filter(camera=camera).values_list("polygon", flat=True))
    rows = list(Detection.all_boxes.filter(
        image__camera=camera,
        status__in=[DetectionStatus.ACTIVE, DetectionStatus.MASKED],
    ).values_list("id", "status", "left", "top", "right", "bottom"))
    if not rows:
        return Counter()
    boxes = np.array([row[2:] for row in rows], dtype=float)
    inside = np.zeros(len(rows), dtype=bool)
    for polygon in polygons:
        inside |= boxes_inside_polygon(boxes, polygon)
    masked = [row[0] for row, hit in zip(rows, inside, strict=True)
              if hit and row[1] == DetectionStatus.ACTIVE]
    unmasked = [row[0] for row, hit in zip(rows, inside, strict=True)
                if not hit and row[1] == DetectionStatus.MASKED]
    for ids, status in ((masked, DetectionStatus.MASKED), (unmasked, DetectionStatus.ACTIVE)):
        for start in range(0, len(ids), CHUNK):
            Detection.all_boxes.filter(id__in=ids[start:start + CHUNK]).update(status=status)
    return Counter(masked=len(masked), unmasked=len(unmasked))


def do_save_mask(mask: Mask, *, acting_user=None) -> Counter:
    """Check and save ``mask``, then mask and un-mask the boxes of its camera(s).

    ``acting_user`` needs CHANGE on the camera (None: an operator). A bad
    polygon raises MaskError and nothing is saved. When the mask moved to
    another camera, the old camera's boxes are un-masked as needed too.
    """
    if acting_user is not None:
        check_capability(acting_user, mask.camera, Capability.CHANGE)
    mask.polygon = check_polygon(mask.polygon)
    with transaction.atomic():
        before = (Mask.objects.filter(pk=mask.pk).values_list("camera_id", flat=True).first()
                  if mask.pk else None)
        mask.save()
        counts = apply_masks(mask.camera)
        if before is not None and before != mask.camera_id:
            counts.update(apply_masks(Camera.objects.get(pk=before)))
    return counts


def do_delete_mask(mask: Mask, *, acting_user=None) -> Counter:
    """Delete ``mask`` and un-mask the boxes it alone covered (CHANGE on the camera)."""
    if acting_user is not None:
        check_capability(acting_user, mask.camera, Capability.CHANGE)
    camera = mask.camera
    with transaction.atomic():
        mask.delete()
        return apply_masks(camera)
