"""Plane geometry of boxes and mask polygons, in normalised 0..1 image coordinates.

Pure functions (no database): what the static-detection search and masks share.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

# Points this close to a polygon's edge count as on it (inside).
EDGE_TOLERANCE = 1e-9


def iou(a, b) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def polygon_problem(value) -> str | None:
    """What is wrong with a mask polygon (a list of [x, y] in 0..1, ≥ 3 points); None if fine.

    The message names the field (“polygon”) and the point, for the admin and services.
    """
    if not isinstance(value, list):
        return "The polygon must be a list of [x, y] points."
    if len(value) < 3:
        return (f"The polygon needs at least 3 points; it has {len(value)}. Click on the "
                "image to add corners.")
    for n, point in enumerate(value, start=1):
        if (not isinstance(point, list | tuple) or len(point) != 2
                or not all(isinstance(c, Real) and not isinstance(c, bool) for c in point)):
            return f"Point {n} of the polygon is not a pair of numbers [x, y]: {point!r}."
        if not all(math.isfinite(c) and 0.0 <= c <= 1.0 for c in point):
            return (f"Point {n} of the polygon, {list(point)!r}, lies outside the image: "
                    "x and y must be between 0 and 1.")
    return None


def _on_segment(px, py, x1, y1, x2, y2) -> np.ndarray:
    dx, dy = x2 - x1, y2 - y1
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return np.hypot(px - x1, py - y1) <= EDGE_TOLERANCE
    t = np.clip(((px - x1) * dx + (py - y1) * dy) / length2, 0.0, 1.0)
    return np.hypot(px - (x1 + t * dx), py - (y1 + t * dy)) <= EDGE_TOLERANCE


def points_in_polygon(px: np.ndarray, py: np.ndarray, polygon) -> np.ndarray:
    """Which points lie inside ``polygon`` or on its edge (even-odd rule)."""
    inside = np.zeros(px.shape, dtype=bool)
    edge = np.zeros(px.shape, dtype=bool)
    count = len(polygon)
    for i in range(count):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % count]
        crosses = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            at_x = (x2 - x1) * (py - y1) / (y2 - y1) + x1
        inside ^= crosses & (px < at_x)
        edge |= _on_segment(px, py, x1, y1, x2, y2)
    return inside | edge


def _segment_enters_boxes(x1, y1, x2, y2, boxes: np.ndarray) -> np.ndarray:
    """Which boxes' open interiors the segment passes through (Liang–Barsky clipping)."""
    left, top, right, bottom = boxes.T
    dx, dy = x2 - x1, y2 - y1
    t0 = np.zeros(len(boxes))
    t1 = np.ones(len(boxes))
    outside = np.zeros(len(boxes), dtype=bool)
    for p, q in ((-dx, x1 - left), (dx, right - x1), (-dy, y1 - top), (dy, bottom - y1)):
        if p == 0:
            outside |= q <= 0
            continue
        ratio = q / p
        if p < 0:
            t0 = np.maximum(t0, ratio)
        else:
            t1 = np.minimum(t1, ratio)
    return ~outside & (t0 < t1)


def boxes_inside_polygon(boxes: np.ndarray, polygon) -> np.ndarray:
    """Which (left, top, right, bottom) rows lie wholly inside ``polygon`` (edges included).

    Wholly inside: every corner inside or on the polygon and no polygon edge
    passing through the box's interior (so a concave notch is not missed).
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=bool)
    left, top, right, bottom = boxes.T
    inside = np.ones(len(boxes), dtype=bool)
    for px, py in ((left, top), (right, top), (right, bottom), (left, bottom)):
        inside &= points_in_polygon(px, py, polygon)
    count = len(polygon)
    for i in range(count):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % count]
        inside &= ~_segment_enters_boxes(x1, y1, x2, y2, boxes)
    return inside
