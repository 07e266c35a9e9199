"""Synthetic camera-trap scenes: the demo survey and the demo classifier's training data.

Nothing here is downloaded. Three made-up "species" with distinct shapes and
coats walk across generated savanna backgrounds; the same drawing code makes
the demo survey's JPEGs and the crops the demo classifier learns from, so the
classifier recognises the demo animals.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter

SPECIES = ("Zebra", "Elephant", "Lion")
EXIF_IFD = 0x8769


def background(rng: random.Random, width: int, height: int) -> PILImage.Image:
    """Sky, horizon and textured grass with a few bushes."""
    nprng = np.random.default_rng(rng.randrange(2**32))
    horizon = int(height * rng.uniform(0.25, 0.4))
    img = np.zeros((height, width, 3), dtype=np.float32)
    sky_top, sky_low = np.array([120, 160, 210]), np.array([200, 215, 230])
    for y in range(horizon):
        t = y / max(1, horizon - 1)
        img[y] = sky_top * (1 - t) + sky_low * t
    grass = np.array([rng.uniform(150, 185), rng.uniform(140, 165), rng.uniform(80, 100)])
    img[horizon:] = grass
    noise = nprng.normal(0, 12, (height - horizon, width, 1))
    img[horizon:] += noise
    pil = PILImage.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.randint(3, 7)):
        bx = rng.uniform(0, width)
        by = rng.uniform(horizon - height * 0.03, height * 0.95)
        r = rng.uniform(0.03, 0.08) * width
        shade = (int(rng.uniform(60, 90)), int(rng.uniform(90, 120)), int(rng.uniform(40, 60)))
        draw.ellipse((bx - r, by - r * 0.6, bx + r, by + r * 0.6), fill=shade)
    return pil.filter(ImageFilter.GaussianBlur(0.8))


def draw_animal(img: PILImage.Image, species: str, cx: float, cy: float, size: float,
                rng: random.Random) -> tuple[float, float, float, float]:
    """Draw ``species`` centred at (cx, cy), ``size`` px long; return its box in pixels."""
    draw = ImageDraw.Draw(img)
    facing = rng.choice((-1, 1))
    if species == "Zebra":
        w, h = size, size * 0.5
        body = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        draw.ellipse(body, fill=(240, 240, 235))
        for i in range(8):
            x = body[0] + w * (0.08 + i * 0.11)
            draw.line((x, body[1] + 2, x + facing * w * 0.03, body[3] - 2), fill=(20, 20, 20),
                      width=max(2, int(w * 0.04)))
        head = (cx + facing * w * 0.55 - h * 0.25, cy - h * 0.7, cx + facing * w * 0.55 + h * 0.25,
                cy - h * 0.1)
        draw.ellipse(head, fill=(235, 235, 230), outline=(20, 20, 20), width=2)
        for lx in (-0.3, -0.15, 0.15, 0.3):
            x = cx + lx * w
            draw.line((x, cy + h * 0.3, x, cy + h * 0.95), fill=(30, 30, 30),
                      width=max(2, int(w * 0.04)))
        box = (min(body[0], head[0]), head[1], max(body[2], head[2]), cy + h * 0.95)
    elif species == "Elephant":
        w, h = size, size * 0.7
        body = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        grey = (int(rng.uniform(105, 125)),) * 3
        draw.ellipse(body, fill=grey)
        hx = cx + facing * w * 0.5
        head = (hx - h * 0.35, cy - h * 0.55, hx + h * 0.35, cy + h * 0.15)
        draw.ellipse(head, fill=grey)
        draw.rectangle((hx + facing * h * 0.1 - h * 0.07, cy, hx + facing * h * 0.1 + h * 0.07,
                        cy + h * 0.75), fill=grey)
        for lx in (-0.3, -0.1, 0.1, 0.3):
            x = cx + lx * w
            draw.rectangle((x - w * 0.06, cy + h * 0.2, x + w * 0.06, cy + h * 0.85), fill=grey)
        box = (min(body[0], head[0]), head[1], max(body[2], head[2]), cy + h * 0.85)
    elif species == "Lion":
        w, h = size, size * 0.45
        coat = (int(rng.uniform(190, 210)), int(rng.uniform(140, 160)), int(rng.uniform(60, 80)))
        body = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        draw.ellipse(body, fill=coat)
        hx = cx + facing * w * 0.5
        mane = (hx - h * 0.6, cy - h * 0.9, hx + h * 0.6, cy + h * 0.3)
        draw.ellipse(mane, fill=(110, 60, 25))
        draw.ellipse((hx - h * 0.32, cy - h * 0.6, hx + h * 0.32, cy + h * 0.05), fill=coat)
        for lx in (-0.3, -0.12, 0.12, 0.3):
            x = cx + lx * w
            draw.line((x, cy + h * 0.2, x, cy + h * 1.0), fill=coat, width=max(2, int(w * 0.06)))
        box = (min(body[0], mane[0]), mane[1], max(body[2], mane[2]), cy + h * 1.0)
    else:
        raise ValueError(f"unknown species {species!r}")
    return box


def scene(rng: random.Random, species: str | None, width: int, height: int,
          base: PILImage.Image | None = None, position: tuple[float, float, float] | None = None):
    """One frame: a background (given or new) with an optional animal; returns (image, box)."""
    img = (base or background(rng, width, height)).copy()
    if species is None:
        return img, None
    cx, cy, size = position or (
        rng.uniform(0.2, 0.8) * width, rng.uniform(0.55, 0.8) * height,
        rng.uniform(0.15, 0.35) * width,
    )
    box = draw_animal(img, species, cx, cy, size, rng)
    return img, box


def jpeg_bytes(img: PILImage.Image, taken: datetime | None, *, quality: int = 88) -> bytes:
    """Encode ``img`` as a JPEG whose EXIF carries the camera's local ``taken`` time."""
    exif = PILImage.Exif()
    exif[0x010F] = "TrapTagger Demo"  # Make
    exif[0x0110] = "SynthCam 1"  # Model
    if taken is not None:
        stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
        exif[0x0132] = stamp  # DateTime
        exif.get_ifd(EXIF_IFD)[36867] = stamp  # DateTimeOriginal
        exif.get_ifd(EXIF_IFD)[36868] = stamp  # DateTimeDigitized
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


