"""Live annotation under load (``--only annotation``): daphne + MariaDB + the Redis channel
layer, a survey of ``--annotation-clusters`` clusters (20,000 by default, two images and
two boxes each, made with bulk_create), and annotation.services.loadtest driving real
log-ins and websockets:

* ``saturation``: 20 clients labelling as fast as the server answers (target >= 150/s);
* ``human pace``: ``--human-annotators`` people (200 by default) each labelling every 2 s,
  all connecting at once (target p99 <= 100 ms, no handshake dropped);

each on 1 daphne process (the baseline) and on ``--web-workers`` processes behind one
socket (core.webserver). Both: 0 double leases, 0 lost labels. ``queries/label`` is
counted in-process around the path the consumer takes for one label (save + top-up).

Needs ``--database-url mysql://...`` and a Redis (``--redis-url``, default REDIS_URL
from the environment, else redis://127.0.0.1:6379/0). ``--annotation-server-root DIR``
runs the server from another checkout (the code before a change) against the same
database, for a before/after figure; it serves with plain daphne, 1 process.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_annotation_task(clusters: int):
    """A ready survey of ``clusters`` clusters (two images, one box each) and a launched
    task over it, all in bulk."""
    from accounts.models import Organisation
    from annotation.models import ClusterAnnotation, Label, Task
    from annotation.services.common import ensure_special_labels
    from classifiers.models import Detection
    from surveys.models import Camera, Cluster, Image, Site, Survey

    ensure_special_labels()
    org = Organisation.objects.create(name=f"Load {time.time()}")
    survey = Survey.objects.create(organisation=org, name="Load bench", status="ready",
                                   detection_threshold=0.2)
    sites = Site.objects.bulk_create(Site(survey=survey, name=f"S{n:02}") for n in range(20))
    cameras = Camera.objects.bulk_create(Camera(site=s, path=f"{s.name}/CAM1") for s in sites)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    made = Cluster.objects.bulk_create(
        (Cluster(survey=survey, site=sites[n % 20], start=t0 + timedelta(minutes=n),
                 image_count=2, suggestion="zebra") for n in range(clusters)), batch_size=5000)
    images = Image.objects.bulk_create(
        (Image(camera=cameras[n % 20], cluster=c, filename=f"IMG_{n:07}_{k}.JPG",
               key=f"k{n}-{k}", content_hash=f"h{n}-{k}",
               corrected_timestamp=c.start + timedelta(seconds=k))
         for n, c in enumerate(made) for k in range(2)), batch_size=5000)
    Detection.objects.bulk_create(
        (Detection(image=i, left=0.1, top=0.1, right=0.5, bottom=0.5, score=0.9,
                   source="md_v5a", classification="zebra") for i in images), batch_size=5000)
    task = Task.objects.create(survey=survey, name="Species", status="launched")
    Label.objects.bulk_create(Label(task=task, name=n, hotkey=n[0].lower())
                              for n in ("Zebra", "Elephant", "Lion"))
    ClusterAnnotation.objects.bulk_create(
        (ClusterAnnotation(task=task, cluster=c) for c in made), batch_size=5000)
    return task


def reusable_task(clusters: int):
    """The newest bench task an earlier run left with most of its clusters unlabelled."""
    from annotation.models import Task

    task = Task.objects.filter(survey__name="Load bench").order_by("-pk").first()
    if task and task.annotations.filter(labelled_at__isnull=True).count() >= clusters * 0.7:
        return task
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, redis_url: str, var: Path) -> dict:
    env = os.environ.copy()
    env.update({
        "TRAPTAGGER_MODE": "production", "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "CHANNELS_PREFIX": f"bench{os.getpid()}", "TRAPTAGGER_VAR_DIR": str(var),
        "PYTHONPATH": "",
    })
    env.pop("CELERY_BROKER_URL", None)
    return env


class Server:
    """daphne on a free port: ``workers`` processes through serve_web, or plain daphne
    from ``root`` (another checkout)."""

    def __init__(self, workers: int, env: dict, log: Path, root: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        python = sys.executable
        if root is None:
            argv = [python, "manage.py", "serve_web", "--port", str(self.port),
                    "--workers", str(workers)]
        else:
            argv = [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                    "traptagger.asgi:application"]
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=root or ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server stopped at start; see {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        time.sleep(2 + workers)  # every worker loaded the app (the first accept is not all)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def queries_per_label(task) -> str:
    """Statements of one label on the consumer's path (save + top-up of the window)."""
    from accounts.services.organisations import do_ensure_members
    from tests.annotation.query_budget import count_label_queries

    users, _ = do_ensure_members(task.survey.organisation,
                                 [f"loadtest-{task.survey.organisation_id}-queries"])
    count, sql = count_label_queries(task, users[0])
    return f"{count} statements ({len(sql)} with BEGIN/COMMIT)"


def bench_annotation(args, tmp: Path) -> None:
    from django.db import connection

    from annotation.services.loadtest import run_load_test

    if connection.vendor != "mysql":
        print("\nannotation load: skipped (needs --database-url mysql://...)")
        return
    redis_url = args.redis_url
    start = time.perf_counter()
    task = reusable_task(args.annotation_clusters) if args.reuse_data else None
    task = task or make_annotation_task(args.annotation_clusters)
    print(f"\nannotation load: {args.annotation_clusters} clusters "
          f"(made in {time.perf_counter() - start:.1f} s); database "
          f"{connection.settings_dict['NAME']}, channel layer {redis_url}")
    try:
        print(f"queries/label  {queries_per_label(task)} (save + window top-up, in-process)")
    except Exception as exc:  # noqa: BLE001 - the other figures still count
        print(f"queries/label  not counted: {exc!r}")
    db = connection.settings_dict
    database_url = (f"mysql://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}"
                    f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}")
    env = server_env(database_url, redis_url, tmp / "var")
    root = Path(args.annotation_server_root) if args.annotation_server_root else None
    layouts = [1] if root else [1, args.web_workers]
    cookies: dict = {}
    cases = [("saturation", 20, None), ("human pace", args.human_annotators, 2.0)]
    rows = []
    for workers in layouts:
        server = Server(workers, env, tmp / f"web-{workers}.log", root)
        try:
            for name, clients, pace in cases:
                report = run_load_test(task, annotators=clients, seconds=args.annotation_seconds,
                                       url=server.url, pace=pace, cookies=cookies)
                rows.append((workers, name, report))
                print(f"{workers} web process(es)  {name:<10}  " + "; ".join(
                    line.strip() for line in report.lines()[:6]))
                for line in report.first_errors:
                    print(f"    {line}")
        finally:
            server.stop()
    base = {name: r for w, name, r in rows if w == 1}
    for w, name, r in rows:
        if w != 1:
            print(f"{name}: {w} processes / 1 process = "
                  f"{r.labels_per_second / max(base[name].labels_per_second, 0.1):.2f}x labels/s")
