"""Weight-free detectors.

Both work on the 800 px web copies of one cluster's images at a time:

* ``whole``  - one animal box covering each image (for trials and for surveys
  that need only a per-image classifier);
* ``motion`` - a box around what differs from the cluster's median
  background. A cluster of fewer than three images has no background to
  compare with: its images get a whole-image box with a low score.

Real detectors (MegaDetector JSON, SavedModels) plug in beside these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from PIL import ImageFilter

from ..taxonomy import Category

WORK_WIDTH = 200
MIN_MASK_FRACTION = 0.0008
FALLBACK_SCORE = 0.1


@dataclass
class Box:
    left: float
    top: float
    right: float
    bottom: float
    score: float
    category: int = Category.ANIMAL


def _grey(img: PILImage.Image) -> np.ndarray:
    w, h = img.size
    small = img.convert("L").resize((WORK_WIDTH, max(1, round(h * WORK_WIDTH / w))))
    return np.asarray(small, dtype=np.float32)


def detect_whole(images: list[PILImage.Image]) -> list[list[Box]]:
    return [[Box(0.0, 0.0, 1.0, 1.0, 1.0)] for _ in images]


def _box_from_difference(diff: np.ndarray) -> Box | None:
    threshold = max(30.0, float(diff.mean() + 3 * diff.std()))
    mask = PILImage.fromarray(((diff > threshold) * 255).astype(np.uint8))
    # Opening: drop speckle noise, keep the animal's blob.
    mask = mask.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(5))
    arr = np.asarray(mask) > 0
    if arr.mean() < MIN_MASK_FRACTION:
        return None
    bbox = mask.getbbox()
    if bbox is None:
        return None
    h, w = arr.shape
    x0, y0, x1, y1 = bbox
    region = diff[y0:y1, x0:x1]
    score = float(min(1.0, region[arr[y0:y1, x0:x1]].mean() / 100.0))
    return Box(x0 / w, y0 / h, x1 / w, y1 / h, round(score, 4))


def detect_motion(images: list[PILImage.Image]) -> list[list[Box]]:
    if len(images) < 3:
        return [[Box(0.0, 0.0, 1.0, 1.0, FALLBACK_SCORE)] for _ in images]
    greys = [_grey(img) for img in images]
    shape = greys[0].shape
    if any(g.shape != shape for g in greys):
        return [[Box(0.0, 0.0, 1.0, 1.0, FALLBACK_SCORE)] for _ in images]
    background = np.median(np.stack(greys), axis=0)
    results = []
    for grey in greys:
        box = _box_from_difference(np.abs(grey - background))
        results.append([box] if box else [])
    return results


DETECTORS = {"whole": detect_whole, "motion": detect_motion}
