"""The bad-input list of an import: each file is an ImportIssue with its path, a reason and a
hint of what to do; the import goes on and the good files are stored."""

import io
import os
import random
from datetime import datetime

import pytest
from PIL import Image as PILImage

from surveys.exceptions import ImportSourceError
from surveys.models import Image
from surveys.services.importing import check_remote_source, do_run_import, do_start_import
from tests.factories import SurveyFactory
from training.synthetic import jpeg_bytes, scene

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]


def photo(n: int, size=(320, 240)) -> bytes:
    img, _ = scene(random.Random(n), "Zebra", *size)
    return jpeg_bytes(img, datetime(2024, 5, 1, 8, 0, n))


def garbage_exif(data: bytes) -> bytes:
    junk = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + bytes(range(256)) * 2
    return data[:2] + b"\xff\xe1" + (len(junk) + 2).to_bytes(2, "big") + junk + data[2:]


@pytest.mark.timeout(120)
def test_each_bad_input_is_an_issue_with_path_reason_and_hint(tmp_path, settings):
    settings.MAX_IMAGE_PIXELS = 1000 * 1000
    src = tmp_path / "src"
    cam = src / "SiteA" / "CAM1"
    cam.mkdir(parents=True)
    (cam / "good.jpg").write_bytes(photo(1))
    (cam / "empty.jpg").write_bytes(b"")
    whole = photo(2)
    (cam / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (cam / "notes.jpg").write_text("field notes: camera 3 fell over\n")
    png = io.BytesIO()
    PILImage.new("RGB", (64, 48), (1, 2, 3)).save(png, "PNG")
    (cam / "screenshot.jpg").write_bytes(png.getvalue())
    (cam / "bomb.jpg").write_bytes(photo(3, size=(1400, 1000)))  # over MAX_IMAGE_PIXELS
    (cam / "garbage_exif.jpg").write_bytes(garbage_exif(photo(4)))
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(photo(5))
    (cam / "escape.jpg").symlink_to(outside)
    (cam / "gone.jpg").symlink_to(cam / "deleted-meanwhile.jpg")  # unreadable: stat fails
    deep = src / ("d" * 200) / ("e" * 200) / ("f" * 200)
    deep.mkdir(parents=True)
    (deep / "deep.jpg").write_bytes(photo(6))
    unreadable = None
    if os.geteuid() != 0:  # root reads whatever the mode says
        unreadable = cam / "locked.jpg"
        unreadable.write_bytes(photo(7))
        unreadable.chmod(0)
    survey = SurveyFactory()
    run = do_start_import(survey, str(src))
    assert do_run_import(run) is True
    run.refresh_from_db()
    issues = {i.path: i for i in run.issues.all()}
    expected = {
        "SiteA/CAM1/empty.jpg": ("empty file", "card again", True),
        "SiteA/CAM1/truncated.jpg": ("damaged", "card again", True),
        "SiteA/CAM1/notes.jpg": ("is a text file, not a JPEG", "not a photo", True),
        "SiteA/CAM1/screenshot.jpg": ("is a PNG file, not a JPEG", "convert it to JPEG", True),
        "SiteA/CAM1/bomb.jpg": ("decompression bomb", "MAX_IMAGE_PIXELS", True),
        "SiteA/CAM1/garbage_exif.jpg": ("no EXIF timestamp", "Set the image's timestamp",
                                        False),
        "SiteA/CAM1/escape.jpg": ("outside the survey folder", "instead of linking", True),
        "SiteA/CAM1/gone.jpg": ("cannot be read", "read the file", True),
        f"{'d' * 200}/{'e' * 200}/{'f' * 200}/deep.jpg": ("Camera.path", "Rename", True),
    }
    if unreadable is not None:
        expected["SiteA/CAM1/locked.jpg"] = ("cannot be read", "permissions", True)
    assert set(issues) == set(expected)
    for path, (reason, hint, skipped) in expected.items():
        found = issues[path]
        assert reason in found.reason and hint in found.hint and found.skipped is skipped, (
            path, found.reason, found.hint)
    stored = set(Image.objects.filter(camera__site__survey=survey)
                 .values_list("filename", flat=True))
    assert stored == {"good.jpg", "garbage_exif.jpg"}
    assert f"{len(expected)} issue(s) recorded" in run.message


def test_a_source_with_dot_dot_is_refused(tmp_path, settings):
    settings.IMPORT_ROOT = str(tmp_path)
    survey = SurveyFactory()
    (tmp_path / str(survey.organisation_id)).mkdir()
    for source in ("../..", "season/../../x", "/etc"):
        with pytest.raises(ImportSourceError, match="import area"):
            check_remote_source(survey, source)
