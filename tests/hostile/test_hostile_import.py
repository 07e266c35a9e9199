"""Hostile file names and file kinds in an import: each is an issue, the rest imports."""

import os
import random
from datetime import datetime
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from surveys.models import Image, ImportIssue
from surveys.services.importing import do_run_import, do_start_import
from surveys.taxonomy import ImportStatus, SurveyStatus
from tests.factories import SurveyFactory
from training.synthetic import jpeg_bytes, scene

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]


def photo(n: int) -> bytes:
    img, _ = scene(random.Random(n), "Zebra", 320, 240)
    return jpeg_bytes(img, datetime(2024, 5, 1, 8, 0, n))


def stored_objects(media: Path) -> set[str]:
    return {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}


def run_import(survey, folder):
    run = do_start_import(survey, str(folder))
    assert do_run_import(run) is True
    run.refresh_from_db()
    return run


@pytest.mark.timeout(60)
def test_hostile_names_and_kinds_are_issues_and_the_rest_imports(tmp_path, media_storage,
                                                                  settings):
    settings.MAX_IMPORT_FILE_BYTES = 2_000_000
    src = tmp_path / "src"
    site = src / "SiteA"
    site.mkdir(parents=True)
    (site / "good1.jpg").write_bytes(photo(1))
    (site / "a\\..\\..\\evil.jpg").write_bytes(photo(2))  # backslashes in a name
    os.mkfifo(site / "pipe.jpg")  # would block a plain read for ever
    bad_name = os.fsencode(str(site)) + b"/caf\xe9.jpg"  # Latin-1, not UTF-8
    with open(bad_name, "wb") as fh:
        fh.write(photo(3))
    (site / "huge.jpg").write_bytes(photo(4) + b"\0" * 2_500_000)
    (site / "ctrl\x07.jpg").write_bytes(photo(5))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(photo(6))
    (src / "LinkedSite").symlink_to(outside, target_is_directory=True)
    (site / "good2.jpg").write_bytes(photo(7))
    survey = SurveyFactory()
    run = run_import(survey, src)  # the pipe must not hang it (the timeout mark fails it)
    assert run.status == ImportStatus.DONE
    assert sorted(Image.objects.filter(camera__site__survey=survey)
                  .values_list("filename", flat=True)) == ["good1.jpg", "good2.jpg"]
    reasons = dict(ImportIssue.objects.filter(import_run=run).values_list("path", "reason"))
    assert "backslash" in reasons["SiteA/a\\..\\..\\evil.jpg"]
    assert "not a regular file" in reasons["SiteA/pipe.jpg"]
    assert "UTF-8" in reasons["SiteA/caf\ufffd.jpg"]
    assert "limit" in reasons["SiteA/huge.jpg"]
    assert "control characters" in reasons["SiteA/ctrl\x07.jpg"]
    assert "outside the survey folder" in reasons["LinkedSite"]
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.CLUSTERING
    # Nothing is stored that no row points to, and nothing from outside the folder.
    keys = set(Image.objects.filter(camera__site__survey=survey).values_list("key", flat=True))
    web = set(Image.objects.filter(camera__site__survey=survey).values_list("web_key", flat=True))
    assert stored_objects(media_storage) == keys | web
    assert not any("secret" in k for k in stored_objects(media_storage))


def test_a_failed_store_leaves_no_object_behind(tmp_path, media_storage, monkeypatch):
    from surveys.services import importing

    src = tmp_path / "src" / "SiteA"
    src.mkdir(parents=True)
    (src / "one.jpg").write_bytes(photo(1))
    real = importing._save_exactly

    def web_copy_fails(key, data, *, may_exist):
        if "/web/" in key:
            raise OSError(28, "No space left on device")
        return real(key, data, may_exist=may_exist)

    monkeypatch.setattr(importing, "_save_exactly", web_copy_fails)
    survey = SurveyFactory()
    run = do_start_import(survey, str(src.parent))
    with pytest.raises(OSError):
        do_run_import(run)
    assert stored_objects(media_storage) == set()
    assert not default_storage.exists(f"surveys/{survey.pk}/originals/SiteA/one.jpg")
