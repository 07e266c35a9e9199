"""Benchmarks: figures and ratios against baselines measured in the same run.

    make bench            (or: .venv/bin/python -m tests.benchmarks.run [--images N]
                               [--clusters N] [--detections N]
                               [--survey-images N] [--page-rounds N] [--md-images N]
                               [--static-detections N] [--classify-crops N]
                               [--crop-detections N] [--crop-files N] [--naive-crops N]
                               [--only import|results|camtrapdp|insights|megadetector|
                                       static|classify|crops]
                               [--database-url URL])

The database is a throw-away SQLite file unless --database-url names another (for
MariaDB: create an empty database for it first; the benchmark adds rows it leaves).

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
* ``our export``: results.services.results.write_results_csv (pages by key).
Time is of an untraced pass; peak memory is what tracemalloc saw allocated by Python
during a second pass.

Camtrap DP (a survey of ``--detections`` boxes, four per image, in one-image clusters of
a labelled task), each export in a forked process so its peak RSS is its own:
* ``naive ORM``: Detection instances with select_related, iterated, a row each, plus
  the media rows from Image instances (what a first export would do).
* ``our export``: results.services.camtrapdp.export_camtrapdp (pages by key).

Insights page (a survey of ``--survey-images`` images, 100,000 by default: 20 sites of two
cameras over 90 days, 5 images a cluster, 70% of clusters labelled, every cluster with a
suggestion, 60% of images with a box):
* ``naive ORM``: the same numbers from a loop over Image instances (select_related and
  prefetch_related, so no N+1), bucketed in Python: what a first version would do.
* ``our page``: GET /insights/surveys/<id>/ through Django's test client, the admin logged
  in: every query, aggregate, chart spec (six Vega-Lite specs with their rows; the browser
  draws them) and the template. ``first`` is the first view after the data changed (the
  cache cleared), ``repeat`` the same page again; each the median of ``--page-rounds``
  rounds. ``cold``: a first view with Altair's spec templates forgotten too (a process's
  first view: Altair writes each chart's template). Target: first view < 1 s.
* ``task page``: the same survey's task (six annotators, 60% of clusters with a measured
  time, suggestion scores 0.3-1): /insights/tasks/<id>/ and its classifier page, first
  view, repeat and cold as above, and the page's aggregates alone (``numbers``: the
  queries and the Python over their rows).

MegaDetector batch output (``--md-images`` images in nested folders, two boxes each and one
under 0.05):
* ``naive import``: per record, look the image up by camera path and file name, then
  ``Detection.objects.create`` per box (on the first 2,000 records, so it ends).
* ``our import``: classifiers.services.megadetector read + do_import_detections (one query
  maps every path, bulk inserts a page at a time); then the same file again (replaces).
* ``our export``: write_batch_output of the same survey.
* ``other detector``: the same file imported as another detector's (supersedes every box),
  then the export of the current and of the earlier detector.

Classification (``--classify-crops`` crops, 2,000 by default, from 12 MP JPEGs): see
tests/benchmarks/classify.py.
Static detections (``--static-detections``): see tests/benchmarks/static.py.
Training-data crops (``--crop-detections``): see tests/benchmarks/crops.py.
Live annotation under load (``--annotation-clusters``, ``--human-annotators``,
``--web-workers``; MariaDB and Redis only): see tests/benchmarks/annotation.py.
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
    from results.services.results import write_results_csv

    start = time.perf_counter()
    task = make_task(clusters)
    print(f"\nresults CSV of {clusters} labelled clusters "
          f"(made in {time.perf_counter() - start:.1f} s)")
    floor, _ = measured("values_list", plain_values, task)
    naive, naive_peak = measured("naive ORM", naive_results, task, floor)
    ours, ours_peak = measured("our export", write_results_csv, task, floor)
    print(f"our export vs naive ORM: {naive / ours:5.2f}x faster, "
          f"{naive_peak / max(ours_peak, 0.01):5.1f}x less peak memory")


def make_survey_with_boxes(detections: int, per_image: int = 4):
    """A labelled survey of ``detections`` boxes, ``per_image`` per one-image cluster."""
    from datetime import UTC

    from accounts.models import Organisation
    from annotation.models import ClusterAnnotation, Label, Task
    from classifiers.models import Detection
    from surveys.models import Camera, Cluster, Image, Site, Survey

    org = Organisation.objects.create(name=f"Camtrap {time.time()}")
    survey = Survey.objects.create(organisation=org, name="Camtrap bench",
                                   timezone="Africa/Nairobi")
    sites = Site.objects.bulk_create(Site(survey=survey, name=f"S{n:02}", latitude=-2 - n / 100,
                                          longitude=34 + n / 100) for n in range(20))
    cameras = Camera.objects.bulk_create(Camera(site=s, path=f"{s.name}/CAM1") for s in sites)
    task = Task.objects.create(survey=survey, name="Species", status="launched")
    labels = Label.objects.bulk_create(Label(task=task, name=n, hotkey=n[0].lower())
                                       for n in ("Zebra", "Elephant", "Lion"))
    through = ClusterAnnotation.labels.through
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    images_total = detections // per_image
    for first in range(0, images_total, 10_000):
        numbers = range(first, min(first + 10_000, images_total))
        made = Cluster.objects.bulk_create(
            (Cluster(survey=survey, site=sites[n % 20], start=t0 + timedelta(minutes=n),
                     end=t0 + timedelta(minutes=n), image_count=1) for n in numbers),
            batch_size=5000)
        images = Image.objects.bulk_create(
            (Image(camera=cameras[n % 20], cluster=c, filename=f"IMG_{n:07}.JPG", key=f"k{n}",
                   content_hash=f"h{n}", corrected_timestamp=c.start, width=2048, height=1536)
             for n, c in zip(numbers, made, strict=True)), batch_size=5000)
        Detection.objects.bulk_create(
            (Detection(image=i, left=0.1 + k / 10, top=0.1, right=0.15 + k / 10, bottom=0.5,
                       score=0.9, source="bench", classification="Zebra",
                       classification_score=0.8)
             for i in images for k in range(per_image)), batch_size=5000)
        annotations = ClusterAnnotation.objects.bulk_create(
            (ClusterAnnotation(task=task, cluster=c, labelled_at=c.start) for c in made),
            batch_size=5000)
        through.objects.bulk_create(
            (through(clusterannotation_id=a.pk, label_id=labels[n % 3].pk)
             for n, a in enumerate(annotations)), batch_size=5000)
    return survey


def naive_camtrapdp(survey, folder: Path) -> None:
    import csv

    from classifiers.models import Detection
    from surveys.models import Image

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "media.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        for image in (Image.objects.filter(camera__site__survey=survey)
                      .select_related("camera__site").iterator(chunk_size=2000)):
            writer.writerow([image.pk, image.camera.path, image.corrected_timestamp.isoformat(),
                             f"media/{image.camera.path}/{image.filename}", "false",
                             image.filename, "image/jpeg"])
    with (folder / "observations.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        for d in (Detection.objects.filter(image__camera__site__survey=survey)
                  .select_related("image__camera__site", "image__cluster")
                  .iterator(chunk_size=2000)):
            writer.writerow([f"d{d.pk}", d.image.camera.path, d.image_id, d.image.cluster_id,
                             d.image.corrected_timestamp.isoformat(), "media", "animal",
                             d.classification, d.left, d.top, d.right - d.left,
                             d.bottom - d.top, "machine", d.source, d.classification_score])


def in_child(fn) -> tuple[float, float]:
    """Run ``fn()`` in a forked process; return its (seconds, peak RSS in MiB)."""
    import struct

    from django.db import connections

    connections.close_all()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own database connection, its own memory
        start = time.perf_counter()
        fn()
        os.write(write, struct.pack("d", time.perf_counter() - start))
        os._exit(0)
    os.close(write)
    seconds = struct.unpack("d", os.read(read, 8))[0]
    _pid, status, usage = os.wait4(pid, 0)
    assert status == 0, "the measured export failed"
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def bench_camtrapdp(detections: int, reuse: bool = False) -> None:
    import shutil

    from results.services.camtrapdp import export_camtrapdp
    from surveys.models import Survey

    start = time.perf_counter()
    survey = (Survey.objects.filter(name="Camtrap bench").order_by("-pk").first() if reuse
              else None) or make_survey_with_boxes(detections)
    print(f"\nCamtrap DP of {detections} boxes on {detections // 4} images "
          f"(made in {time.perf_counter() - start:.1f} s)")
    out = Path(tempfile.mkdtemp(prefix="tt-bench-dp-"))
    naive, naive_rss = in_child(lambda: naive_camtrapdp(survey, out / "naive"))
    print(f"{'naive ORM':<12} {naive:7.2f} s   peak RSS {naive_rss:7.1f} MiB")
    ours, ours_rss = in_child(lambda: export_camtrapdp(survey, out / "ours"))
    print(f"{'our export':<12} {ours:7.2f} s   peak RSS {ours_rss:7.1f} MiB")
    rows = sum(1 for _ in (out / "ours" / "observations.csv").open()) - 1
    print(f"our export vs naive ORM: {naive / ours:5.2f}x faster, "
          f"{naive_rss / ours_rss:5.2f}x less peak RSS ({rows} observations written)")
    shutil.rmtree(out)
    bench_results_levels(survey)


def bench_results_levels(survey) -> None:
    """Results CSV of the same survey: one row per cluster, and one per box."""
    from annotation.models import Task
    from results.services.results import ResultsOptions, default_columns, write_results_csv

    task = Task.objects.filter(survey=survey).get()
    out = Path(tempfile.mkdtemp(prefix="tt-bench-results-"))

    def ours(level):
        def run():
            with (out / f"{level}.csv").open("w", newline="") as fh:
                write_results_csv(task, fh, ResultsOptions(level=level,
                                                           columns=default_columns(level)))
        return run

    def naive():
        with (out / "naive.csv").open("w", newline="") as fh:
            naive_results(task, fh)

    print("\nresults CSV of the same survey")
    base, base_rss = in_child(naive)
    print(f"{'naive ORM':<16} {base:7.2f} s   peak RSS {base_rss:7.1f} MiB   (cluster rows)")
    for level in ("cluster", "detection"):
        seconds, rss = in_child(ours(level))
        rows = sum(1 for _ in (out / f"{level}.csv").open()) - 1
        print(f"{'ours, ' + level:<16} {seconds:7.2f} s   peak RSS {rss:7.1f} MiB   "
              f"{rows} rows   {base / seconds:5.2f}x faster than naive cluster rows")
    import shutil

    shutil.rmtree(out)


def make_insights_survey(images: int):
    """A survey of ``images`` images for the insights page, made in bulk."""
    from datetime import UTC

    from accounts.models import Membership, Organisation, User
    from annotation.models import ClusterAnnotation, Label, Task
    from classifiers.models import Detection
    from surveys.models import Camera, Cluster, Image, Site, Survey

    org = Organisation.objects.create(name=f"Insights {time.time()}")
    admin = User.objects.create_user(f"bench-{time.time()}", password="x", is_staff=True)
    Membership.objects.create(user=admin, organisation=org, role="admin")
    survey = Survey.objects.create(organisation=org, name="Insights bench",
                                   timezone="Africa/Nairobi")
    sites = Site.objects.bulk_create(
        Site(survey=survey, name=f"S{n:02}", latitude=-2.4 - n * 0.01,
             longitude=34.8 + (n % 5) * 0.02) for n in range(20))
    cameras = Camera.objects.bulk_create(
        Camera(site=s, path=f"{s.name}/CAM{k}") for s in sites for k in (1, 2))
    rng = random.Random(5)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    species = ["Zebra", "Wildebeest", "Lion", "Elephant", "Giraffe", "Impala"]
    n_clusters = images // 5
    starts = [t0 + timedelta(seconds=rng.randrange(90 * 86400)) for _ in range(n_clusters)]
    clusters = Cluster.objects.bulk_create(
        (Cluster(survey=survey, site=sites[n % 20], start=start,
                 end=start + timedelta(seconds=20), image_count=5,
                 suggestion=species[rng.randrange(6)],
                 suggestion_score=round(rng.uniform(0.3, 1.0), 4))
         for n, start in enumerate(starts)), batch_size=5000)
    made = Image.objects.bulk_create(
        (Image(camera=cameras[(n % 20) * 2 + (k % 2)], cluster=c,
               filename=f"IMG_{n:06}_{k}.JPG", key=f"k{n}-{k}", content_hash=f"h{n}-{k}",
               timestamp=c.start + timedelta(seconds=5 * k),
               corrected_timestamp=c.start + timedelta(seconds=5 * k), detected=True)
         for n, c in enumerate(clusters) for k in range(5)), batch_size=5000)
    Detection.objects.bulk_create(
        (Detection(image=i, left=0.1, top=0.1, right=0.4, bottom=0.5, score=0.9,
                   source="bench") for n, i in enumerate(made) if n % 5 < 3),
        batch_size=5000)
    task = Task.objects.create(survey=survey, name="Species", status="launched")
    labels = Label.objects.bulk_create(Label(task=task, name=n) for n in species)
    people = [admin] + [User.objects.create_user(f"bench-{n}-{time.time()}", password="x")
                        for n in range(5)]
    annotations = ClusterAnnotation.objects.bulk_create(
        (ClusterAnnotation(task=task, cluster=c, annotator=people[n % 6] if n % 10 < 7 else None,
                           labelled_at=c.start if n % 10 < 7 else None,
                           seconds_spent=round(rng.uniform(2, 40), 2) if n % 10 < 6 else None)
         for n, c in enumerate(clusters)), batch_size=5000)
    annotations = [a for a in annotations if a.labelled_at is not None]
    through = ClusterAnnotation.labels.through
    through.objects.bulk_create(
        (through(clusterannotation_id=a.pk, label_id=labels[rng.randrange(6)].pk)
         for a in annotations), batch_size=5000)
    return survey, task, admin


def naive_insights(survey, task) -> None:
    """The page's numbers from model instances of every image (no N+1, but every row)."""
    from collections import Counter, defaultdict
    from zoneinfo import ZoneInfo

    from annotation.models import ClusterAnnotation
    from surveys.models import Image

    tz = ZoneInfo(survey.timezone)
    labels = defaultdict(list)
    for a in (ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
              .prefetch_related("labels")):
        labels[a.cluster_id] = [lab.name for lab in a.labels.all()]
    images = empty = 0
    seen, verified, ai, hours = set(), Counter(), Counter(), Counter()
    days = defaultdict(set)
    for image in (Image.objects.filter(camera__site__survey=survey)
                  .select_related("camera__site", "cluster").prefetch_related("detections")
                  .iterator(chunk_size=2000)):
        images += 1
        empty += not image.detections.all()
        local = image.corrected_timestamp.astimezone(tz)
        days[image.camera.site_id].add(local.date())
        cluster = image.cluster
        if cluster.pk in seen:
            continue
        seen.add(cluster.pk)
        for name in labels.get(cluster.pk, []):
            verified[(image.camera.site.name, name)] += 1
            hours[(name, cluster.start.astimezone(tz).hour)] += 1
        if cluster.pk not in labels and cluster.suggestion:
            ai[(image.camera.site.name, cluster.suggestion)] += 1
    assert images and sum(len(d) for d in days.values())


