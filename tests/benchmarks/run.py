"""Import benchmark: figures and ratios against baselines measured in the same run.

    make bench            (or: .venv/bin/python -m tests.benchmarks.run [--images N])

Baselines:
* ``naive read``: what a straightforward importer does per file: read the bytes, hash the
  whole file, decode the full-size JPEG and resize it to 800 px.
* ``our read``: surveys.services.images.read_image (EXIF-free hash, reduced-size decode).
* ``full import``: run_import end to end (storage writes, bulk inserts, progress events),
  into a throw-away SQLite database.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1536)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-"))
    os.environ["TRAPTAGGER_VAR_DIR"] = str(tmp / "var")
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT"):
        os.environ.pop(name, None)
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
        survey = Survey.objects.create(organisation=org, name=f"Bench {time.time()}")
        do_run_import(do_start_import(survey, str(source)))

    whole = timed("full import", full, files)
    print(f"our read / naive read:    {ours / base:5.2f}x")
    print(f"full import / naive read: {whole / base:5.2f}x")


if __name__ == "__main__":
    main()
