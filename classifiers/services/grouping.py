"""Grouping boxes that recur at one camera: the search behind static detections.

Pure functions (no database), so that the benchmark times the search alone.

Leader clustering over a spatial index: each box joins the best-overlapping
group leader (intersection over union at least ``iou_min``) or leads a new
group. A leader follows the mean of its group's boxes, and a second pass leads
each group by the first pass's median box, so a jittery group is not split
because its first box was an outlier. Leaders are indexed by a grid over
their top-left corner and by the logarithm of their width and height, so a box
is compared only with leaders that *could* overlap it that much, never with
every box:

* two boxes with IoU ≥ t have widths within a factor t of each other (and
  heights), so their log sizes differ by at most -log t: adjacent size bins;
* each edge of one lies within (1 - t) * max(w_a, w_b) ≤ (1 - t) / t * w_a of
  the other's (the intersection is at least t of each box), so the corner of a
  match lies within that window of the box's corner: a few grid cells.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median

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

    def _key(self, box: Box) -> tuple[int, int, int, int]:
        sw, sh = self._bins(box)
        return (math.floor(box[0] / GRID), math.floor(box[1] / GRID), sw, sh)

    def add(self, box: Box) -> int:
        """Make ``box`` a leader; return its number."""
        number = len(self.leaders)
        self.leaders.append(box)
        self.cells.setdefault(self._key(box), []).append(number)
        return number

    def move(self, number: int, box: Box) -> None:
        """Lead group ``number`` by ``box`` from now on."""
        old, new = self._key(self.leaders[number]), self._key(box)
        self.leaders[number] = box
        if old != new:
            self.cells[old].remove(number)
            self.cells.setdefault(new, []).append(number)

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


class AllLeaders:
    """The same interface as LeaderIndex, comparing a box with every leader.

    The benchmark's all-pairs baseline, and the tests' check on the index.
    """

    def __init__(self, iou_min: float):
        self.iou_min = iou_min
        self.leaders: list[Box] = []

    def add(self, box: Box) -> int:
        self.leaders.append(box)
        return len(self.leaders) - 1

    def move(self, number: int, box: Box) -> None:
        self.leaders[number] = box

    def best(self, box: Box) -> int | None:
        found, best_iou = None, self.iou_min
        for number, leader in enumerate(self.leaders):
            overlap = iou(box, leader)
            if overlap >= best_iou:
                found, best_iou = number, overlap
        return found


def _usable(box: Box, max_area: float) -> bool:
    width, height = box[2] - box[0], box[3] - box[1]
    return width > 0 and height > 0 and width * height <= max_area


def _leader_pass(boxes: Sequence[Box], usable: Sequence[int], index, *,
                 fixed: int) -> list[list[int]]:
    """Members of each leader: the index's leaders first, then boxes that led a new group.

    A group's leader follows the mean of its members (so that it drifts to the
    middle of a jittery group), except the first ``fixed`` leaders.
    """
    members: list[list[int]] = [[] for _ in index.leaders]
    sums: dict[int, list[float]] = {}
    for position in usable:
        box = boxes[position]
        leader = index.best(box)
        if leader is None:
            leader = index.add(tuple(box))
            members.append([])
        members[leader].append(position)
        if leader >= fixed:
            total = sums.setdefault(leader, [0.0, 0.0, 0.0, 0.0])
            for k in range(4):
                total[k] += box[k]
            count = len(members[leader])
            if count > 1:
                index.move(leader, tuple(v / count for v in total))
    return members


def _median_box(boxes: Sequence[Box], positions: list[int]) -> Box:
    return tuple(median(boxes[p][k] for p in positions) for k in range(4))


def group_boxes(boxes: Sequence[Box], *, iou_min: float, max_area: float,
                seeds: Sequence[Box] = (), index=LeaderIndex,
                ) -> list[tuple[int | None, list[int]]]:
    """Group recurring boxes: ``[(seed number or None, [box positions]), ...]``.

    ``seeds`` are boxes of groups already decided; they lead first, so a box
    matching one joins it. Boxes of no area or over ``max_area`` (a fraction
    of the image area, as MegaDetector's maxSuspiciousDetectionSize) are left
    out. Two passes: in the first a group's leader is the mean of its boxes so
    far; the second leads by the first pass's group medians (largest group
    first, duplicates dropped). Boxes are taken in the order given (callers sort by id, so runs
    repeat). Every group is returned, however small; the caller applies the
    minimum count. ``index`` is LeaderIndex, or AllLeaders to compare all pairs.
    """
    usable = [p for p, box in enumerate(boxes) if _usable(box, max_area)]

    def seeded():
        leaders = index(iou_min)
        for seed in seeds:
            leaders.add(tuple(seed))
        return leaders

    first = _leader_pass(boxes, usable, seeded(), fixed=len(seeds))
    medians = sorted(((len(m), _median_box(boxes, m)) for m in first[len(seeds):] if len(m) > 1),
                     key=lambda item: -item[0])
    leaders = seeded()
    for _, box in medians:
        if leaders.best(box) is None:
            leaders.add(box)
    second = _leader_pass(boxes, usable, leaders, fixed=len(leaders.leaders))
    return [(n if n < len(seeds) else None, found)
            for n, found in enumerate(second) if found]
