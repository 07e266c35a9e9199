"""Static detections (``--static-detections`` boxes, 50,000 by default, at one camera of one
survey: three recurring "rocks" with jittered edges among random boxes, two boxes an image):
* ``all pairs``: the same grouping with every box compared with every group leader
  (classifiers.services.grouping.AllLeaders) on the first 3,000 boxes only, and that time
  extrapolated to all of them by the square of the ratio (it grows with boxes x leaders, and
  random boxes each lead a group): an estimate, printed as such.
* ``our search``: group_boxes with the grid index on all boxes (no database), then
  do_find_static_detections end to end (read the boxes, group, write the groups). Target
  <= 30 s.
"""

from __future__ import annotations

import random
import time


def make_static_survey(count: int):
    """One camera with ``count`` boxes, two an image: three jittered rocks (10% each), the
    rest random."""
    from accounts.models import Organisation
    from classifiers.models import Detection
    from surveys.models import Camera, Image, Site, Survey

    org = Organisation.objects.create(name=f"Static {time.time()}")
    survey = Survey.objects.create(organisation=org, name="Static bench")
    camera = Camera.objects.create(site=Site.objects.create(survey=survey, name="S1"),
                                   path="S1/CAM1")
    images = Image.objects.bulk_create(
        (Image(camera=camera, filename=f"IMG_{n:06}.JPG", key=f"k{n}", content_hash=f"h{n}")
         for n in range(count // 2)), batch_size=5000)
    rng = random.Random(5)
    rocks = [(0.30, 0.40, 0.40, 0.52), (0.70, 0.10, 0.78, 0.20), (0.05, 0.80, 0.20, 0.95)]
    rows = []
    for n in range(count):
        image = images[n // 2]
        if n % 10 < 3:
            left, top, right, bottom = (v + rng.uniform(-0.002, 0.002) for v in rocks[n % 10])
        else:
            w, h = rng.uniform(0.01, 0.4), rng.uniform(0.01, 0.4)
            left, top = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            right, bottom = left + w, top + h
        rows.append(Detection(image=image, left=left, top=top, right=right, bottom=bottom,
                              score=0.5, source="md_v5a"))
    Detection.objects.bulk_create(rows, batch_size=5000)
    return survey, [(d.left, d.top, d.right, d.bottom) for d in rows]


def bench_static(count: int) -> None:
    from classifiers.models import StaticGroup
    from classifiers.services.grouping import AllLeaders, group_boxes
    from classifiers.services.static import do_find_static_detections

    start = time.perf_counter()
    survey, boxes = make_static_survey(count)
    print(f"\nstatic detections: {count} boxes at one camera "
          f"(made in {time.perf_counter() - start:.1f} s)")
    subset = min(3000, count)
    start = time.perf_counter()
    naive = group_boxes(boxes[:subset], iou_min=0.9, max_area=0.2, index=AllLeaders)
    naive_time = time.perf_counter() - start
    estimate = naive_time * (count / subset) ** 2
    indexed_subset = group_boxes(boxes[:subset], iou_min=0.9, max_area=0.2)
    assert sorted(m for _, m in naive) == sorted(m for _, m in indexed_subset)
    print(f"all pairs    {naive_time:7.2f} s on the first {subset} boxes; estimated "
          f"{estimate:7.0f} s for {count} (x{(count / subset) ** 2:.0f}, not measured)")
    start = time.perf_counter()
    found = group_boxes(boxes, iou_min=0.9, max_area=0.2)
    ours = time.perf_counter() - start
    big = sorted((len(m) for _, m in found), reverse=True)[:3]
    print(f"our search   {ours:7.2f} s   {len(found)} groups, largest {big}")
    start = time.perf_counter()
    counts = do_find_static_detections(survey)
    whole = time.perf_counter() - start
    groups = list(StaticGroup.objects.filter(camera__site__survey=survey).values_list(
        "image_count", flat=True))
    print(f"our stage    {whole:7.2f} s   (read, group, write) {counts['pending_groups']} "
          f"groups of {groups} images; target <= 30 s")
    print(f"our search vs all pairs (estimated): {estimate / ours:7.0f}x faster")
