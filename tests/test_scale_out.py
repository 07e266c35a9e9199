"""Production as several machines, on this one: real processes from the production settings.

MariaDB, a Redis of its own (channel layer, broker, cache), two daphne processes,
a CPU worker (default, import), a GPU-queue worker and beat. A survey is imported
through the queue and runs its AI stages; an admin follows it on one daphne; two
annotators on different daphne processes label the same task while Redis is
restarted under them; nothing is labelled twice, nothing sent is lost, and the
results export matches the database.
"""

import asyncio
import csv
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.taxonomy import Role
from annotation.models import ClusterAnnotation, Label
from annotation.services.task_setup import do_create_task, do_launch_task
from surveys.models import Survey
from surveys.taxonomy import SurveyStatus
from tests.conftest import free_port, session_cookie, subprocess_env
from tests.factories import OrganisationFactory, member

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


class Fleet:
    """The processes of one instance, started and stopped together."""

    def __init__(self, tmp_path):
        self.tmp_path, self.procs = tmp_path, {}

    def start(self, name, argv, env):
        log = open(self.tmp_path / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        proc.log = log
        self.procs[name] = proc
        return proc

    def stop(self, name, sig=signal.SIGTERM):
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.log.close()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-1500:]
                         for p in sorted(self.tmp_path.glob("*.log")))


