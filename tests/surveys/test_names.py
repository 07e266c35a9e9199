"""Where site and camera names come from: folder path (default), file name or whole path; the
camera regex's physical cameras; the admin's preview before import."""

import io
import random
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image as PILImage

from surveys.models import Camera, Image, ImportRun, Site
from surveys.services.importing import do_run_import, do_start_import
from surveys.services.naming import Namer
from tests.conftest import CAMERA_TRAPS
from tests.factories import OrganisationFactory, SurveyFactory, member
from training.synthetic import jpeg_bytes

CAMTRAPR = CAMERA_TRAPS / "camtrapR" / "inst" / "pictures"
BUOW = CAMERA_TRAPS / "animl_buow"


def test_each_rule_applies_the_regexes_to_its_own_text():
    rel = "Season1/StationB/MNE/StationB__2009-04-28__17-47-00(1).JPG"
    folder = Namer(site_regex=r"Station[A-C]", names_from="folder", root_name="root")
    assert folder.names(rel).site == "StationB"
    assert folder.names("IMG_1.JPG").site == "root"  # flat folder: named after the source
    by_name = Namer(site_regex=r"^[^_]+", names_from="filename", root_name="root")
    assert by_name.names(rel).site == "StationB"
    assert by_name.names("IMG_1.JPG").site == "IMG"
    whole = Namer(site_regex=r"Season\d/Station[A-C]", names_from="path", root_name="root")
    assert whole.names(rel).site == "Season1/StationB"
    miss = Namer(site_regex=r"R\d\d", names_from="filename", root_name="root").names(rel)
    assert miss.site == "" and "its file name" in miss.problem
    assert "does not match the site regex" in miss.problem
    # The physical camera: the camera regex's match on the same text, else the folder.
    cams = Namer(site_regex=r"Station[A-C]", camera_regex=r"Station[A-C]", root_name="r")
    assert cams.names(rel).camera == "StationB"
    assert cams.names("Other/x.jpg").problem  # no site at all
    plain = Namer(site_regex=r"^[^/]+", camera_regex=r"CAM\d+", root_name="r")
    assert plain.names("Kopje/100MEDIA/x.jpg").camera == "Kopje/100MEDIA"


def jpeg(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n)
    img = PILImage.new("RGB", (160, 120), (rng.randrange(256), rng.randrange(256), 90))
    img.paste((rng.randrange(256), 20, 20), (n % 100, 10, n % 100 + 30, 60))
    path.write_bytes(jpeg_bytes(img, datetime(2022, 5, 1, 10, n % 60, 0)))


def import_folder(survey, folder):
    run = do_start_import(survey, str(folder))
    assert do_run_import(run) is True
    run.refresh_from_db()
    return run


def physical_cameras(survey) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for camera in Camera.objects.filter(site__survey=survey).select_related("site"):
        out.setdefault(camera.site.name, set()).add(camera.physical_name)
    return out


@pytest.mark.django_db
def test_species_sorted_layout_is_one_camera_per_station_with_a_camera_regex(tmp_path):
    tmp_path = tmp_path / "source"  # not beside the media folder
    n = 0
    for station, species in {"StationA": ["PBE", "VTA"], "StationB": ["MNE", "PBE", "UNID"]
                             }.items():
        for code in species:
            for _ in range(2):
                n += 1
                jpeg(tmp_path / station / code / f"{station}__{n:03}.JPG", n)
    plain = SurveyFactory()
    import_folder(plain, tmp_path)
    assert physical_cameras(plain) == {"StationA": {"StationA/PBE", "StationA/VTA"},
                                       "StationB": {"StationB/MNE", "StationB/PBE",
                                                    "StationB/UNID"}}
    survey = SurveyFactory(camera_regex=r"^[^/]+")
    run = import_folder(survey, tmp_path)
    assert run.imported == 10 and not run.issues.exists()
    assert physical_cameras(survey) == {"StationA": {"StationA"}, "StationB": {"StationB"}}
    # Each folder stays a camera (its path keeps the images' paths for exports).
    assert Camera.objects.filter(site__survey=survey).count() == 5


@pytest.mark.django_db
def test_station_in_the_file_name(tmp_path):
    tmp_path = tmp_path / "source"
    for n, station in enumerate(["R13", "R13", "R38", "R42"]):
        jpeg(tmp_path / "cards" / f"BUOW_2020_{station}_20200403_IMG_{n}.JPG", n)
    jpeg(tmp_path / "cards" / "notes_IMG_9.JPG", 9)
    folder_rule = SurveyFactory(site_regex=r"R\d\d(?=_)")
    run = import_folder(folder_rule, tmp_path)
    assert run.imported == 0 and run.issues.count() == 5  # the folder "cards" names no site
    survey = SurveyFactory(site_regex=r"R\d\d(?=_)", names_from="filename")
    run = import_folder(survey, tmp_path)
    assert run.imported == 4
    assert set(Site.objects.filter(survey=survey).values_list("name", flat=True)) == {
        "R13", "R38", "R42"}
    [unmatched] = run.issues.all()  # reported with its path, not dropped
    assert unmatched.path == "cards/notes_IMG_9.JPG"
    assert "its file name 'notes_IMG_9.JPG' does not match the site regex" in unmatched.reason


