"""Square, black-padded crops of boxes, many from one decode of their image.

The crop is the classifier's input crop (classifiers.services.classification
``square_crop``): the box expanded about its centre to a square of its longer
side, black outside the image, resized to ``size``. Here every box of an image is
cut from one decode, and a JPEG is decoded at the smallest DCT scale (1/2, 1/4,
1/8: ``Image.draft``) that still gives every box at least ``size`` pixels a side,
instead of at full size once per box.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence

from PIL import Image as PILImage

CROP_SIZE = 256
CROP_QUALITY = 90
Box = tuple[float, float, float, float]  # left, top, right, bottom, relative 0..1


def crop_name(detection_id: int, box: Box, size: int) -> str:
    """The crop's file name: the same box of the same detection at the same size
    gives the same name (so it is reused); an edited box gives a new one."""
    digest = hashlib.sha1(
        ",".join(f"{v:.6f}" for v in box).encode() + f",{size}".encode()).hexdigest()[:10]
    return f"{detection_id}_{digest}.jpg"


def needed_scale(width: int, height: int, boxes: Sequence[Box], size: int) -> float:
    """The smallest decode scale (≤ 1) at which every box's square is ≥ ``size`` pixels."""
    scale = 0.0
    for left, top, right, bottom in boxes:
        side = max((right - left) * width, (bottom - top) * height, 1.0)
        scale = max(scale, size / side)
    return min(scale, 1.0)


def decode_for(data: bytes, boxes: Sequence[Box], size: int) -> PILImage.Image:
    """The image decoded once, reduced as far as ``boxes`` allow, in RGB."""
    img = PILImage.open(io.BytesIO(data))
    width, height = img.size
    scale = needed_scale(width, height, boxes, size)
    if scale < 1 and img.format == "JPEG":
        img.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    return img.convert("RGB")


def square_crop(img: PILImage.Image, box: Box, size: int) -> PILImage.Image:
    """The box's square crop of ``img`` (any scale of the original), black-padded."""
    w, h = img.size
    left, top, right, bottom = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    side = max(right - left, bottom - top, 1.0)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    # crop() pads with black outside the image.
    square = img.crop((round(cx - side / 2), round(cy - side / 2),
                       round(cx + side / 2), round(cy + side / 2)))
    return square.resize((size, size), PILImage.Resampling.BILINEAR)


def jpeg(img: PILImage.Image, quality: int = CROP_QUALITY) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def crops_of_image(data: bytes, boxes: Sequence[Box], size: int = CROP_SIZE) -> list[bytes]:
    """JPEG crops of ``boxes`` of the image in ``data``, in order, from one decode.

    Raises OSError (PIL's UnidentifiedImageError among them) for data that is no image.
    """
    img = decode_for(data, boxes, size)
    return [jpeg(square_crop(img, box, size)) for box in boxes]


def naive_crop(data: bytes, box: Box, size: int = CROP_SIZE) -> bytes:
    """One crop from a full-size decode: the baseline the benchmark measures against."""
    img = PILImage.open(io.BytesIO(data)).convert("RGB")
    return jpeg(square_crop(img, box, size))