def _page_times(client, url: str, rounds: int) -> tuple[list[float], list[float], int, int]:
    """``rounds`` x (first view with the cache cleared, then the same page again):
    (first times, repeat times, queries of a first view, bytes)."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    firsts, repeats = [], []
    for _ in range(rounds):
        cache.clear()
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            firsts.append(time.perf_counter() - start)
        queries = len(ctx.captured_queries)  # read now: the next request resets the log
        assert response.status_code == 200, response.content[:500]
        start = time.perf_counter()
        assert client.get(url).status_code == 200
        repeats.append(time.perf_counter() - start)
    return firsts, repeats, queries, len(response.content)


def settle_statistics() -> None:
    """MariaDB: the tables' statistics as a settled database has them.

    InnoDB samples them while the bulk inserts run and may not again for a while, and
    the optimizer then picks plans for tables a fraction of their size (for the headline's
    relevant images: 0.3 s instead of 0.18 s). A production database's statistics follow
    its data; right after an import they can lag like this.
    """
    from django.db import connection

    from annotation.models import ClusterAnnotation
    from classifiers.models import Detection
    from surveys.models import Camera, Cluster, Image, Site

    if connection.vendor != "mysql":
        return
    tables = [m._meta.db_table for m in (Image, Detection, Cluster, ClusterAnnotation,
                                         ClusterAnnotation.labels.through, Camera, Site)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE " + ", ".join(tables))
        cursor.fetchall()
    print("(ANALYZE TABLE: statistics refreshed after the bulk inserts)")


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cold_firsts(client, url: str, rounds: int) -> list[float]:
    """First views of ``url`` with every chart template forgotten: Altair writes each."""
    from django.core.cache import cache

    from insights.services.charts import clear_templates

    times = []
    for _ in range(rounds):
        cache.clear()
        clear_templates()
        start = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append(time.perf_counter() - start)
    return times


def _numbers_time(make, rounds: int) -> float:
    """The median time of ``make()``: a page's aggregates alone, without drawing."""
    from statistics import median

    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        make()
        times.append(time.perf_counter() - start)
    return median(times)


