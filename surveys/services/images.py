"""Reading one camera-trap JPEG: content hash, timestamp, size and web copy.

Pure functions of the file's bytes, so the import loop can batch around them.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageFile, UnidentifiedImageError

from ..exceptions import UnreadableImage
from ..taxonomy import TimestampSource
from . import hints

WEB_WIDTH = 800
WEB_QUALITY = 80
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
DATETIME_DIGITIZED = 36868
DATETIME = 306
# Markers without a length field.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_APP1 = 0xE1
# Metadata segments: APP0..APP15 (JFIF, EXIF/XMP, ICC, IPTC/Photoshop, Adobe, ...) and COM.
_METADATA = {*range(0xE0, 0xF0), 0xFE}


@dataclass
class ImageInfo:
    content_hash: str
    timestamp: datetime | None
    width: int
    height: int
    web_jpeg: bytes
    warnings: list[str]
    # The version-1 hash (APP1 skipped only), when asked for: it finds duplicates among a
    # survey's images that were hashed before version 2 and not rehashed yet.
    legacy_hash: str = ""
    # Every EXIF date/time that parses, in chain order (services.timestamps.choose).
    exif_timestamps: list[tuple[str, datetime]] = field(default_factory=list)


def content_hash(data: bytes) -> str:
    """SHA-256 of a JPEG without its metadata: every APPn segment (EXIF, XMP, IPTC, ICC...)
    and every COM segment, skipped by their length fields without decoding them.

    Re-saving or tagging a photo's metadata therefore does not make it a new image.
    Raises UnreadableImage when ``data`` is not a JPEG or its segments are damaged.
    """
    return content_hashes(data)[0]


def legacy_content_hash(data: bytes) -> str:
    """The version-1 hash (only APP1 skipped) that surveys imported before version 2 hold."""
    return content_hashes(data, legacy=True)[1]


# The first bytes of image kinds people put in camera folders by mistake.
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"II*\x00", "TIFF"),
               (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"RIFF", "RIFF (WebP, AVI)"))


def not_a_jpeg(data: bytes) -> tuple[str, str]:
    """Why ``data`` is not a JPEG, naming what it is when that is plain; and what to do."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return f"is a {kind} file, not a JPEG (no JPEG start marker)", hints.CONVERT
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "is a HEIC file, not a JPEG (no JPEG start marker)", hints.CONVERT
    if _looks_like_text(data[:4096]):
        return "is a text file, not a JPEG (no JPEG start marker)", hints.NOT_A_PHOTO
    return "not a JPEG file (no JPEG start marker)", hints.NOT_A_PHOTO


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            sample[:len(sample) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def content_hashes(data: bytes, *, legacy: bool = False) -> tuple[str, str]:
    """(version-2 hash, version-1 hash or "" unless ``legacy``) in one walk over ``data``.

    Every step moves forward by at least one byte and every length is checked against
    the end of the data, so damaged or hostile files end in UnreadableImage, never a loop.
    """
    if len(data) < 4 or data[0:2] != b"\xff\xd8":
        raise UnreadableImage(*not_a_jpeg(data))
    current = hashlib.sha256(data[0:2])
    old = hashlib.sha256(data[0:2]) if legacy else None
    pos = 2
    end = len(data)
    view = memoryview(data)  # slices of it hash without copying megabytes
    scanned = False
    while pos < end:
        if data[pos] != 0xFF:
            raise UnreadableImage(f"damaged JPEG: no segment marker at byte {pos}",
                                  hints.RECOPY)
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE or marker == 0xD9:
            _update(current, old, bytes((0xFF, marker)), marker)
            if marker == 0xD9:  # end of image
                break
            continue
        if pos + 2 > end:
            raise UnreadableImage("damaged JPEG: truncated segment header", hints.RECOPY)
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2 or pos + length > end:
            raise UnreadableImage("damaged JPEG: segment runs past the end of the file",
                                  hints.RECOPY)
        segment = view[pos:pos + length]
        _update(current, old, bytes((0xFF, marker)), marker)
        _update(current, old, segment, marker)
        pos += length
        if marker == 0xDA:  # start of scan: the rest is image data
            _update(current, old, view[pos:], marker)
            scanned = True
            break
    if not scanned:
        raise UnreadableImage("damaged JPEG: it ends before its image data (no start of scan)",
                              hints.RECOPY)
    return current.hexdigest(), old.hexdigest() if old is not None else ""


def _update(current, old, chunk: bytes, marker: int) -> None:
    if marker not in _METADATA:
        current.update(chunk)
    if old is not None and marker != _APP1:
        old.update(chunk)


def _parse_exif_datetime(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    value = str(value).strip("\x00 ")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            return datetime.strptime(value[:19], fmt)
        except ValueError:
            continue
    return None


def exif_timestamps(img: PILImage.Image, tz: ZoneInfo) -> list[tuple[str, datetime]]:
    """The EXIF date/times that parse, in chain order: (TimestampSource value, value in the
    cameras' time zone) for DateTimeOriginal, DateTimeDigitized, DateTime."""
    exif = img.getexif()
    sub = exif.get_ifd(EXIF_IFD)
    found = []
    for source, raw in ((TimestampSource.DATETIME_ORIGINAL, sub.get(DATETIME_ORIGINAL)),
                        (TimestampSource.DATETIME_DIGITIZED, sub.get(DATETIME_DIGITIZED)),
                        (TimestampSource.DATETIME, exif.get(DATETIME))):
        parsed = _parse_exif_datetime(raw)
        if parsed is not None:
            found.append((source, parsed.replace(tzinfo=tz)))
    return found


def exif_timestamp(img: PILImage.Image, tz: ZoneInfo) -> datetime | None:
    """DateTimeOriginal, else DateTimeDigitized, else DateTime, in the cameras' time zone."""
    found = exif_timestamps(img, tz)
    return found[0][1] if found else None


def read_image(data: bytes, tz: ZoneInfo, *, legacy_hash: bool = False) -> ImageInfo:
    """Read a JPEG's facts and make its 800 px web copy (``legacy_hash``: and its
    version-1 hash, for a survey that still holds images hashed that way).

    Raises UnreadableImage, with a reason a person can act on, for anything
    that is not a whole, decodable JPEG of an acceptable size.
    """
    if not data:
        raise UnreadableImage("empty file (0 bytes)", hints.RECOPY)
    digest, legacy = content_hashes(data, legacy=legacy_hash)
    PILImage.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
    # A cut-off file is refused even when another library in this process switched
    # Pillow to fill truncated images in (some camera-trap tools do at import).
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # Sizes between the limit and twice it only warn; the check below refuses them.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # damaged EXIF: per-tag warnings
            img = PILImage.open(io.BytesIO(data))
    except PILImage.DecompressionBombError as exc:
        raise UnreadableImage(
            f"is larger than the limit of {settings.MAX_IMAGE_PIXELS} pixels "
            "(MAX_IMAGE_PIXELS); refusing a possible decompression bomb", hints.TOO_BIG
        ) from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise UnreadableImage(f"cannot be read as an image ({exc})", hints.RECOPY) from exc
    # MPO is a JPEG with extra preview frames (many trail cameras write it).
    if img.format not in ("JPEG", "MPO"):
        raise UnreadableImage(f"is a {img.format} image, not a JPEG", hints.CONVERT)
    width, height = img.size
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise UnreadableImage(
            f"is {width}×{height} pixels, above the limit of {settings.MAX_IMAGE_PIXELS} "
            "(MAX_IMAGE_PIXELS); refusing a possible decompression bomb", hints.TOO_BIG
        )
    notes = []
    try:
        with warnings.catch_warnings():  # damaged EXIF warns for each tag it skips
            warnings.simplefilter("ignore", UserWarning)
            stamps = exif_timestamps(img, tz)
    except Exception as exc:  # garbage EXIF must not cost the picture
        stamps = []
        notes.append(f"its EXIF block cannot be read ({type(exc).__name__}); "
                     "imported without its EXIF timestamp")
    timestamp = stamps[0][1] if stamps else None
    try:
        web = make_web_copy(img)
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnreadableImage(f"damaged image data ({exc})", hints.RECOPY) from exc
    return ImageInfo(digest, timestamp, width, height, web, notes, legacy, stamps)


def make_web_copy(img: PILImage.Image) -> bytes:
    """An RGB JPEG at most 800 px wide, quality 80 (detectors need 3 channels)."""
    width, height = img.size
    target_w = min(WEB_WIDTH, width)
    target_h = max(1, round(height * target_w / width))
    img.draft("RGB", (target_w, target_h))  # lets libjpeg decode at reduced scale
    img = img.convert("RGB")
    if img.size != (target_w, target_h):
        img = img.resize((target_w, target_h), PILImage.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=WEB_QUALITY)
    return out.getvalue()
