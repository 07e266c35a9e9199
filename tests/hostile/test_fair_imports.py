"""One organisation cannot stall another's imports: a real worker, two organisations.

Organisation A's survey holds a site regex stored before regexes were checked
(``^(a|a)*$|^Site\\d``): on each of its forty folders named ``aaa…a!NN`` it
backtracks for minutes with Python's ``re``. Organisation B starts a small
import once A's is under way, on the same single import worker. B's import
must finish while A's is still going (A's slices go to the back of the queue;
each folder's regex is cut off after USER_REGEX_TIMEOUT_SECONDS and recorded as
an issue), and A's must then finish too.
"""

import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from surveys.models import Image, ImportRun, Survey
from surveys.services import pipeline
from surveys.taxonomy import ImportStatus, SurveyStatus
from tests.conftest import redis_up, subprocess_env
from tests.factories import SurveyFactory
from training.synthetic import jpeg_bytes, scene

pytestmark = [pytest.mark.hostile, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_FOLDERS = 40
SEND = ("import django, sys; django.setup(); from surveys.services import import_queue; "
        "import_queue.send(int(sys.argv[1]), 0)")


def photo(n: int) -> bytes:
    img, _ = scene(random.Random(n), "Zebra", 96, 72)
    return jpeg_bytes(img, datetime(2024, 5, 1, 8, n // 60, n % 60))


def wait_for(condition, what: str, log: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text(errors='replace')[-3000:]}")


def status(run) -> str:
    return ImportRun.objects.get(pk=run.pk).status


@pytest.mark.timeout(300)
@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_a_hostile_import_does_not_keep_another_organisations_import_waiting(broker, tmp_path):
    if broker == "redis" and not redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    source_a = tmp_path / "a"
    for n in range(HOSTILE_FOLDERS):
        folder = source_a / f"{'a' * 30}!{n:02}"
        folder.mkdir(parents=True)
        (folder / "IMG.jpg").write_bytes(photo(n))
    (source_a / "Site1").mkdir()
    (source_a / "Site1" / "ok.jpg").write_bytes(photo(99))
    source_b = tmp_path / "b" / "Site1"
    source_b.mkdir(parents=True)
    for n in range(4):
        (source_b / f"IMG_{n}.jpg").write_bytes(photo(100 + n))

    survey_a, survey_b = SurveyFactory(), SurveyFactory()
    assert survey_a.organisation_id != survey_b.organisation_id
    # Stored as it was before the check at set time existed (it is refused now).
    Survey.objects.filter(pk=survey_a.pk).update(site_regex=r"^(a|a)*$|^Site\d")
    run_a = ImportRun.objects.create(survey=survey_a, source=str(source_a))
    run_b = ImportRun.objects.create(survey=survey_b, source=str(source_b.parent))
    for survey in (survey_a, survey_b):
        pipeline.do_transition(survey, pipeline.ANY, SurveyStatus.IMPORTING)

    extra = {"IMPORT_SLICE_SECONDS": "1", "IMPORT_BATCH_SIZE": "2",
             "USER_REGEX_TIMEOUT_SECONDS": "0.3"}
    if broker == "filesystem":
        extra["CELERY_BROKER_DIR"] = str(tmp_path / "broker")
    else:
        extra["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/13"
        import redis

        redis.Redis.from_url(extra["CELERY_BROKER_URL"]).flushdb()
    env = subprocess_env(extra)
    env.pop("REDIS_URL", None)
    if broker == "filesystem":
        env.pop("CELERY_BROKER_URL", None)
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")  # noqa: SIM115
    # One import worker, one task at a time: the case where a stalled task stalls everyone.
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "traptagger", "worker", "-Q", "import",
         "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "--hostname", "fair@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def send(run):
            subprocess.run([sys.executable, "-c", SEND, str(run.pk)], cwd=ROOT, env=env,
                           check=True, timeout=120)

        send(run_a)
        wait_for(lambda: ImportRun.objects.get(pk=run_a.pk).processed > 0,
                 "A's import to start", log_path, 120)
        send(run_b)
        wait_for(lambda: status(run_b) == ImportStatus.DONE, "B's import to finish",
                 log_path, 120)
        # B did not wait for A: A is still under way.
        assert status(run_a) in (ImportStatus.PENDING, ImportStatus.RUNNING)
        wait_for(lambda: status(run_a) == ImportStatus.DONE, "A's import to finish",
                 log_path, 150)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()

    run_a.refresh_from_db()
    run_b.refresh_from_db()
    assert (run_b.total, run_b.imported) == (4, 4)
    assert Image.objects.filter(camera__site__survey=survey_b).count() == 4
    assert (run_a.total, run_a.processed, run_a.imported) == (
        HOSTILE_FOLDERS + 1, HOSTILE_FOLDERS + 1, 1)
    reasons = list(run_a.issues.values_list("reason", flat=True))
    assert len(reasons) == HOSTILE_FOLDERS
    assert all("USER_REGEX_TIMEOUT_SECONDS" in reason for reason in reasons)