def bench_task_pages(client, task, rounds: int) -> None:
    """The task's annotation page and its classifier page: first view, repeat, cold."""
    from statistics import median

    from insights.services.classifier_aggregates import classifier_insights
    from insights.services.pages import CLASSIFIER_PLOTS, TASK_PLOTS
    from insights.services.task_aggregates import task_insights

    pages = (("tasks/{}/", TASK_PLOTS, lambda: task_insights(task)),
             ("tasks/{}/classifier/", CLASSIFIER_PLOTS, lambda: classifier_insights(task)),
             ("tasks/{}/classifier/?threshold=0.6", CLASSIFIER_PLOTS,
              lambda: classifier_insights(task, 0.6)))
    for path, plots, numbers in pages:
        page = "/insights/" + path.format(task.pk)
        firsts, repeats, queries, size = _page_times(client, page, rounds)
        first, cold = median(firsts), median(_cold_firsts(client, page, rounds))
        print(f"task page    first {first:5.2f} s (min {min(firsts):4.2f})   repeat "
              f"{median(repeats):5.2f} s   {queries} queries   {size / 1024:.0f} KiB   {page}")
        print(f"  cold first {cold:5.2f} s (Altair writes {len(plots)} templates); numbers "
              f"alone {_numbers_time(numbers, rounds):5.2f} s")


