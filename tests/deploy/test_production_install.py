"""A production install is enough: every module imports and every command answers --help.

``deploy/Dockerfile`` installs ``requirements/base.txt`` (+ ``mysql.txt``, and ``detector.txt``
without dependencies). This builds a virtualenv from exactly those files (not ``dev.txt`` or
the checkers; ``mysql.txt`` needs the MariaDB headers and is only imported for a MySQL URL) and
runs ``tests/support/import_everything.py`` in it. The virtualenv is kept under the user's cache,
keyed by the requirement files' content, so it is built again only when they change.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
pytestmark = pytest.mark.slow


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "traptagger-tests"


def production_venv() -> Path:
    files = [REQUIREMENTS / "base.txt", REQUIREMENTS / "detector.txt"]
    key = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    venv = cache_dir() / f"production-venv-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    subprocess.run(["rm", "-rf", str(venv)], check=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for args in (["-r", str(files[0])], ["--no-deps", "-r", str(files[1])]):
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", *args],
                              capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"pip install {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    (venv / ".complete").touch()
    return python


def test_base_requirements_import_every_module_and_every_command(tmp_path):
    python = production_venv()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_URL", "REDIS_URL", "CELERY_", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH="", TRAPTAGGER_VAR_DIR=str(tmp_path))
    done = subprocess.run([str(python), str(ROOT / "tests/support/import_everything.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["modules"] > 200 and report["commands"] > 30, report
    assert report["failures"] == [], "\n".join(report["failures"])