@dataclass
class DemoImage:
    path: str
    species: str | None
    taken: datetime


DEMO_CAMERAS = {"Kopje": ["CAM01"], "Riverbed": ["CAM02", "CAM03"], "Waterhole": ["CAM04"]}
# Where the demo's sites stand (latitude, longitude; invented points in the Serengeti).
DEMO_COORDINATES = {"Kopje": (-2.4362, 34.8526), "Riverbed": (-2.3317, 34.8331),
                    "Waterhole": (-2.4871, 34.9402)}


def write_demo_survey(dest: Path, *, seed: int = 7, bursts_per_camera: int = 4,
                      frames: int = 3, width: int = 1280, height: int = 960) -> list[DemoImage]:
    """Write a small survey of realistic JPEGs under ``dest``: Site/Camera/IMG_nnnn.JPG.

    Each camera takes bursts of ``frames`` shots 2 s apart, bursts at least
    ten minutes apart, so every burst is one cluster. About one burst in five
    is empty (wind, a false trigger). Returns what was drawn, for checks.
    """
    rng = random.Random(seed)
    written: list[DemoImage] = []
    start = datetime(2024, 7, 14, 6, 0, 0)
    for site, cameras in DEMO_CAMERAS.items():
        for camera in cameras:
            folder = dest / site / camera
            folder.mkdir(parents=True, exist_ok=True)
            base = background(rng, width, height)
            when = start + timedelta(minutes=rng.randint(0, 50))
            number = 1
            for _ in range(bursts_per_camera):
                species = None if rng.random() < 0.2 else rng.choice(SPECIES)
                cx = rng.uniform(0.3, 0.7) * width
                cy = rng.uniform(0.6, 0.75) * height
                size = rng.uniform(0.18, 0.3) * width
                step = rng.choice((-1, 1)) * size * 0.5
                for f in range(frames):
                    img, _ = scene(rng, species, width, height, base=_lit(base, rng),
                                   position=(cx + f * step, cy, size))
                    taken = when + timedelta(seconds=2 * f)
                    name = f"IMG_{number:04d}.JPG"
                    (folder / name).write_bytes(jpeg_bytes(img, taken))
                    written.append(DemoImage(f"{site}/{camera}/{name}", species, taken))
                    number += 1
                when += timedelta(minutes=rng.randint(10, 180))
    return written


def _lit(base: PILImage.Image, rng: random.Random) -> PILImage.Image:
    """The same view with a little sensor noise, as consecutive frames have."""
    arr = np.asarray(base, dtype=np.int16)
    noise = np.random.default_rng(rng.randrange(2**32)).integers(-4, 5, arr.shape[:2])[..., None]
    return PILImage.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))


def training_frames(count_per_class: int, *, seed: int = 11, width: int = 400,
                    height: int = 300):
    """Yield (image, box, species) frames for training the demo classifier."""
    rng = random.Random(seed)
    for species in SPECIES:
        for _ in range(count_per_class):
            img, box = scene(rng, species, width, height)
            yield img, box, species
