"""Benchmarks: figures and ratios against baselines measured in the same run.

    make bench            (or: .venv/bin/python -m tests.benchmarks.run [--images N]
                               [--clusters N] [--md-images N]
                               [--only import|results|megadetector])

Import baselines:
Baselines:
* ``naive read``: what a straightforward importer does per file: read the bytes, hash the
  whole file, decode the full-size JPEG and resize it to 800 px.
* ``our read``: surveys.services.images.read_image (EXIF-free hash, reduced-size decode).
* ``full import``: run_import end to end (storage writes, bulk inserts, progress events),
  into a throw-away SQLite database.

Results CSV (a labelled task of ``--clusters`` clusters, one image and box each):
* ``naive ORM``: model instances with select_related/prefetch_related, written row by row
  (what the export did before it streamed).
* ``values_list``: one plain ``values_list().iterator()`` over the annotations, to CSV: the
  floor for any export that writes every row.
* ``our export``: training.services.results.write_results_csv (pages by key).
Time is of an untraced pass; peak memory is what tracemalloc saw allocated by Python
during a second pass.

MegaDetector batch output (``--md-images`` images in nested folders, two boxes each and one
under 0.05):
* ``naive import``: per record, look the image up by camera path and file name, then
  ``Detection.objects.create`` per box (on the first 2,000 records, so it ends).
* ``our import``: classifiers.services.megadetector read + do_import_detections (one query
  maps every path, bulk inserts a page at a time); then the same file again (replaces).
* ``our export``: write_batch_output of the same survey.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path


def make_source(folder: Path, count: int, width: int, height: int) -> None:
    from training.synthetic import SPECIES, background, draw_animal, jpeg_bytes

    rng = random.Random(1)
    base = background(rng, width, height)
    when = datetime(2024, 1, 1, 6, 0, 0)
    for i in range(count):
        site = folder / f"Site{i % 4}" / "CAM1"
        site.mkdir(parents=True, exist_ok=True)
        img = base.copy()
        draw_animal(img, SPECIES[i % 3], width * 0.5, height * 0.7, width * 0.2, rng)
        (site / f"IMG_{i:05d}.JPG").write_bytes(jpeg_bytes(img, when + timedelta(seconds=5 * i)))


def naive_read(data: bytes) -> None:
    from PIL import Image

    hashlib.sha256(data).hexdigest()
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    img = img.resize((800, round(h * 800 / w)))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)


def timed(label, fn, files):
    start = time.perf_counter()
    fn(files)
    seconds = time.perf_counter() - start
    rate = len(files) / seconds
    print(f"{label:<14} {rate:8.1f} images/s   {seconds:6.2f} s")
    return rate


def make_task(clusters: int):
    """A labelled task of ``clusters`` one-image clusters over 20 sites, made in bulk."""
    from datetime import UTC

    from accounts.models import Organisation
    from annotation.models import ClusterAnnotation, Label, Task
    from classifiers.models import Detection
    from surveys.models import Camera, Cluster, Image, Site, Survey

    org = Organisation.objects.create(name=f"Results {time.time()}")
    survey = Survey.objects.create(organisation=org, name="Results bench")
    sites = Site.objects.bulk_create(Site(survey=survey, name=f"S{n:02}") for n in range(20))
    cameras = Camera.objects.bulk_create(Camera(site=s, path=f"{s.name}/CAM1") for s in sites)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    made = Cluster.objects.bulk_create(
        (Cluster(survey=survey, site=sites[n % 20], start=t0 + timedelta(minutes=n),
                 image_count=1) for n in range(clusters)), batch_size=5000)
    images = Image.objects.bulk_create(
        (Image(camera=cameras[n % 20], cluster=c, filename=f"IMG_{n:07}.JPG", key=f"k{n}",
               content_hash=f"h{n}", corrected_timestamp=c.start)
         for n, c in enumerate(made)), batch_size=5000)
    Detection.objects.bulk_create(
        (Detection(image=i, left=0.1, top=0.1, right=0.5, bottom=0.5, score=0.9,
                   source="bench") for i in images), batch_size=5000)
    task = Task.objects.create(survey=survey, name="Species", status="launched")
    labels = Label.objects.bulk_create(Label(task=task, name=n, hotkey=n[0].lower())
                                       for n in ("Zebra", "Elephant", "Lion"))
    annotations = ClusterAnnotation.objects.bulk_create(
        (ClusterAnnotation(task=task, cluster=c, labelled_at=c.start) for c in made),
        batch_size=5000)
    through = ClusterAnnotation.labels.through
    through.objects.bulk_create(
        (through(clusterannotation_id=a.pk, label_id=labels[n % 3].pk)
         for n, a in enumerate(annotations)), batch_size=5000)
    return task


def naive_results(task, out) -> None:
    import csv

    from annotation.models import ClusterAnnotation

    writer = csv.writer(out)
    for a in (ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
              .select_related("cluster__site", "annotator").prefetch_related(
                  "labels", "cluster__images__camera", "cluster__images__detections")
              .order_by("cluster__site__name", "cluster__start", "cluster_id")):
        images = list(a.cluster.images.all())
        for label in a.labels.all():
            writer.writerow([a.cluster_id, a.cluster.site.name,
                             images[0].camera.path if images else "",
                             images[0].corrected_timestamp if images else "", label.name,
                             max((len(i.detections.all()) for i in images), default=0),
                             a.annotator.username if a.annotator else ""])


def plain_values(task, out) -> None:
    import csv

    from annotation.models import ClusterAnnotation

    writer = csv.writer(out)
    rows = (ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
            .values_list("cluster_id", "cluster__site__name", "labels__name",
                         "annotator__username"))
    for row in rows.iterator(chunk_size=5000):
        writer.writerow(row)


def measured(label, fn, task, baseline=None):
    import tracemalloc

    class Sink:
        size = 0

        def write(self, text):
            Sink.size += len(text)

    start = time.perf_counter()
    fn(task, Sink())
    seconds = time.perf_counter() - start
    tracemalloc.start()  # a second pass for memory: tracing slows Python code down
    fn(task, Sink())
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    ratio = f"   {seconds / baseline:5.2f}x the time of values_list" if baseline else ""
    print(f"{label:<12} {seconds:7.2f} s   peak {peak:7.1f} MiB{ratio}")
    return seconds, peak


def bench_results(clusters: int) -> None:
    from training.services.results import write_results_csv

    start = time.perf_counter()
    task = make_task(clusters)
    print(f"\nresults CSV of {clusters} labelled clusters "
          f"(made in {time.perf_counter() - start:.1f} s)")
    floor, _ = measured("values_list", plain_values, task)
    naive, naive_peak = measured("naive ORM", naive_results, task, floor)
    ours, ours_peak = measured("our export", write_results_csv, task, floor)
    print(f"our export vs naive ORM: {naive / ours:5.2f}x faster, "
          f"{naive_peak / max(ours_peak, 0.01):5.1f}x less peak memory")


def make_md_survey(count: int):
    """A survey of ``count`` images in 50 camera folders, and MegaDetector output for it."""
    import json

    from accounts.models import Organisation
    from surveys.models import Camera, Image, ImportRun, Site, Survey

    org = Organisation.objects.create(name=f"MD {time.time()}")
    survey = Survey.objects.create(organisation=org, name="MD bench")
    ImportRun.objects.create(survey=survey, source="/data/Season1", status="done")
    sites = Site.objects.bulk_create(Site(survey=survey, name=f"S{n:02}") for n in range(10))
    cameras = Camera.objects.bulk_create(Camera(site=sites[n % 10], path=f"S{n % 10:02}/C{n}")
                                         for n in range(50))
    Image.objects.bulk_create(
        (Image(camera=cameras[n % 50], filename=f"IMG_{n:07}.JPG", key=f"k{n}",
               content_hash=f"h{n}") for n in range(count)), batch_size=5000)
    rng = random.Random(2)
    records = []
    for n in range(count):
        x, y = round(rng.random() * 0.6, 4), round(rng.random() * 0.6, 4)
        records.append({"file": f"Season1/S{n % 50 % 10:02}/C{n % 50}/IMG_{n:07}.JPG",
                        "detections": [
                            {"category": "1", "conf": 0.912, "bbox": [x, y, 0.2, 0.3]},
                            {"category": "2", "conf": 0.3, "bbox": [y, x, 0.1, 0.1]},
                            {"category": "1", "conf": 0.01, "bbox": [0.1, 0.1, 0.1, 0.1]}]})
    doc = {"info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt"},
           "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
           "images": records}
    return survey, json.dumps(doc, indent=1).encode()


def naive_md_import(survey, doc: dict, limit: int) -> None:
    from classifiers.models import Detection
    from surveys.models import Image

    for record in doc["images"][:limit]:
        parts = record["file"].split("/")[1:]
        image = Image.objects.filter(camera__site__survey=survey, camera__path="/".join(
            parts[:-1]), filename=parts[-1]).first()
        for det in record["detections"]:
            if det["conf"] >= 0.05:
                x, y, w, h = det["bbox"]
                Detection.objects.create(image=image, left=x, top=y, right=x + w,
                                         bottom=y + h, score=det["conf"], source="naive",
                                         category=int(det["category"]))


def bench_megadetector(count: int, tmp: Path) -> None:
    import json
    import tracemalloc

    from classifiers.models import Detection
    from classifiers.services.megadetector import (
        do_import_detections,
        read_batch_output,
        write_batch_output,
    )

    survey, data = make_md_survey(count)
    path = tmp / "md.json"
    path.write_bytes(data)
    print(f"\nMegaDetector output for {count} images ({len(data) / 2**20:.1f} MiB)")
    limit = min(2000, count)
    start = time.perf_counter()
    naive_md_import(survey, json.loads(data), limit)
    naive = limit / (time.perf_counter() - start)
    print(f"naive import   {naive:9.0f} images/s (first {limit} records)")
    Detection.objects.filter(source="naive").delete()
    rates = []
    # The second pass replaces every box; the third, traced, for memory.
    for label in ("our import", "again", "traced"):
        traced = label == "traced"
        if traced:
            tracemalloc.start()
        start = time.perf_counter()
        parsed = read_batch_output(path)
        read = time.perf_counter() - start
        result = do_import_detections(survey, parsed)
        seconds = time.perf_counter() - start
        del parsed
        rates.append(count / seconds)
        memory = ""
        if traced:
            memory = f"   peak {tracemalloc.get_traced_memory()[1] / 2**20:6.1f} MiB"
            tracemalloc.stop()
        print(f"{label:<14} {count / seconds:9.0f} images/s   {seconds:6.2f} s (read and "
              f"check {read:5.2f} s)   {result.detections_stored} stored, "
              f"{result.detections_replaced} replaced{memory}")
    start = time.perf_counter()
    with open(tmp / "export.json", "w") as fh:
        counts = write_batch_output(survey, fh)
    seconds = time.perf_counter() - start
    print(f"our export     {count / seconds:9.0f} images/s   {seconds:6.2f} s   "
          f"{counts['detections']} boxes")
    print(f"our import / naive import: {rates[0] / naive:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1536)
    parser.add_argument("--clusters", type=int, default=50_000)
    parser.add_argument("--md-images", type=int, default=100_000)
    parser.add_argument("--only", choices=["import", "results", "megadetector"])
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-"))
    os.environ["TRAPTAGGER_VAR_DIR"] = str(tmp / "var")
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "traptagger.settings")
    import django

    django.setup()
    from zoneinfo import ZoneInfo

    from django.core.management import call_command

    from accounts.models import Organisation
    from surveys.models import Survey
    from surveys.services.images import read_image
    from surveys.services.importing import do_run_import, do_start_import
    from traptagger.celery import app

    app.conf.broker_url = "memory://"
    call_command("migrate", verbosity=0)
    if args.only in (None, "results"):
        bench_results(args.clusters)
    if args.only in (None, "megadetector"):
        bench_megadetector(args.md_images, tmp)
    if args.only not in (None, "import"):
        return
    source = tmp / "source"
    make_source(source, args.images, args.width, args.height)
    files = sorted(source.rglob("*.JPG"))
    print(f"{len(files)} JPEGs of {args.width}x{args.height} "
          f"({sum(f.stat().st_size for f in files) / 2**20:.1f} MiB)")
    tz = ZoneInfo("UTC")
    base = timed("naive read", lambda fs: [naive_read(f.read_bytes()) for f in fs], files)
    ours = timed("our read", lambda fs: [read_image(f.read_bytes(), tz) for f in fs], files)
    org = Organisation.objects.create(name="Bench")

    def full(fs):
        survey = Survey.objects.create(organisation=org, name=f"Bench {time.time()}")
        do_run_import(do_start_import(survey, str(source)))

    whole = timed("full import", full, files)
    print(f"our read / naive read:    {ours / base:5.2f}x")
    print(f"full import / naive read: {whole / base:5.2f}x")


if __name__ == "__main__":
    main()
