"""/healthz answers for each part, never with a secret; web processes never load TensorFlow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_every_part_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "cache": "ok", "channel_layer": "ok",
                              "broker": "ok"}


def test_healthz_names_the_failing_part_without_secrets(client, settings):
    settings.CELERY_BROKER_URL = "redis://:hunter2-secret@127.0.0.1:1/0"  # nothing listens
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["broker"].startswith("failing: ")
    assert body["checks"]["database"] == "ok"
    assert "hunter2" not in response.content.decode() and "127.0.0.1" not in \
        response.content.decode()


def test_web_process_never_imports_tensorflow(tmp_path):
    """What a daphne process loads: the ASGI app, every URL, every task module."""
    probe = (
        "import json, sys, time; t = time.monotonic(); "
        "import traptagger.asgi; from django.urls import get_resolver; "
        "get_resolver().url_patterns; from traptagger.celery import discover_tasks; "
        "discover_tasks(); "
        "hwm = next(int(line.split()[1]) for line in open('/proc/self/status') "
        "if line.startswith('VmHWM')); "
        "print(json.dumps({'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules, "
        "'seconds': time.monotonic() - t, 'rss_mb': hwm / 1024}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.update(DJANGO_SETTINGS_MODULE="traptagger.settings",
               TRAPTAGGER_VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["tf"] is False and got["keras"] is False
    assert got["rss_mb"] < 150
