"""A worker killed with SIGKILL mid-import, mid-detection and mid-classification: beat's sweep
resumes the work.

Real worker processes on the embedded (file-system) broker and on Redis. The
file-system broker drops a killed worker's message and Redis keeps it unacked
for hours; either way the sweep (``surveys.resume_stale_work``) re-sends it and
the work ends with exact counts: every file imported once, every image detected
once, every box classified, nothing left in storage that no row points to.
"""

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from classifiers.models import Detection
from surveys.models import Image, ImportIssue, ImportRun, Survey
from surveys.services import pipeline
from surveys.taxonomy import ImportStatus, SurveyStatus
from tests.conftest import redis_up, subprocess_env
from tests.factories import SurveyFactory
from training.synthetic import jpeg_bytes, scene

pytestmark = [pytest.mark.hostile, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
FILES = 240
SWEEP = ("import django; django.setup(); "
         "from surveys.tasks import resume_stale_work_task; print(resume_stale_work_task())")


def write_source(root: Path) -> None:
    rng = random.Random(11)
    start = datetime(2024, 3, 1, 6, 0)
    for n in range(FILES):
        # Large enough that importing a file takes milliseconds: the import of
        # all of them must outlast the test's look at its progress.
        img, _ = scene(rng, rng.choice(["Zebra", None]), 1024, 768)
        site = root / f"Site{n % 2}"
        site.mkdir(parents=True, exist_ok=True)
        # Five minutes apart: every image is a cluster of its own.
        (site / f"IMG_{n:04}.JPG").write_bytes(jpeg_bytes(img, start + timedelta(minutes=5 * n)))


class Workers:
    def __init__(self, env, tmp_path):
        self.env, self.tmp_path, self.count = env, tmp_path, 0

    def start(self):
        self.count += 1
        log = open(self.tmp_path / f"worker{self.count}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "traptagger", "worker", "-Q",
             "default,import,gpu", "--pool", "solo", "--loglevel", "INFO", "--without-gossip",
             "--without-mingle", "--hostname", f"killed{self.count}@%h"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        proc.log = log
        return proc

    def sweep(self) -> str:
        result = subprocess.run([sys.executable, "-c", SWEEP], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def logs(self) -> str:
        return "\n".join((self.tmp_path / f"worker{n}.log").read_text(errors="replace")[-2000:]
                         for n in range(1, self.count + 1))


def wait_for(condition, what: str, workers: Workers, timeout: float = 180, *, then=None):
    """Poll ``condition``; once it holds, call ``then`` at once (before any other read)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            if then is not None:
                then()
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}\n{workers.logs()}")


def freeze(proc) -> None:
    """Stop the worker where it is, so what the test reads next is what the kill leaves."""
    os.kill(proc.pid, signal.SIGSTOP)


def kill(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.log.close()


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_killed_worker_work_is_resumed_with_exact_counts(broker, tmp_path, media_storage,
                                                          demo_classifier):
    if broker == "redis" and not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    source = tmp_path / "source"
    write_source(source)
    extra = {"PIPELINE_STALE_SECONDS": "2", "IMPORT_BATCH_SIZE": "10", "CLASSIFY_BATCH": "2"}
    if broker == "filesystem":
        extra["CELERY_BROKER_DIR"] = str(tmp_path / "broker")
    else:
        extra["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/9"
        import redis

        redis.Redis.from_url(extra["CELERY_BROKER_URL"]).flushdb()
    env = subprocess_env(extra)
    env.pop("REDIS_URL", None)
    if broker == "filesystem":
        env.pop("CELERY_BROKER_URL", None)
    workers = Workers(env, tmp_path)

    survey = SurveyFactory(detector="whole", classifier=demo_classifier)
    run = ImportRun.objects.create(survey=survey, source=str(source))
    pipeline.do_transition(survey, pipeline.ANY, SurveyStatus.IMPORTING)
    first = workers.start()
    send = ("import django, sys; django.setup(); from surveys.services import pipeline; "
            "pipeline.enqueue(pipeline.IMPORT_TASK, 'import', int(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", send, str(run.pk)], cwd=ROOT, env=env, check=True,
                   timeout=120)

    # 1. Killed mid-import.
    wait_for(lambda: ImportRun.objects.get(pk=run.pk).processed >= 20, "the import to start",
             workers, then=lambda: freeze(first))
    kill(first)
    run.refresh_from_db()
    assert run.status == ImportStatus.RUNNING and run.processed < FILES, "killed too late"
    time.sleep(2.5)  # the heartbeat goes stale
    assert f"'imports': [{run.pk}]" in workers.sweep()
    second = workers.start()

    # 2. Killed mid-detection.
    def detecting():
        s = Survey.objects.get(pk=survey.pk)
        return s.status == SurveyStatus.DETECTING and Detection.objects.filter(
            image__camera__site__survey=survey).count() >= 10
    wait_for(detecting, "detection to start", workers, then=lambda: freeze(second))
    kill(second)
    done_before = Detection.objects.filter(image__camera__site__survey=survey).count()
    assert done_before < FILES, "killed too late"
    time.sleep(2.5)
    assert f"'stages': [{survey.pk}]" in workers.sweep()
    third = workers.start()
    boxes = Detection.objects.filter(image__camera__site__survey=survey)

    # 3. Killed mid-classification (two crops a batch, each batch saved).
    def classifying():
        s = Survey.objects.get(pk=survey.pk)
        return s.status == SurveyStatus.CLASSIFYING and boxes.filter(
            classified_by=demo_classifier).count() >= 10
    wait_for(classifying, "classification to start", workers, then=lambda: freeze(third))
    kill(third)
    classified_before = boxes.filter(classified_by=demo_classifier).count()
    assert classified_before < FILES, "killed too late"
    time.sleep(2.5)
    assert f"'stages': [{survey.pk}]" in workers.sweep()
    fourth = workers.start()
    try:
        wait_for(lambda: Survey.objects.get(pk=survey.pk).status in (
            SurveyStatus.READY, SurveyStatus.FAILED), "the survey to be ready", workers)
    finally:
        fourth.terminate()
        fourth.wait(timeout=30)
        fourth.log.close()

    survey.refresh_from_db()
    run.refresh_from_db()
    assert survey.status == SurveyStatus.READY, (survey.status_detail, workers.logs())
    assert (run.status, run.total, run.processed, run.imported) == (
        ImportStatus.DONE, FILES, FILES, FILES)
    assert not ImportIssue.objects.filter(import_run=run).exists()
    images = Image.objects.filter(camera__site__survey=survey)
    assert images.count() == FILES == survey.image_count
    assert survey.cluster_count == FILES
    # The whole-image detector gives one box per image: once each, never twice.
    assert Detection.objects.filter(image__camera__site__survey=survey).count() == FILES
    # Every box classified by the survey's classifier, including those done before the kill.
    assert boxes.filter(classified_by=demo_classifier).exclude(
        classification="").count() == FILES
    stored = {p.relative_to(media_storage).as_posix()
              for p in media_storage.rglob("*") if p.is_file()}
    assert stored == set(images.values_list("key", flat=True)) | set(
        images.values_list("web_key", flat=True)) | {demo_classifier.model_key}
