"""``annotation_loadtest`` against a real server: log-ins over HTTP, real websockets, and
no cluster leased twice, no acknowledged label lost (checked against the database).

With Redis (REDIS_URL) the server is two daphne workers on one socket (serve_web);
without, one.
"""

import json
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from annotation.models import ClusterAnnotation
from tests.annotation.helpers import launched_task
from tests.conftest import free_port, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def web_server(transactional_db, tmp_path):
    port = free_port()
    env = subprocess_env({"TRAPTAGGER_VAR_DIR": str(tmp_path / "var"),
                          "CHANNELS_PREFIX": f"loadtest{port}"})
    workers = "2" if settings.CHANNEL_LAYER_SHARED else "1"
    if not settings.CHANNEL_LAYER_SHARED:
        env.pop("REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    log = open(tmp_path / "web.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "manage.py", "serve_web", "--port", str(port),
                             "--workers", workers], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "web.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
            time.sleep(0.2)
    time.sleep(1.5)  # the second worker loads the app too
    yield f"http://127.0.0.1:{port}", int(workers)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def test_the_load_test_labels_through_a_real_server_and_checks_the_database(web_server):
    url, workers = web_server
    task = launched_task(40)
    out = StringIO()
    call_command("annotation_loadtest", "--task", str(task.pk), "--annotators", "4",
                 "--seconds", "3", "--url", url, "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["connected"] == 4 and report["handshake_failures"] == 0, report
    assert report["double_leases"] == 0 and report["lost_labels"] == 0, report
    assert report["errors"] == 0, report
    assert report["labels"] > 0 and report["p50_ms"] is not None, report
    saved = ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
    assert saved.count() == report["labels"]
    assert set(saved.values_list("annotator__username", flat=True)) <= {
        f"loadtest-{task.survey.organisation_id}-{n:03}" for n in range(4)}
    # Closed sockets gave back what they held: nothing is left leased.
    assert not ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=True,
                                                leased_to__isnull=False,
                                                lease_expires_at__gt=time_now()).exists()
    # A second run reuses the accounts (a new password, one hash for all of them).
    out = StringIO()
    call_command("annotation_loadtest", "--task", str(task.pk), "--annotators", "4",
                 "--seconds", "1", "--url", url, "--pace", "0.5", stdout=out)
    assert "double leases 0, lost labels 0" in out.getvalue(), out.getvalue()


def time_now():
    from django.utils import timezone

    return timezone.now()
