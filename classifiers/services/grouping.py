"""Grouping boxes that recur at one camera: the search behind static detections.

Pure functions (no database), so that the benchmark times the search alone.

Leader clustering over a spatial index: each box joins the best-overlapping
group leader (intersection over union at least ``iou_min``) or leads a new
group. Leaders are indexed by a grid over their top-left corner and by the
logarithm of their width and height, so a box is compared only with leaders
that *could* overlap it that much, never with every box:

* two boxes with IoU ≥ t have widths within a factor t of each other (and
  heights), so their log sizes differ by at most -log t: adjacent size bins;
* each edge of one lies within (1 - t) * max(w_a, w_b) ≤ (1 - t) / t * w_a of
  the other's (the intersection is at least t of each box), so the corner of a
  match lies within that window of the box's corner: a few grid cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..geometry import iou

GRID = 0.02  # cell side of the corner grid, in image fractions

Box = tuple[float, float, float, float]


class LeaderIndex:
    """Group leaders by corner cell and size bin; ``best`` finds a box's best match."""

    def __init__(self, iou_min: float):
        self.iou_min = iou_min
        self.reach = (1.0 - iou_min) / iou_min
        self.bin = -math.log(iou_min)
        self.leaders: list[Box] = []
        self.cells: dict[tuple[int, int, int, int], list[int]] = {}

    def _bins(self, box: Box) -> tuple[int, int]:
        return (math.floor(math.log(box[2] - box[0]) / self.bin),
                math.floor(math.log(box[3] - box[1]) / self.bin))

    def add(self, box: Box) -> int:
        """Make ``box`` a leader; return its number."""
        number = len(self.leaders)
        self.leaders.append(box)
        sw, sh = self._bins(box)
        key = (math.floor(box[0] / GRID), math.floor(box[1] / GRID), sw, sh)
        self.cells.setdefault(key, []).append(number)
        return number

    def best(self, box: Box) -> int | None:
        """The leader overlapping ``box`` most, at least ``iou_min``; None if none does."""
        left, top, right, bottom = box
        dx, dy = self.reach * (right - left), self.reach * (bottom - top)
        sw, sh = self._bins(box)
        xs = range(math.floor((left - dx) / GRID), math.floor((left + dx) / GRID) + 1)
        ys = range(math.floor((top - dy) / GRID), math.floor((top + dy) / GRID) + 1)
        cells, leaders = self.cells, self.leaders
        found, best_iou = None, self.iou_min
        for x in xs:
            for y in ys:
                for a in (sw - 1, sw, sw + 1):
                    for b in (sh - 1, sh, sh + 1):
                        for number in cells.get((x, y, a, b), ()):
                            overlap = iou(box, leaders[number])
                            if overlap >= best_iou:
                                found, best_iou = number, overlap
        return found


def group_boxes(boxes: Sequence[Box], *, iou_min: float, max_area: float,
                seeds: Sequence[Box] = ()) -> list[tuple[int | None, list[int]]]:
    """Group recurring boxes: ``[(seed number or None, [box positions]), ...]``.

    ``seeds`` are boxes of groups already decided; they lead first, so a box
    matching one joins it. Boxes of no area or over ``max_area`` (a fraction
    of the image area, as MegaDetector's maxSuspiciousDetectionSize) are left
    out. Boxes are taken in the order given (callers sort by id, so runs are
    repeatable). Every group is returned, however small; the caller applies
    the minimum count.
    """
    index = LeaderIndex(iou_min)
    members: list[list[int]] = []
    for seed in seeds:
        index.add(tuple(seed))
        members.append([])
    for position, box in enumerate(boxes):
        width, height = box[2] - box[0], box[3] - box[1]
        if width <= 0 or height <= 0 or width * height > max_area:
            continue
        leader = index.best(box)
        if leader is None:
            leader = index.add(tuple(box))
            members.append([])
        members[leader].append(position)
    return [(n if n < len(seeds) else None, found)
            for n, found in enumerate(members) if found]


def naive_group_boxes(boxes: Sequence[Box], *, iou_min: float,
                      max_area: float) -> list[list[int]]:
    """The same leader clustering, comparing each box with every leader (benchmark baseline)."""
    leaders: list[Box] = []
    members: list[list[int]] = []
    for position, box in enumerate(boxes):
        width, height = box[2] - box[0], box[3] - box[1]
        if width <= 0 or height <= 0 or width * height > max_area:
            continue
        found, best_iou = None, iou_min
        for number, leader in enumerate(leaders):
            overlap = iou(box, leader)
            if overlap >= best_iou:
                found, best_iou = number, overlap
        if found is None:
            leaders.append(tuple(box))
            members.append([])
            found = len(leaders) - 1
        members[found].append(position)
    return members