def wait_for(condition, what, fleet, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{fleet.logs()}")


def healthy(port) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
            return json.load(r)["status"] == "ok"
    except OSError:
        return False


class Annotator:
    """A page's protocol in Python: keeps an unacknowledged label and resends it on reconnect."""

    def __init__(self, name, url, cookie, pick):
        self.name, self.url, self.cookie, self.pick = name, url, cookie, pick
        self.saved: dict[int, list[int]] = {}
        self.reconnects = 0
        self.pending = None

    async def run(self, labelled_total: list[str]):
        import websockets

        while True:
            try:
                async with websockets.connect(
                        self.url, additional_headers=[("Cookie", self.cookie)],
                        origin=self.url.replace("ws://", "http://").split("/ws/")[0],
                        open_timeout=10) as ws:
                    await ws.send(json.dumps(self.pending or {"type": "cluster.request"}))
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
                        if msg["type"] == "cluster.offered":
                            self.pending = {"type": "label.submit",
                                            "annotation_id": msg["annotation_id"],
                                            "lease": msg["lease"],
                                            "labels": [self.pick(msg)], "note": ""}
                            await ws.send(json.dumps(self.pending))
                        elif msg["type"] == "label.saved":
                            self.saved[msg["annotation_id"]] = msg["labels"]
                            self.pending = None
                            labelled_total.append(self.name)
                        elif msg["type"] == "task.finished":
                            return
                        elif msg["type"] == "label.refused":
                            raise AssertionError(f"{self.name}: refused {msg}")
            except (TimeoutError, OSError, websockets.ConnectionClosed,
                    websockets.InvalidHandshake):
                self.reconnects += 1
                if self.reconnects > 60:
                    raise
                await asyncio.sleep(0.5)


def test_two_web_nodes_two_workers_beat_and_a_redis_restart(demo_source, demo_classifier,
                                                            tmp_path):
    if connection.vendor != "mysql":
        pytest.skip("the scale-out test needs MariaDB: run with DATABASE_URL=mysql://…")
    root, truth = demo_source
    fleet = Fleet(tmp_path)
    redis_port, web_a, web_b = free_port(), free_port(), free_port()

    def start_redis():
        fleet.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], None)
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "ping"],
                                        capture_output=True).stdout.strip() == b"PONG",
                 "redis", fleet, 30)

    env = subprocess_env({
        "TRAPTAGGER_MODE": "production", "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "CHANNELS_PREFIX": "scaleout",
        "TRAPTAGGER_VAR_DIR": str(tmp_path / "var"),
    })
    env.pop("CELERY_BROKER_URL", None)
    org = OrganisationFactory(name="Scale Trust")
    admin = member(org, Role.ADMIN, username="scale-admin")
    annotators = [member(org, Role.ANNOTATOR, username=f"scale-annotator-{n}") for n in (1, 2)]
    survey = Survey.objects.create(organisation=org, name="Scale Season",
                                   classifier=demo_classifier)
    try:
        start_redis()
        for name, port in (("daphne-a", web_a), ("daphne-b", web_b)):
            fleet.start(name, [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "traptagger.asgi:application"], env)
        fleet.start("worker-cpu", [PY, "-m", "celery", "-A", "traptagger", "worker", "-Q",
                                   "default,import", "--concurrency", "2", "--hostname",
                                   "cpu@%h", "--loglevel", "INFO"], env)
        fleet.start("worker-gpu", [PY, "-m", "celery", "-A", "traptagger", "worker", "-Q", "gpu",
                                   "--pool", "solo", "--hostname", "gpu@%h", "--loglevel",
                                   "INFO"], env)
        fleet.start("beat", [PY, "-m", "celery", "-A", "traptagger", "beat", "--loglevel",
                             "INFO"], env)
        wait_for(lambda: healthy(web_a) and healthy(web_b), "both web nodes healthy", fleet)

        admin_events: list[dict] = []
        # Cookies are made outside the event loops (the ORM is synchronous).
        admin_cookie = session_cookie(admin).decode()
        cookies = [session_cookie(a) for a in annotators]

        async def watch(stop: asyncio.Event):
            import websockets

            async with websockets.connect(
                    f"ws://127.0.0.1:{web_b}/ws/surveys/{survey.pk}/",
                    additional_headers=[("Cookie", admin_cookie)],
                    origin=f"http://127.0.0.1:{web_b}") as ws:
                while not stop.is_set():
                    try:
                        admin_events.append(json.loads(await asyncio.wait_for(ws.recv(), 1)))
                    except TimeoutError:
                        continue
                    if admin_events[-1].get("status") in (SurveyStatus.READY,
                                                          SurveyStatus.FAILED):
                        return

        async def import_and_follow():
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch(stop))
            await asyncio.sleep(1)
            proc = await asyncio.create_subprocess_exec(
                PY, "manage.py", "import_survey", "--org", org.name, "--survey", survey.name,
                "--source", str(root), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()
            try:
                await asyncio.wait_for(watcher, timeout=300)
            finally:
                stop.set()

        asyncio.run(import_and_follow())
        survey.refresh_from_db()
        assert survey.status == SurveyStatus.READY, (survey.status_detail, fleet.logs())
        kinds = Counter(e["type"] for e in admin_events)
        assert kinds["import.progress"] >= 1 and kinds["stage.progress"] >= 1, kinds
        statuses = [e["status"] for e in admin_events if e["type"] == "survey.status"]
        assert statuses[-5:] == ["clustering", "detecting", "static", "classifying",
                                 "ready"], statuses

        task = do_create_task(survey, name="Species", acting_user=admin,
                              labels=[("Zebra", "z"), ("Elephant", "e"), ("Lion", "l")])
        do_launch_task(task, acting_user=admin)
        by_name = {label.name: label.pk for label in Label.objects.filter(task=task)}
        nothing = Label.objects.get(task=None, name="Nothing").pk

        def pick(msg):
            return by_name.get(msg.get("suggestion"), nothing)

        pages = [Annotator(f"annotator-{n}", f"ws://127.0.0.1:{port}/ws/annotate/{task.pk}/",
                           cookie.decode(), pick)
                 for n, (port, cookie) in enumerate(zip((web_a, web_b), cookies, strict=True))]
        total = ClusterAnnotation.objects.filter(task=task).count()

        async def annotate():
            labelled: list[str] = []
            jobs = [asyncio.create_task(p.run(labelled)) for p in pages]
            # Restart Redis under them once a third of the clusters are labelled.
            while len(labelled) < total // 3:
                await asyncio.sleep(0.05)
            fleet.stop("redis", signal.SIGKILL)
            await asyncio.sleep(1)
            await asyncio.to_thread(start_redis)
            await asyncio.wait_for(asyncio.gather(*jobs), timeout=300)
            return labelled

        labelled = asyncio.run(annotate())
        assert len(labelled) == total  # every acknowledgement, across the restart
        rows = ClusterAnnotation.objects.filter(task=task)
        assert rows.filter(labelled_at__isnull=True).count() == 0, fleet.logs()
        saved = {**pages[0].saved, **pages[1].saved}
        assert not set(pages[0].saved) & set(pages[1].saved)  # never one cluster to two
        assert len(saved) == total
        stored = {a.pk: sorted(a.labels.values_list("pk", flat=True)) for a in rows}
        assert stored == {k: sorted(v) for k, v in saved.items()}  # nothing sent was lost
        assert all(p.saved for p in pages) and sum(p.reconnects for p in pages) >= 1
        by_annotator = Counter(rows.values_list("annotator__username", flat=True))
        assert set(by_annotator) == {a.username for a in annotators}

        out = tmp_path / "results.csv"
        result = subprocess.run([PY, "manage.py", "export_results", "--task", str(task.pk),
                                 "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        exported = Counter()
        with out.open() as fh:
            for row in csv.DictReader(fh):
                exported[row["species"]] += 1
        label_names = dict(Label.objects.values_list("pk", "name"))
        expected = Counter(label_names[pk] for labels in stored.values() for pk in labels)
        assert exported == expected
        print(f"\nscale-out: {total} clusters labelled, {len(pages[0].saved)} on daphne A and "
              f"{len(pages[1].saved)} on daphne B, {sum(p.reconnects for p in pages)} "
              f"reconnect(s) across the Redis restart; the admin on daphne B saw "
              f"{dict(kinds)}")
    finally:
        fleet.stop_all()
