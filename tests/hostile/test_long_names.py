"""Names longer than their columns: each is an issue for its file, the rest imports, and
nothing is left in storage for a refused file.

Run on MariaDB too (DATABASE_URL=mysql://…): it raises DataError for a value over a
column's length where SQLite stores it as it is.
"""

import random
from datetime import datetime
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from surveys.models import Camera, Image, ImportIssue, Site
from surveys.services import importing
from surveys.services.importing import do_run_import, do_start_import
from surveys.taxonomy import ImportStatus
from tests.factories import SurveyFactory
from training.synthetic import jpeg_bytes, scene

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]


def photo(n: int) -> bytes:
    img, _ = scene(random.Random(n), "Zebra", 160, 120)
    return jpeg_bytes(img, datetime(2024, 5, 1, 8, 0, n))


def stored_objects(media: Path) -> set[str]:
    return {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}


def test_limits_are_the_columns():
    assert importing.SITE_NAME_CHARS == Site._meta.get_field("name").max_length
    assert importing.CAMERA_PATH_CHARS == Camera._meta.get_field("path").max_length
    assert importing.IMAGE_FILENAME_CHARS == Image._meta.get_field("filename").max_length
    assert importing.IMAGE_KEY_CHARS == Image._meta.get_field("key").max_length
    assert importing.ISSUE_PATH_CHARS == ImportIssue._meta.get_field("path").max_length


@pytest.mark.timeout(120)
def test_over_long_names_are_issues_and_leave_nothing_behind(tmp_path, media_storage):
    src = tmp_path / "src"
    top = src / ("T" * 230)  # a site name over Site.name's 200
    top.mkdir(parents=True)
    (top / "a.jpg").write_bytes(photo(1))
    (top / "b.jpg").write_bytes(photo(2))
    deep = src / "Site2" / ("d" * 200) / ("e" * 200) / ("f" * 200)  # over Camera.path's 500
    deep.mkdir(parents=True)
    (deep / "c.jpg").write_bytes(photo(3))
    # Folder fits Camera.path and name fits Image.filename, but the storage key
    # "surveys/<id>/originals/<path>" is over Image.key's 700.
    near = src / "Site3" / ("g" * 240) / ("h" * 240)
    near.mkdir(parents=True)
    (near / (("k" * 200) + ".jpg")).write_bytes(photo(4))
    # A path over ImportIssue.path's 1000: its issue is recorded with the path cut.
    far = src / "Site4" / ("m" * 250) / ("n" * 250) / ("o" * 250) / ("p" * 250)
    far.mkdir(parents=True)
    (far / "q.jpg").write_bytes(photo(5))
    (src / "Site1").mkdir()
    (src / "Site1" / "ok.jpg").write_bytes(photo(6))

    survey = SurveyFactory()
    run = do_start_import(survey, str(src))
    assert do_run_import(run) is True
    run.refresh_from_db()
    assert run.status == ImportStatus.DONE, run.message
    images = Image.objects.filter(camera__site__survey=survey)
    assert list(images.values_list("filename", flat=True)) == ["ok.jpg"]
    assert list(Site.objects.filter(survey=survey).values_list("name", flat=True)) == ["Site1"]
    reasons = {path: reason for path, reason in run.issues.values_list("path", "reason")}
    assert len(reasons) == 5, reasons
    by_file = {path.rsplit("/", 1)[-1]: reason for path, reason in reasons.items()}
    assert "200 a site's name may have (Site.name)" in by_file["a.jpg"]
    assert "200 a site's name may have (Site.name)" in by_file["b.jpg"]
    assert "500 a camera's folder may have (Camera.path)" in by_file["c.jpg"]
    assert "(Image.key holds 700)" in by_file["k" * 200 + ".jpg"]
    cut = [p for p in reasons if p.endswith("q.jpg")]
    assert cut and len(cut[0]) == 1000 and "…" in cut[0]
    # Nothing in storage but the imported image's two objects.
    image = images.get()
    assert stored_objects(media_storage) == {image.key, image.web_key}


def test_a_failed_batch_write_leaves_no_object_behind(tmp_path, media_storage, monkeypatch):
    src = tmp_path / "src" / "Site1"
    src.mkdir(parents=True)
    for n in range(3):
        (src / f"{n}.jpg").write_bytes(photo(n))
    survey = SurveyFactory()
    run = do_start_import(survey, str(src.parent))

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Image.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        do_run_import(run)
    assert not [key for key in stored_objects(media_storage) if default_storage.exists(key)]


def test_data_pipeline_refuses_an_over_long_site_name_and_a_hostile_regex(tmp_path, settings):
    from surveys.exceptions import SurveyError
    from tests.factories import OrganisationFactory
    from training.services.data_pipeline import do_run_data_pipeline

    org = OrganisationFactory()
    settings.IMPORT_ROOT = str(tmp_path / "imports")
    folder = tmp_path / "imports" / str(org.pk) / "area"
    for rel, n in ((f"{'T' * 230}/cam/0.jpg", 0), ("Site1/cam/1.jpg", 1)):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(photo(n))
    csv = tmp_path / "labels.csv"
    csv.write_text(f"filepath,species\n{'T' * 230}/cam/0.jpg,Zebra\nSite1/cam/1.jpg,Lion\n")
    with pytest.raises(SurveyError, match="exponential time"):
        do_run_data_pipeline(org, "Outside", csv, source="area", site_regex=r"^(\w+/?)+$")
    outcome = do_run_data_pipeline(org, "Outside", csv, source="area", site_regex=r"^[^/]+")
    assert outcome.imported == 1
    assert len(outcome.problems) == 1 and "(Site.name)" in outcome.problems[0][1]
    assert list(Site.objects.filter(survey__organisation=org).values_list(
        "name", flat=True)) == ["Site1"]


def test_a_source_folder_over_its_column_is_refused_before_anything_starts(tmp_path):
    from surveys.exceptions import ImportSourceError

    deep = tmp_path
    while len(str(deep)) <= importing.SOURCE_CHARS:
        deep = deep / ("s" * 200)
    deep.mkdir(parents=True)
    survey = SurveyFactory()
    with pytest.raises(ImportSourceError, match=r"over the 1000 .*\(ImportRun.source\)"):
        do_start_import(survey, str(deep))
    assert not survey.imports.exists()
