"""A production process with a wrong service setting stops at start with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "kV3r9-Qz8LmN2pXw7TyB4hJd6FsA1cGe0UoIiRtY5nMbZ_w8Ee2Rr4Tt"


def production_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(TRAPTAGGER_MODE="production", SECRET_KEY=STRONG_KEY,
               ALLOWED_HOSTS="127.0.0.1", TRAPTAGGER_VAR_DIR=str(tmp_path / "var"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **extra)
    return env


def test_web_node_with_a_wrong_redis_url_stops_with_one_line(tmp_path):
    dead = free_port()  # nothing listens here
    env = production_env(tmp_path, REDIS_URL=f"redis://:pw-secret@127.0.0.1:{dead}/0")
    result = subprocess.run(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(free_port()),
         "traptagger.asgi:application"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert any("REDIS_URL" in line for line in lines), result.stderr
    assert "pw-secret" not in result.stderr


def test_worker_with_a_wrong_broker_stops_with_one_line(tmp_path):
    dead = free_port()
    env = production_env(tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{dead}/0")
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "traptagger", "worker", "-Q", "default",
         "--pool", "solo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert lines and all("CELERY_BROKER_URL" in line for line in lines), result.stderr


def test_web_node_with_unreachable_s3_stops_with_one_line(tmp_path):
    dead = free_port()
    env = production_env(tmp_path, AWS_STORAGE_BUCKET_NAME="media",
                         AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{dead}",
                         AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="s3-secret-key",
                         AWS_S3_REGION_NAME="us-east-1")
    result = subprocess.run(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(free_port()),
         "traptagger.asgi:application"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=180)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert len(lines) == 1 and "AWS_STORAGE_BUCKET_NAME" in lines[0], result.stderr
    assert "s3-secret-key" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("url", [
    "smtp+tls://mailer:pw-secret@mail.example.org:notaport",
    "smpt://mailer:pw-secret@mail.example.org:587",
    "smtp+tls://mailer:pw-secret@:587",
    "mailer:pw-secret@mail.example.org",
])
@pytest.mark.parametrize("mode", ["production", "embedded"])
def test_a_malformed_email_url_stops_with_one_line_without_the_password(tmp_path, url, mode):
    env = production_env(tmp_path, EMAIL_URL=url)
    if mode == "embedded":
        env = {k: v for k, v in env.items() if k != "TRAPTAGGER_MODE"}
    result = subprocess.run(
        [sys.executable, "-c", "import traptagger.asgi"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert len(lines) == 1 and "EMAIL_URL" in lines[0] and "smtp+tls://" in lines[0], \
        result.stderr
    assert "pw-secret" not in result.stderr and "Traceback" not in result.stderr
    # manage.py reports it as a system check, in one line too.
    check = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode != 0 and "core.E001" in check.stderr
    assert "pw-secret" not in check.stderr + check.stdout
