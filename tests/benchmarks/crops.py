"""Training-data crops (``--crop-detections`` boxes, 10,000 by default, eight per image on
4000x3000 JPEGs of generated scenes, boxes 8-35% of the width: every image holds at least
one box small enough that it is decoded at full size or half size). To keep disk and
set-up time small, ``--crop-files`` distinct files (40) are stored once and hard-linked
under every image's key: each image is still read and decoded on its own.
* ``naive loop``: per box, read the file, decode the full image, crop, resize, save (on
  the first ``--naive-crops`` boxes, 300, so that it ends; crops/s is comparable).
* ``our export``: training.services.training_data.export_training_data end to end (one
  decode per image at the scale its boxes need, CSV and label files, crops kept in
  storage); then ``reuse``: the same export again, every crop already made.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path


def make_crop_survey(detections: int, files: int, per_image: int = 8):
    """A labelled survey of 4000x3000 JPEGs with ``per_image`` boxes each, made in bulk."""
    from datetime import UTC

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from accounts.models import Organisation
    from annotation.models import ClusterAnnotation, Label, Task
    from classifiers.models import Detection
    from core import storage
    from surveys.models import Camera, Cluster, Image, Site, Survey
    from training.synthetic import SPECIES, background, draw_animal, jpeg_bytes

    rng = random.Random(5)
    org = Organisation.objects.create(name=f"Crops {time.time()}")
    survey = Survey.objects.create(organisation=org, name="Crops bench", status="ready")
    originals = []
    for n in range(files):
        img = background(rng, 4000, 3000)
        for k in range(3):
            draw_animal(img, SPECIES[(n + k) % 3], 800 + 1200 * k, 2000, 500, rng)
        originals.append(default_storage.save(f"bench/{n}.jpg", ContentFile(
            jpeg_bytes(img, datetime(2024, 1, 1), quality=85))))
    sites = Site.objects.bulk_create(Site(survey=survey, name=f"S{n}") for n in range(10))
    cameras = Camera.objects.bulk_create(Camera(site=s, path=f"{s.name}/CAM1") for s in sites)
    task = Task.objects.create(survey=survey, name="Species", status="finished")
    labels = Label.objects.bulk_create(Label(task=task, name=n) for n in SPECIES)
    count, t0 = detections // per_image, datetime(2024, 1, 1, tzinfo=UTC)
    keys = []
    for n in range(count):
        key = f"surveys/{survey.pk}/originals/S{n % 10}/IMG_{n:05}.JPG"
        target = Path(storage.local_path(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(storage.local_path(originals[n % files]), target)
        keys.append(key)
    clusters = Cluster.objects.bulk_create(
        Cluster(survey=survey, site=sites[n % 10], start=t0 + timedelta(minutes=n),
                image_count=1) for n in range(count))
    images = Image.objects.bulk_create(
        Image(camera=cameras[n % 10], cluster=c, filename=f"IMG_{n:05}.JPG", key=keys[n],
              content_hash=f"h{n}", corrected_timestamp=c.start, width=4000, height=3000)
        for n, c in enumerate(clusters))
    boxes = []
    for image in images:
        for _k in range(per_image):
            side = rng.uniform(0.08, 0.35)
            left, top = rng.uniform(0, 1 - side), rng.uniform(0, 1 - side * 4 / 3)
            boxes.append(Detection(image=image, left=left, top=top, right=left + side,
                                   bottom=top + side * 4 / 3 * rng.uniform(0.5, 1),
                                   score=0.9, source="mdv5a"))
    Detection.objects.bulk_create(boxes, batch_size=5000)
    annotations = ClusterAnnotation.objects.bulk_create(
        ClusterAnnotation(task=task, cluster=c, labelled_at=c.start) for c in clusters)
    through = ClusterAnnotation.labels.through
    through.objects.bulk_create(through(clusterannotation_id=a.pk, label_id=labels[n % 3].pk)
                                for n, a in enumerate(annotations))
    return task


def naive_crops(task, out: Path, limit: int) -> int:
    """Per box: read the file, decode it whole, crop, save: the baseline."""
    from django.core.files.storage import default_storage

    from classifiers.models import Detection
    from training.services.crops import naive_crop

    out.mkdir(parents=True)
    rows = (Detection.objects.filter(image__cluster__survey=task.survey).order_by("pk")
            .values_list("pk", "left", "top", "right", "bottom", "image__key")[:limit])
    for pk, left, top, right, bottom, key in rows:
        with default_storage.open(key, "rb") as fh:
            (out / f"{pk}.jpg").write_bytes(naive_crop(fh.read(), (left, top, right, bottom)))
    return len(rows)


def bench_crops(detections: int, files: int, naive_limit: int) -> None:
    import shutil

    from training.services.training_data import export_training_data

    start = time.perf_counter()
    task = make_crop_survey(detections, files)
    print(f"\nTraining-data crops of {detections} boxes on {detections // 8} 4000x3000 "
          f"JPEGs ({files} distinct files; made in {time.perf_counter() - start:.1f} s)")
    out = Path(tempfile.mkdtemp(prefix="tt-bench-crops-"))
    start = time.perf_counter()
    done = naive_crops(task, out / "naive", naive_limit)
    naive = done / (time.perf_counter() - start)
    print(f"{'naive loop':<12} {naive:8.1f} crops/s   ({done} crops)")
    start = time.perf_counter()
    result = export_training_data([task], out / "ours")
    seconds = time.perf_counter() - start
    ours = result["crops"] / seconds
    print(f"{'our export':<12} {ours:8.1f} crops/s   ({result['crops']} crops, "
          f"{result['made']} made, {seconds:.1f} s)")
    start = time.perf_counter()
    again = export_training_data([task], out / "again")
    seconds = time.perf_counter() - start
    print(f"{'reuse':<12} {again['crops'] / seconds:8.1f} crops/s   ({again['reused']} "
          f"reused from storage, {seconds:.1f} s)")
    print(f"our export / naive loop: {ours / naive:5.2f}x")
    shutil.rmtree(out)