@pytest.mark.django_db
def test_import_survey_command_takes_the_naming_options(tmp_path):
    tmp_path = tmp_path / "source"
    for n, station in enumerate(["S1", "S2"]):
        jpeg(tmp_path / "all" / f"{station}-{n}.jpg", n)
    org = OrganisationFactory()
    out = io.StringIO()
    call_command("import_survey", "--org", org.name, "--survey", "Flat", "--source",
                 str(tmp_path), "--names-from", "filename", "--site-regex", r"^S\d",
                 "--camera-regex", r"^S\d", stdout=out)
    run = ImportRun.objects.get(survey__name="Flat")  # queued; a worker would run it
    assert (run.survey.names_from, run.survey.camera_regex) == ("filename", r"^S\d")
    assert do_run_import(run) is True
    images = Image.objects.filter(camera__site__survey__name="Flat")
    assert {(i.camera.site.name, i.camera.physical_name) for i in images} == {
        ("S1", "S1"), ("S2", "S2")}


@pytest.mark.django_db
def test_admin_preview_lists_names_per_rule_and_files_without_a_site(tmp_path, client,
                                                                     settings):
    settings.IMPORT_ROOT = str(tmp_path)
    survey = SurveyFactory(site_regex=r"Station[AB]", names_from="filename")
    source = tmp_path / str(survey.organisation_id) / "season"
    jpeg(source / "StationA" / "PBE" / "StationA__001.JPG", 1)
    jpeg(source / "StationA" / "VTA" / "StationA__002.JPG", 2)
    jpeg(source / "mixed" / "StationB__003.JPG", 3)
    jpeg(source / "mixed" / "IMG_0004.JPG", 4)
    client.force_login(member(survey.organisation, "write"))
    change = client.get(f"/admin/surveys/survey/{survey.pk}/change/").content.decode()
    assert f"/admin/surveys/survey/{survey.pk}/names/" in change
    page = client.get(f"/admin/surveys/survey/{survey.pk}/names/", {
        "source": "season", "names_from": "filename", "site_regex": r"Station[AB]",
        "camera_regex": r"^StationA"}).content.decode()
    assert "4 file(s): 2 site(s)" in page
    assert "Files that get no site: 1" in page
    assert "mixed/IMG_0004.JPG" in page and "does not match the site regex" in page
    assert "StationA (2)" in page and "mixed (1)" in page  # physical cameras, file counts
    # The sample shows every rule: by folder, "mixed" has no site; by file name it has.
    assert "<em>no site</em>" in page and "StationB / mixed" in page
    assert Image.objects.count() == 0 and not Site.objects.filter(survey=survey).exists()
    outside = client.get(f"/admin/surveys/survey/{survey.pk}/names/", {
        "source": "../..", "names_from": "folder", "site_regex": "x"}).content.decode()
    assert "without &#x27;..&#x27;" in outside or "without '..'" in outside
    other = OrganisationFactory()
    client.force_login(member(other, "admin"))
    response = client.get(f"/admin/surveys/survey/{survey.pk}/names/", {"source": "season"})
    assert response.status_code == 302


@pytest.mark.django_db
def test_existing_surveys_keep_folder_names():
    survey = SurveyFactory()
    assert survey.names_from == "folder" and survey.camera_regex == ""


@pytest.mark.django_db
@pytest.mark.skipif(not CAMTRAPR.exists(), reason="../shared camera-trap photos absent")
def test_camtrapr_individual_tags_get_their_stations_from_file_names():
    source = CAMTRAPR / "sample_images_indiv_tag"
    refused = SurveyFactory(site_regex=r"^Station[A-C]")
    assert import_folder(refused, source).imported == 0
    survey = SurveyFactory(site_regex=r"^Station[A-C]", names_from="filename")
    run = import_folder(survey, source)
    assert run.imported == 26 and not run.issues.filter(skipped=True).exists()
    counts = {s.name: Image.objects.filter(camera__site=s).count()
              for s in Site.objects.filter(survey=survey)}
    assert counts == {"StationA": 6, "StationB": 10, "StationC": 10}


@pytest.mark.django_db
@pytest.mark.skipif(not CAMTRAPR.exists(), reason="../shared camera-trap photos absent")
def test_camtrapr_species_folders_are_one_camera_per_station():
    source = CAMTRAPR / "sample_images_species_dir"
    plain = SurveyFactory(site_regex=r"^Station[A-C]")
    import_folder(plain, source)
    assert sum(len(c) for c in physical_cameras(plain).values()) == 10
    survey = SurveyFactory(site_regex=r"^Station[A-C]", camera_regex=r"^Station[A-C]")
    run = import_folder(survey, source)
    assert run.imported == 68
    assert physical_cameras(survey) == {s: {s} for s in ("StationA", "StationB", "StationC")}


@pytest.mark.django_db
@pytest.mark.skipif(not BUOW.exists(), reason="../shared camera-trap photos absent")
def test_animl_buow_stations_from_file_names():
    survey = SurveyFactory(site_regex=r"R\d\d(?=_)", names_from="filename",
                           timezone="America/Los_Angeles")
    run = import_folder(survey, BUOW)
    assert run.imported == 8 and not run.issues.filter(skipped=True).exists()
    assert set(Site.objects.filter(survey=survey).values_list("name", flat=True)) == {
        "R13", "R38", "R42", "R49", "R50", "R59"}


@pytest.mark.django_db
def test_survey_form_posted_without_names_from_keeps_the_rule(client):
    survey = SurveyFactory(names_from="filename", site_regex=r"^S\d")
    client.force_login(member(survey.organisation, "admin"))
    response = client.post(f"/admin/surveys/survey/{survey.pk}/change/", {
        "organisation": survey.organisation_id, "name": survey.name, "site_regex": r"^S\d",
        "timezone": "UTC", "detector": "motion", "ignore_top_strip": 0,
        "static_min_count": 20, "static_iou": 0.9, "static_max_area": 0.2,
        "sites-TOTAL_FORMS": 0, "sites-INITIAL_FORMS": 0})
    assert response.status_code == 302
    survey.refresh_from_db()
    assert survey.names_from == "filename"
