"""Importing folders of JPEGs: sites, cameras, timestamps, issues, re-runs."""

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from surveys.models import Camera, Image, ImportRun, Site
from surveys.services.importing import do_run_import, do_start_import
from surveys.taxonomy import ImportStatus, SurveyStatus
from tests.conftest import CAMERA_TRAPS
from tests.factories import OrganisationFactory, SurveyFactory
from training.synthetic import jpeg_bytes, scene

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def with_new_exif(data: bytes, stamp: str) -> bytes:
    """``data`` with its APP1 (EXIF) segment replaced, image data untouched."""
    from PIL import Image as PILImage

    exif = PILImage.Exif()
    exif.get_ifd(0x8769)[36867] = stamp
    payload = b"Exif\x00\x00" + exif.tobytes()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    pos, out = 2, bytearray(data[:2])
    while data[pos + 1] != 0xDA:
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if data[pos + 1] != 0xE1:
            out += data[pos:pos + 2 + length]
        pos += 2 + length
    return bytes(out[:2]) + segment + bytes(out[2:]) + data[pos:]


def import_folder(survey, folder) -> ImportRun:
    run = do_start_import(survey, str(folder))
    assert do_run_import(run) is True
    run.refresh_from_db()
    return run


def test_imports_generated_survey(demo_source):
    root, truth = demo_source
    survey = SurveyFactory(timezone="Africa/Nairobi")
    run = import_folder(survey, root)
    assert run.status == ImportStatus.DONE
    assert (run.total, run.processed, run.imported) == (48, 48, 48)
    assert not run.issues.exists()
    assert set(Site.objects.filter(survey=survey).values_list("name", flat=True)) == {
        "Kopje", "Riverbed", "Waterhole"}
    assert set(Camera.objects.filter(site__survey=survey).values_list("path", flat=True)) == {
        "Kopje/CAM01", "Riverbed/CAM02", "Riverbed/CAM03", "Waterhole/CAM04"}
    tz = ZoneInfo("Africa/Nairobi")
    for item in truth:
        image = Image.objects.get(camera__path=os.path.dirname(item.path),
                                  filename=os.path.basename(item.path))
        assert image.timestamp == item.taken.replace(tzinfo=tz)
        assert image.corrected_timestamp == image.timestamp
        assert default_storage.exists(image.key) and default_storage.exists(image.web_key)
    survey.refresh_from_db()
    assert survey.image_count == 48
    assert survey.status == SurveyStatus.CLUSTERING  # the pipeline moved on


