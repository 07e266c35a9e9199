"""The timestamp chain: EXIF → file name → folder name → none; suspect values not trusted."""

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image as PILImage

from surveys.models import Image
from surveys.services.importing import do_run_import, do_start_import
from surveys.services.timestamps import choose, stamp_in_name
from tests.factories import SurveyFactory
from training.synthetic import jpeg_bytes

TZ = ZoneInfo("America/Lima")


@pytest.mark.parametrize("name, expected", [
    ("StationA__2009-04-21__00-40-00(1).JPG", datetime(2009, 4, 21, 0, 40, 0)),
    ("IMG_20190822_143005.jpg", datetime(2019, 8, 22, 14, 30, 5)),
    ("2021-04-11 20.43.09.jpg", datetime(2021, 4, 11, 20, 43, 9)),
    ("S90_2014_07_02T02-55-18.JPG", datetime(2014, 7, 2, 2, 55, 18)),
    ("x_20190822-0829_R59_100RECNX_RCNX1227.JPG", None),  # a date range and counters
    ("IMG_0001.JPG", None),
    ("2021-13-40_25-61-00.jpg", None),  # not a date
    ("1234567890123456.jpg", None),
])
def test_date_and_time_in_a_name(name, expected):
    assert stamp_in_name(name) == expected


def exif(source, *args):
    return (source, datetime(*args, tzinfo=TZ))


def test_chain_order_and_names():
    original = exif("exif_original", 2021, 1, 2, 3, 4, 5)
    digitized = exif("exif_digitized", 2021, 1, 2, 3, 4, 6)
    named = "Cam/2021-01-02_10-00-00/IMG_20210102_090000.jpg"
    assert choose([original, digitized], named, TZ).source == "exif_original"
    assert choose([digitized], named, TZ).value == digitized[1]
    by_file = choose([], named, TZ)
    assert (by_file.source, by_file.value) == ("file_name", datetime(2021, 1, 2, 9, tzinfo=TZ))
    assert "no EXIF timestamp; took 2021-01-02 09:00:00 from its file name" in by_file.note
    by_folder = choose([], "Cam/2021-01-02_10-00-00/IMG_0001.jpg", TZ)
    assert (by_folder.source, by_folder.value) == ("folder_name",
                                                   datetime(2021, 1, 2, 10, tzinfo=TZ))
    none = choose([], "Cam/IMG_0001.jpg", TZ)
    assert (none.value, none.source, none.suspect) == (None, "", False)
    assert "no EXIF timestamp and no date and time in its file or folder name" in none.note


def test_suspect_values_are_passed_over_or_kept_but_not_trusted():
    reset = exif("exif_original", 1999, 12, 31, 23, 0, 0)
    future = ("exif_original", datetime.now(TZ) + timedelta(days=2))
    good = choose([reset], "Cam/IMG_20210102_090000.jpg", TZ)
    assert good.source == "file_name" and not good.suspect and good.trusted == good.value
    assert "suspect timestamp (EXIF DateTimeOriginal 1999-12-31 23:00:00" in good.note
    for value in (reset, future):
        bad = choose([value], "Cam/IMG_0001.jpg", TZ)
        assert bad.value == value[1] and bad.suspect and bad.trusted is None
        assert "suspect timestamp" in bad.note and "not used" in bad.note
    assert choose([exif("exif_original", 2000, 1, 1, 0, 0, 0)], "x.jpg", TZ).suspect is False


@pytest.mark.django_db
def test_import_records_source_flag_and_issue(tmp_path):
    source = tmp_path / "source"
    cam = source / "Site1" / "CAM1"
    cam.mkdir(parents=True)
    pic = PILImage.new("RGB", (320, 240), (30, 90, 60))
    out = io.BytesIO()
    pic.save(out, "JPEG")  # no EXIF at all
    (cam / "IMG_20210102_090000.jpg").write_bytes(out.getvalue())
    (cam / "reset.jpg").write_bytes(jpeg_bytes(PILImage.new("RGB", (320, 240), (200, 0, 0)),
                                               datetime(1980, 1, 1, 0, 0, 0)))
    (cam / "good.jpg").write_bytes(jpeg_bytes(PILImage.new("RGB", (320, 240), (0, 0, 200)),
                                              datetime(2021, 1, 2, 9, 30, 0)))
    survey = SurveyFactory(timezone="America/Lima")
    run = do_start_import(survey, str(source))
    assert do_run_import(run) is True
    images = {i.filename: i for i in Image.objects.filter(camera__site__survey=survey)}
    named = images["IMG_20210102_090000.jpg"]
    assert (named.timestamp_source, named.timestamp_suspect) == ("file_name", False)
    assert named.corrected_timestamp == datetime(2021, 1, 2, 9, tzinfo=TZ)
    reset = images["reset.jpg"]
    assert reset.timestamp == datetime(1980, 1, 1, tzinfo=TZ) and reset.timestamp_suspect
    assert reset.corrected_timestamp is None and not reset.is_timestamped
    assert (images["good.jpg"].timestamp_source, images["good.jpg"].timestamp_suspect) == (
        "exif_original", False)
    notes = dict(run.issues.values_list("path", "reason"))
    assert "suspect timestamp 1980-01-01 00:00:00" in notes["Site1/CAM1/reset.jpg"]
    assert "from its file name" in notes["Site1/CAM1/IMG_20210102_090000.jpg"]
    assert "Site1/CAM1/good.jpg" not in notes
    assert not run.issues.filter(skipped=True).exists()


def test_garbage_exif_is_a_warning_not_a_refusal():
    from surveys.services.images import read_image

    pic = PILImage.new("RGB", (64, 48), (30, 90, 60))
    out = io.BytesIO()
    pic.save(out, "JPEG")
    data = out.getvalue()
    junk = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + bytes(range(256)) * 3
    segment = b"\xff\xe1" + (len(junk) + 2).to_bytes(2, "big") + junk
    info = read_image(data[:2] + segment + data[2:], TZ)
    assert info.timestamp is None and info.width == 64
