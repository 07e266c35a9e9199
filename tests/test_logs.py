"""One log line per request and per task, with its id; JSON lines in production."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.logs import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_each_request_writes_one_line_with_its_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="traptagger.request"):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="abcdef0123456789")
        other = client.get("/accounts/login/", HTTP_X_REQUEST_ID="<script>")
    lines = [r for r in caplog.records if r.name == "traptagger.request"]
    assert len(lines) == 2
    assert lines[0].request_id == "abcdef0123456789" == response["X-Request-ID"]
    assert (lines[0].status, lines[0].path) == (200, "/healthz")
    assert lines[1].request_id == other["X-Request-ID"] != "<script>"  # a made-up id is replaced


@pytest.mark.django_db
def test_each_task_writes_one_line_with_its_id(caplog):
    from core.tasks import purge_broadcasts_task

    with caplog.at_level(logging.INFO, logger="traptagger.task"):
        result = purge_broadcasts_task.apply()
    lines = [r for r in caplog.records if r.name == "traptagger.task"]
    assert [(r.task, r.task_id, r.state) for r in lines] == [
        ("core.purge_broadcasts", result.id, "SUCCESS")]


def test_json_lines_carry_the_fields():
    record = logging.LogRecord("traptagger.request", logging.INFO, __file__, 1, "GET %s", ("/",),
                               None)
    record.request_id, record.status = "r1", 200
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET /" and entry["request_id"] == "r1" and entry["status"] == 200
    assert entry["level"] == "INFO" and "time" in entry


def test_production_logs_json_lines(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "LOG_FORMAT")}
    env.update(TRAPTAGGER_MODE="production", ALLOWED_HOSTS="tt.example.org",
               SECRET_KEY="kV3r9-Qz8LmN2pXw7TyB4hJd6FsA1cGe0UoIiRtY5nMbZ_w8Ee2Rr4Tt",
               TRAPTAGGER_VAR_DIR=str(tmp_path / "var"),
               DJANGO_SETTINGS_MODULE="traptagger.settings")
    code = ("import django, logging; django.setup(); "
            "logging.getLogger('surveys').warning('import %s stopped', 7)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["message"] == "import 7 stopped" and entry["level"] == "WARNING"
