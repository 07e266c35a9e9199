"""Reading one JPEG: hash without EXIF, timestamps, web copy, refusals."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image as PILImage

from surveys.exceptions import UnreadableImage
from surveys.services.images import content_hash, read_image
from training.synthetic import jpeg_bytes

TZ = ZoneInfo("Africa/Johannesburg")


def picture(width=1600, height=1200, colour=(90, 120, 60)):
    return PILImage.new("RGB", (width, height), colour)


def test_hash_ignores_exif_but_not_pixels():
    img = picture()
    a = jpeg_bytes(img, datetime(2023, 1, 1, 10, 0, 0))
    b = jpeg_bytes(img, datetime(2024, 6, 6, 12, 30, 0))  # same pixels, other metadata
    c = jpeg_bytes(picture(colour=(200, 40, 30)), datetime(2023, 1, 1, 10, 0, 0))
    assert a != b
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(c)


def test_reads_timestamp_in_camera_time_zone_and_makes_800px_copy():
    data = jpeg_bytes(picture(), datetime(2021, 4, 11, 20, 43, 9))
    info = read_image(data, TZ)
    assert info.timestamp == datetime(2021, 4, 11, 20, 43, 9, tzinfo=TZ)
    assert (info.width, info.height) == (1600, 1200)
    web = PILImage.open(io.BytesIO(info.web_jpeg))
    assert web.size == (800, 600) and web.mode == "RGB" and web.format == "JPEG"
    assert info.warnings == []


def test_falls_back_to_datetime_digitized_then_datetime():
    exif = PILImage.Exif()
    exif[0x0132] = "2019:05:01 08:00:00"  # DateTime only
    out = io.BytesIO()
    picture(400, 300).save(out, "JPEG", exif=exif.tobytes())
    assert read_image(out.getvalue(), TZ).timestamp == datetime(2019, 5, 1, 8, 0, tzinfo=TZ)
    exif.get_ifd(0x8769)[36868] = "2019:05:01 07:59:58"  # DateTimeDigitized wins
    out = io.BytesIO()
    picture(400, 300).save(out, "JPEG", exif=exif.tobytes())
    assert read_image(out.getvalue(), TZ).timestamp == datetime(2019, 5, 1, 7, 59, 58, tzinfo=TZ)


def test_exif_candidates_in_chain_order():
    no_stamp = read_image(jpeg_bytes(picture(400, 300), None), TZ)
    assert no_stamp.timestamp is None and no_stamp.exif_timestamps == []
    old = read_image(jpeg_bytes(picture(400, 300), datetime(1999, 12, 31, 23, 0)), TZ)
    # Suspect or not is decided with the file's name (services.timestamps.choose).
    assert [s for s, _ in old.exif_timestamps] == ["exif_original", "exif_digitized",
                                                   "exif_datetime"]
    assert old.warnings == []


def test_small_image_is_not_enlarged_and_grey_becomes_rgb():
    out = io.BytesIO()
    PILImage.new("L", (640, 360), 128).save(out, "JPEG")
    info = read_image(out.getvalue(), TZ)
    web = PILImage.open(io.BytesIO(info.web_jpeg))
    assert web.size == (640, 360) and web.mode == "RGB"


@pytest.mark.hostile
@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"GIF89a....", "not a JPEG"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "segment runs past the end"),
])
def test_unreadable_files_are_refused_with_a_reason(data, reason):
    with pytest.raises(UnreadableImage, match=reason):
        read_image(data, TZ)


@pytest.mark.hostile
def test_truncated_image_data_is_refused():
    data = jpeg_bytes(picture(), datetime(2022, 1, 1))
    with pytest.raises(UnreadableImage):
        read_image(data[: len(data) // 3], TZ)


@pytest.mark.hostile
@pytest.mark.parametrize("size", [(1200, 1000), (1600, 1500)])  # over 1x and over 2x
def test_decompression_bomb_is_refused(settings, size):
    settings.MAX_IMAGE_PIXELS = 1000 * 1000
    data = jpeg_bytes(picture(*size), datetime(2022, 1, 1))
    with pytest.raises(UnreadableImage, match="decompression bomb"):
        read_image(data, TZ)


def test_cut_off_jpeg_is_refused_even_if_pillow_was_told_to_fill_it_in():
    import random

    from PIL import ImageFile

    from training.synthetic import scene

    whole = jpeg_bytes(scene(random.Random(3), "Zebra", 640, 480)[0],
                       datetime(2022, 3, 1, 12, 0, 0))
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as some libraries set at import
    try:
        with pytest.raises(UnreadableImage, match="damaged"):
            read_image(whole[: len(whole) // 2], ZoneInfo("UTC"))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
