"""Cameras full of generated boxes, for the static-detection and mask tests."""

from __future__ import annotations

import io
import random

from django.core.files.storage import default_storage
from PIL import Image as PILImage

from classifiers.models import Detection
from surveys.models import Image


def images_at(camera, count: int, *, stored: bool = False) -> list[Image]:
    """``count`` images of ``camera``; ``stored``: with a small JPEG in storage."""
    survey_id = camera.site.survey_id
    made = Image.objects.bulk_create(
        Image(camera=camera, filename=f"IMG_{camera.pk}_{n:05}.JPG",
              key=f"surveys/{survey_id}/originals/{camera.pk}_{n:05}.JPG",
              content_hash=f"{camera.pk}-{n}")
        for n in range(count))
    if stored:
        buffer = io.BytesIO()
        PILImage.new("RGB", (200, 150), (90, 120, 60)).save(buffer, "JPEG")
        for image in made:
            default_storage.save(image.key, io.BytesIO(buffer.getvalue()))
    return made


def box(image, left, top, right, bottom, **extra) -> Detection:
    return Detection(image=image, left=left, top=top, right=right, bottom=bottom,
                     score=extra.pop("score", 0.8), source=extra.pop("source", "md_v5a"),
                     **extra)


def jittered(images, base, *, rng: random.Random, jitter: float = 0.002) -> list[Detection]:
    """One box near ``base`` on each image (each edge moved by up to ``jitter``)."""
    made = []
    for image in images:
        made.append(box(image, *(v + rng.uniform(-jitter, jitter) for v in base)))
    return Detection.objects.bulk_create(made)


def random_boxes(images, per_image: int, *, rng: random.Random) -> list[Detection]:
    """Boxes anywhere, of any size up to a third of the frame's side."""
    made = []
    for image in images:
        for _ in range(per_image):
            w, h = rng.uniform(0.02, 0.3), rng.uniform(0.02, 0.3)
            left, top = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            made.append(box(image, left, top, left + w, top + h))
    return Detection.objects.bulk_create(made)