def bench_insights(images: int, rounds: int = 5) -> None:
    from statistics import median

    from django.db import connection
    from django.test import Client

    from insights.services.pages import PLOTS

    start = time.perf_counter()
    survey, task, admin = make_insights_survey(images)
    print(f"\ninsights page of a survey of {images} images "
          f"(made in {time.perf_counter() - start:.1f} s; {connection.vendor})")
    settle_statistics()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)
    url = f"/insights/surveys/{survey.pk}/"
    assert client.get(url).status_code == 200  # warm: imports, fonts, template cache
    start = time.perf_counter()
    naive_insights(survey, task)
    naive = time.perf_counter() - start
    print(f"naive ORM    {naive:7.2f} s")
    print(f"{_load()}; medians of {rounds} rounds; first = cache cleared")
    slowest = 0.0
    for query in ("", "?interval=60&ai=on", "?species=Zebra"):
        firsts, repeats, queries, size = _page_times(client, url + query, rounds)
        first, repeat = median(firsts), median(repeats)
        slowest = max(slowest, first)
        cold = median(_cold_firsts(client, url + query, rounds))
        print(f"our page     first {first:5.2f} s (min {min(firsts):4.2f})   repeat {repeat:5.2f} s"
              f"   {queries} queries   {size / 1024:.0f} KiB   {query or '(no filter)'}")
        print(f"  cold first {cold:5.2f} s (Altair writes {len(PLOTS)} templates); "
              f"first view {first / 1.0:4.0%} of the 1 s target")
    print(f"our page vs naive ORM: {naive / slowest:5.1f}x faster "
          f"(slowest first view {slowest:.2f} s; target < 1 s); {_load()}")
    bench_task_pages(client, task, rounds)


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
    # Another detector's results on every image: the first one's boxes are superseded.
    start = time.perf_counter()
    result = do_import_detections(survey, read_batch_output(path), detector="another")
    seconds = time.perf_counter() - start
    print(f"other detector {count / seconds:9.0f} images/s   {seconds:6.2f} s   "
          f"{result.detections_superseded} superseded")
    for label, detector in (("export current", None), ("export earlier", counts["detector"])):
        start = time.perf_counter()
        with open(tmp / "export.json", "w") as fh:
            exported = write_batch_output(survey, fh, detector=detector)
        seconds = time.perf_counter() - start
        print(f"{label:<14} {count / seconds:9.0f} images/s   {seconds:6.2f} s   "
              f"{exported['detections']} boxes of {exported['detector']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1536)
    parser.add_argument("--clusters", type=int, default=50_000)
    parser.add_argument("--detections", type=int, default=1_000_000)
    parser.add_argument("--survey-images", type=int, default=100_000)
    parser.add_argument("--page-rounds", type=int, default=5,
                        help="Insights: rounds of first view + repeat; medians are printed.")
    parser.add_argument("--only", choices=["import", "results", "camtrapdp", "insights",
                                           "megadetector", "static", "classify", "crops",
                                           "annotation"])
    parser.add_argument("--database-url", help="Run on this database (default: SQLite).")
    parser.add_argument("--reuse-data", action="store_true", help="Camtrap DP: use the "
                        "survey an earlier run left in --database-url instead of a new one.")
    parser.add_argument("--md-images", type=int, default=100_000)
    parser.add_argument("--classify-crops", type=int, default=2_000)
    parser.add_argument("--static-detections", type=int, default=50_000)
    parser.add_argument("--crop-detections", type=int, default=10_000)
    parser.add_argument("--crop-files", type=int, default=40)
    parser.add_argument("--naive-crops", type=int, default=300)
    parser.add_argument("--annotation-clusters", type=int, default=20_000)
    parser.add_argument("--annotation-seconds", type=float, default=15)
    parser.add_argument("--human-annotators", type=int, default=200)
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL")
                        or "redis://127.0.0.1:6379/0", help="Annotation: the channel layer.")
    parser.add_argument("--annotation-server-root", help="Annotation: serve from this "
                        "checkout instead (1 plain daphne process), for a before/after figure.")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-"))
    os.environ["TRAPTAGGER_VAR_DIR"] = str(tmp / "var")
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT"):
        os.environ.pop(name, None)
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
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
    if args.only in (None, "camtrapdp"):
        bench_camtrapdp(args.detections, args.reuse_data)
    if args.only in (None, "insights"):
        bench_insights(args.survey_images, args.page_rounds)
    if args.only in (None, "megadetector"):
        bench_megadetector(args.md_images, tmp)
    if args.only in (None, "classify"):
        from tests.benchmarks.classify import bench_classify

        bench_classify(args.classify_crops, tmp)
    if args.only in (None, "static"):
        from tests.benchmarks.static import bench_static

        bench_static(args.static_detections)
    if args.only in (None, "crops"):
        from tests.benchmarks.crops import bench_crops

        bench_crops(args.crop_detections, args.crop_files, args.naive_crops)
    if args.only in (None, "annotation"):
        from tests.benchmarks.annotation import bench_annotation

        bench_annotation(args, tmp)
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
        # The import benchmark's generated scenes: the weight-free detector, as before.
        survey = Survey.objects.create(organisation=org, name=f"Bench {time.time()}",
                                       detector="motion")
        do_run_import(do_start_import(survey, str(source)))

    whole = timed("full import", full, files)
    print(f"our read / naive read:    {ours / base:5.2f}x")
    print(f"full import / naive read: {whole / base:5.2f}x")


if __name__ == "__main__":
    main()