@pytest.mark.hostile
def test_bad_files_are_reported_by_name_and_import_goes_on(tmp_path):
    good, _ = scene(__import__("random").Random(1), "Zebra", 640, 480)
    site = tmp_path / "SiteA" / "CAM1"
    site.mkdir(parents=True)
    (site / "good.jpg").write_bytes(jpeg_bytes(good, datetime(2022, 3, 1, 12, 0, 0)))
    (site / "empty.JPG").write_bytes(b"")
    (site / "notes.jpeg").write_text("this is not a photo")
    whole = jpeg_bytes(good, datetime(2022, 3, 1, 12, 0, 5))
    (site / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (site / "readme.txt").write_text("ignored: not a JPEG name")
    survey = SurveyFactory()
    run = import_folder(survey, tmp_path)
    assert run.status == ImportStatus.DONE
    assert run.imported == 1 and run.total == 4
    reasons = dict(run.issues.values_list("path", "reason"))
    assert set(reasons) == {"SiteA/CAM1/empty.JPG", "SiteA/CAM1/notes.jpeg", "SiteA/CAM1/cut.jpg"}
    assert "empty file" in reasons["SiteA/CAM1/empty.JPG"]
    assert "not a JPEG" in reasons["SiteA/CAM1/notes.jpeg"]


def test_rerun_adds_only_what_is_missing_and_drops_duplicates(demo_source, tmp_path):
    root, _ = demo_source
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    survey = SurveyFactory()
    first = import_folder(survey, copy)
    assert first.imported == 48
    # The same photo under a new name, its metadata rewritten: a duplicate.
    original = (copy / "Kopje" / "CAM01" / "IMG_0001.JPG").read_bytes()
    (copy / "Kopje" / "CAM01" / "IMG_9999.JPG").write_bytes(
        with_new_exif(original, "2030:01:01 00:00:00"))
    second = import_folder(survey, copy)
    assert second.imported == 0
    issues = list(second.issues.values_list("path", "reason"))
    assert len(issues) == 1 and issues[0][0] == "Kopje/CAM01/IMG_9999.JPG"
    assert "duplicate" in issues[0][1]
    assert Image.objects.filter(camera__site__survey=survey).count() == 48


def test_a_claimed_run_is_not_run_twice(demo_source):
    root, _ = demo_source
    survey = SurveyFactory()
    run = do_start_import(survey, str(root))
    assert do_run_import(run) is True
    assert do_run_import(run) is False
    assert Image.objects.filter(camera__site__survey=survey).count() == 48


def test_site_regex_and_unmatched_folders(demo_source):
    root, _ = demo_source
    survey = SurveyFactory(site_regex=r"Kopje|River\w+")
    run = import_folder(survey, root)
    assert set(Site.objects.filter(survey=survey).values_list("name", flat=True)) == {
        "Kopje", "Riverbed"}
    unmatched = run.issues.filter(path__startswith="Waterhole/")
    assert unmatched.count() == 12
    assert "does not match the site regex" in unmatched.first().reason


@pytest.mark.hostile
def test_symlink_leading_outside_is_refused(tmp_path):
    secret = tmp_path / "outside.jpg"
    img, _ = scene(__import__("random").Random(2), None, 320, 240)
    secret.write_bytes(jpeg_bytes(img, datetime(2022, 1, 1)))
    survey_dir = tmp_path / "survey" / "SiteA"
    survey_dir.mkdir(parents=True)
    (survey_dir / "link.jpg").symlink_to(secret)
    run = import_folder(SurveyFactory(), tmp_path / "survey")
    assert run.imported == 0
    assert "outside the survey folder" in run.issues.get().reason


def test_command_refuses_missing_folder_with_nonzero_exit(tmp_path):
    missing = tmp_path / "nope"
    result = subprocess.run(
        [sys.executable, "manage.py", "import_survey", "--org", "Any", "--survey", "S",
         "--source", str(missing)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert f"The folder {missing} does not exist" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_command_now_runs_the_whole_pipeline_in_process(demo_source, capsys):
    """--now needs no worker: import, clustering and detection all run in the command."""
    from classifiers.models import Detection
    from surveys.models import Cluster, Survey

    root, _ = demo_source
    org = OrganisationFactory(name="Field Team")
    call_command("import_survey", "--org", "field team", "--survey", "Season 1",
                 "--source", str(root), "--now")
    out = capsys.readouterr().out
    assert "Imported 48 of 48 files" in out
    survey = Survey.objects.get(name="Season 1")
    assert survey.status == SurveyStatus.READY, survey.status_detail
    assert "Survey “Season 1”: Ready" in out
    assert Cluster.objects.filter(survey=survey).count() == survey.cluster_count > 0
    assert not Image.objects.filter(camera__site__survey=survey, detected=False).exists()
    assert Detection.objects.filter(image__camera__site__survey=survey).exists()
    with pytest.raises(CommandError, match="no organisation called"):
        call_command("import_survey", "--org", "Nobody", "--survey", "S", "--source", str(root))
    with pytest.raises(CommandError, match="not a time zone name"):
        call_command("import_survey", "--org", org.name, "--survey", "S", "--source", str(root),
                     "--timezone", "Mars/Olympus_Mons")
    with pytest.raises(CommandError, match="not a valid regular expression"):
        call_command("import_survey", "--org", org.name, "--survey", "S", "--source", str(root),
                     "--site-regex", "([")


@pytest.mark.skipif(not CAMERA_TRAPS.exists(), reason="../shared camera-trap photos absent")
def test_real_camera_trap_photos(tmp_path):
    """Real photos: EXIF variety, a 0-byte file, a photo without EXIF."""
    source = CAMERA_TRAPS / "animl_southwest"
    survey = SurveyFactory(timezone="America/Los_Angeles")
    run = import_folder(survey, source)
    reasons = dict(run.issues.values_list("path", "reason"))
    corrupt = [p for p in reasons if p.endswith("error_img.JPG")]
    assert corrupt and "empty file" in reasons[corrupt[0]]
    no_exif = [p for p in reasons if p.endswith("B013_IMG_0005_empty.jpeg")]
    assert no_exif and "no EXIF timestamp" in reasons[no_exif[0]]
    images = Image.objects.filter(camera__site__survey=survey)
    assert images.count() == run.total - 1
    assert images.filter(timestamp__isnull=False).count() >= run.total - 2
    assert all(i.width and i.height for i in images)


def test_run_cut_off_mid_way_is_taken_over_and_finishes(demo_source, tmp_path):
    """A worker killed mid-import: the redelivered task resumes, no renamed leftovers."""
    from datetime import timedelta

    from django.utils import timezone


    root, _ = demo_source
    survey = SurveyFactory()
    run = do_start_import(survey, str(root))
    # The dead worker's traces: the run is RUNNING, and one file reached storage
    # without its Image row.
    ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.RUNNING,
                                               heartbeat_at=timezone.now())
    leftover = f"surveys/{survey.pk}/originals/Kopje/CAM01/IMG_0001.JPG"
    default_storage.save(leftover, __import__("io").BytesIO(b"partial"))
    assert do_run_import(run) is False  # still fresh: someone else may be on it
    ImportRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PIPELINE_STALE_SECONDS + 1))
    assert do_run_import(run) is True
    run.refresh_from_db()
    assert run.status == ImportStatus.DONE and run.imported == 48
    image = Image.objects.get(key=leftover)
    assert default_storage.open(image.key).read()[:2] == b"\xff\xd8"
    folder = Path(default_storage.path(leftover)).parent
    assert len(list(folder.iterdir())) == 12  # no renamed copies beside the originals


@pytest.mark.parametrize("name", ["x" * 300, "Africa/\x00Nairobi", "../../etc/passwd", "",
                                  "Europe/Nowhere"])
def test_odd_time_zone_names_are_a_validation_error_not_a_crash(name):
    from django.core.exceptions import ValidationError

    from surveys.models import validate_timezone

    with pytest.raises(ValidationError, match="not a time zone name"):
        validate_timezone(name)
    validate_timezone("Africa/Nairobi")
    validate_timezone("Etc/GMT+3")
