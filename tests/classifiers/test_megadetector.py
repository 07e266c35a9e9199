"""MegaDetector batch output in and out: parsing, matching, idempotent import, export, bad input."""

import io
import json
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.taxonomy import Role
from classifiers.exceptions import DetectionsFileError
from classifiers.models import Detection
from classifiers.services.megadetector import (
    do_import_detections,
    load_batch_output,
    parse_batch_output,
    read_batch_output,
    write_batch_output,
)
from classifiers.taxonomy import Category, DetectionStatus
from core.exceptions import AccessDenied
from surveys.models import Image, ImportRun
from surveys.taxonomy import SurveyStatus
from tests.conftest import CAMERA_TRAPS
from tests.factories import (
    CameraFactory,
    ImageFactory,
    OrganisationFactory,
    SiteFactory,
    SurveyFactory,
    member,
)

CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}


def md_validate(target, raise_errors=False) -> dict:
    """MegaDetector's own validate_batch_results on a file or a loaded document.

    Imported here, not at the top: importing MegaDetector's tools sets Pillow's
    LOAD_TRUNCATED_IMAGES for the whole process, which would let cut-off JPEGs
    through the import tests that run later in the session; the flag is put back.
    """
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        from megadetector.postprocessing.validate_batch_results import (
            ValidateBatchResultsOptions,
            validate_batch_results,
        )
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    options = ValidateBatchResultsOptions()
    options.raise_errors = raise_errors
    return validate_batch_results(target, options)["validation_results"]


def batch(images, detector="md_v5a.0.0.pt", **extra) -> dict:
    return {"info": {"format_version": "1.4", "detector": detector},
            "detection_categories": CATEGORIES, "images": images, **extra}


def det(bbox, conf=0.9, category="1") -> dict:
    return {"category": category, "conf": conf, "bbox": bbox}


def write(tmp_path, doc, name="md.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


@pytest.fixture
def survey(db):
    """Season1 imported from /data/Season1: two nested cameras and a flat root image."""
    survey = SurveyFactory(name="Season 1")
    ImportRun.objects.create(survey=survey, source="/data/Season1")
    site = SiteFactory(survey=survey, name="Kopje")
    cam1 = CameraFactory(site=site, path="Kopje/CAM1")
    cam2 = CameraFactory(site=site, path="Kopje/CAM2/day 2")
    root = CameraFactory(site=SiteFactory(survey=survey, name="Season1"), path="")
    survey.imgs = {
        "a": ImageFactory(camera=cam1, filename="IMG_0001.JPG"),
        "b": ImageFactory(camera=cam1, filename="IMG_0002.JPG"),
        "c": ImageFactory(camera=cam2, filename="IMG 0003.jpg"),
        "d": ImageFactory(camera=root, filename="flat.jpg"),
    }
    return survey


def boxes_of(image) -> list[tuple]:
    return sorted(Detection.objects.filter(image=image).values_list(
        "source", "category", "score", "left", "top", "right", "bottom"))


def stored(survey) -> list[tuple]:
    return sorted(Detection.objects.filter(image__camera__site__survey=survey).values_list(
        "image_id", "source", "category", "score", "left", "top", "right", "bottom", "status"))


# --- parsing (pure) ---------------------------------------------------------------------------
def test_parser_turns_boxes_into_corners_and_drops_low_confidence():
    out = parse_batch_output(batch([
        {"file": ".\\Kopje\\CAM1\\IMG_0001.JPG", "detections": [
            det([0.1, 0.2, 0.3, 0.4], 0.9),
            det([0.5, 0.5, 0.5, 0.5001], 0.05, "2"),  # at the floor: kept; 1.0001 clamps to 1
            det([0.0, 0.0, 0.1, 0.1], 0.0499, "3"),  # under the floor: dropped
        ]},
        {"file": "Kopje/CAM1/IMG_0002.JPG", "detections": []},
        {"file": "flat.jpg", "failure": "Failure image access", "detections": None},
    ]), "md.json")
    assert out.detector == "md_v5a.0.0.pt" and out.low_confidence == 1
    first, empty, failed = out.images
    assert first.file == "Kopje/CAM1/IMG_0001.JPG"
    (c1, s1, *b1), (c2, s2, *b2) = first.boxes
    assert (c1, s1, c2, s2) == (Category.ANIMAL, 0.9, Category.PERSON, 0.05)
    assert b1 == pytest.approx([0.1, 0.2, 0.4, 0.6])
    assert b2 == pytest.approx([0.5, 0.5, 1.0, 1.0])
    assert empty.boxes == [] and failed.boxes is None and failed.failure == "Failure image access"


def test_categories_are_mapped_by_name_not_by_position():
    doc = batch([{"file": "x.jpg", "detections": [det([0, 0, 1, 1], category="7")]}])
    doc["detection_categories"] = {"7": "Vehicle"}
    assert parse_batch_output(doc, "f").images[0].boxes[0][0] == Category.VEHICLE


# --- importing --------------------------------------------------------------------------------
MIXED = batch([
    {"file": "Kopje/CAM1/IMG_0001.JPG", "detections": [det([0.1, 0.2, 0.3, 0.4], 0.8)]},
    # The source folder's name in front and Windows separators: still the same survey.
    {"file": "Season1\\Kopje\\CAM1\\IMG_0002.JPG",
     "detections": [det([0.0, 0.5, 0.25, 0.5], 0.6, "2"), det([0.5, 0.5, 0.1, 0.1], 0.01)]},
    {"file": "Kopje/CAM2/day 2/IMG 0003.jpg", "failure": "Failure image access"},
    {"file": "flat.jpg", "detections": []},
    {"file": "Kopje/CAM9/ghost.jpg", "detections": [det([0.1, 0.1, 0.1, 0.1])]},
    {"file": "Other/Kopje/CAM1/IMG_0001.JPG", "detections": []},
])


def test_import_matches_paths_and_lists_what_the_survey_lacks(survey, tmp_path):
    result = do_import_detections(survey, read_batch_output(write(tmp_path, MIXED)))
    a, b, c, d = (survey.imgs[k] for k in "abcd")
    assert result.as_dict() | {"missing_files": None, "failed_files": None} == {
        "source": "md_v5a.0.0.pt", "images_in_file": 6, "images_updated": 3,
        "detections_stored": 2, "detections_replaced": 0, "detections_superseded": 0,
        "low_confidence_skipped": 1, "failed": 1, "missing": 2, "missing_files": None,
        "failed_files": None}
    assert result.missing == ["Kopje/CAM9/ghost.jpg", "Other/Kopje/CAM1/IMG_0001.JPG"]
    assert result.failed == ["Kopje/CAM2/day 2/IMG 0003.jpg"]
    assert boxes_of(a) == [("md_v5a.0.0.pt", 1, 0.8, 0.1, 0.2, pytest.approx(0.4),
                            pytest.approx(0.6))]
    assert boxes_of(b) == [("md_v5a.0.0.pt", 2, 0.6, 0.0, 0.5, 0.25, 1.0)]
    assert boxes_of(c) == boxes_of(d) == []
    detected = dict(Image.objects.filter(camera__site__survey=survey)
                    .values_list("filename", "detected"))
    # The failure record leaves its image for a detector to look at again.
    assert detected == {"IMG_0001.JPG": True, "IMG_0002.JPG": True, "IMG 0003.jpg": False,
                        "flat.jpg": True}


def every_box(image) -> list[tuple]:
    """(source, superseded) of each of the image's boxes, superseded ones too."""
    return sorted(Detection.all_boxes.filter(image=image).values_list("source", "superseded"))


def test_importing_again_replaces_that_detectors_boxes_and_supersedes_others(survey, tmp_path):
    a, b = survey.imgs["a"], survey.imgs["b"]
    Detection.objects.create(image=a, left=0, top=0, right=1, bottom=1, score=0.3,
                             source="motion")
    Detection.objects.create(image=b, left=0, top=0, right=0.5, bottom=0.5, score=0.7,
                             source="md_v5a.0.0.pt")  # an earlier run of the same detector
    path = write(tmp_path, MIXED)
    first = do_import_detections(survey, read_batch_output(path))
    after_first = stored(survey)
    second = do_import_detections(survey, read_batch_output(path))
    assert stored(survey) == after_first
    assert (first.detections_replaced, second.detections_replaced) == (1, 2)
    assert (first.detections_superseded, second.detections_superseded) == (1, 0)
    # Motion's box is superseded: kept, but only MegaDetector's are current.
    assert {row[1] for row in after_first} == {"md_v5a.0.0.pt"} and len(after_first) == 2
    assert every_box(a) == [("md_v5a.0.0.pt", False), ("motion", True)]
    # The same file under another name is another detector: it supersedes the first.
    other = do_import_detections(survey, read_batch_output(path), detector="MDv5b")
    assert (other.detections_replaced, other.detections_superseded) == (0, 2)
    assert {row[1] for row in stored(survey)} == {"MDv5b"}
    assert Detection.all_boxes.count() == 5
    # A later run that finds nothing on an image clears that detector's boxes there.
    do_import_detections(survey, load_batch_output(json.dumps(batch(
        [{"file": "Kopje/CAM1/IMG_0001.JPG", "detections": []}], detector="MDv5b")).encode(),
        "later.json"))
    assert boxes_of(a) == []
    assert every_box(a) == [("md_v5a.0.0.pt", True), ("motion", True)]


def test_import_makes_the_same_number_of_queries_for_few_and_many_images(db):
    counts, inserts = [], []
    for n in (3, 40):
        survey = SurveyFactory()
        camera = CameraFactory(site=SiteFactory(survey=survey), path="S/C")
        for i in range(n):
            ImageFactory(camera=camera, filename=f"{i}.jpg")
        parsed = parse_batch_output(batch([
            {"file": f"S/C/{i}.jpg", "detections": [det([0.1, 0.1, 0.2, 0.2])] * 2}
            for i in range(n)]), "f")
        with CaptureQueriesContext(connection) as queries:
            result = do_import_detections(survey, parsed)
        assert result.detections_stored == 2 * n
        # SQLite splits a bulk insert at 999 parameters (80 boxes of 13 columns: two
        # statements), so inserts are counted apart; a save() per box would make 80.
        sql = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
        counts.append(sum(not q.startswith("INSERT") for q in sql))
        inserts.append(sum(q.startswith("INSERT") for q in sql))
    assert counts[0] == counts[1], counts
    assert inserts[1] <= 3, inserts


def test_import_checks_the_acting_users_capability(survey):
    parsed = parse_batch_output(batch([{"file": "flat.jpg", "detections": []}]), "f")
    reader = member(survey.organisation, role=Role.READ)
    with pytest.raises(AccessDenied):
        do_import_detections(survey, parsed, acting_user=reader)
    writer = member(survey.organisation, role=Role.WRITE)
    assert do_import_detections(survey, parsed, acting_user=writer).images_updated == 1


def test_a_survey_running_its_detection_stage_is_refused(survey):
    survey.__class__.objects.filter(pk=survey.pk).update(status=SurveyStatus.DETECTING)
    parsed = parse_batch_output(batch([{"file": "flat.jpg", "detections": []}]), "f")
    with pytest.raises(DetectionsFileError, match="running its detection stage"):
        do_import_detections(survey, parsed)
    assert not Image.objects.filter(pk=survey.imgs["d"].pk, detected=True).exists()


# --- exporting --------------------------------------------------------------------------------
def test_export_round_trips_and_passes_megadetectors_validator(survey, tmp_path):
    a, b = survey.imgs["a"], survey.imgs["b"]
    do_import_detections(survey, read_batch_output(write(tmp_path, MIXED)))
    md = "md_v5a.0.0.pt"
    Detection.objects.create(image=a, left=0.5, top=0.5, right=0.75, bottom=1.0, score=1.0,
                             category=Category.VEHICLE, source=md)
    Detection.objects.create(image=b, left=0, top=0, right=1, bottom=1, score=0.9,
                             source=md, status=DetectionStatus.DELETED)
    Detection.objects.create(image=b, left=0, top=0, right=0.1, bottom=0.1, score=0.9,
                             source=md, static=True)
    out = tmp_path / "export.json"
    call_command("export_detections", "--survey", "Season 1", "--out", str(out))
    report = md_validate(str(out), raise_errors=True)
    assert report["errors"] == [] and report["warnings"] == []
    doc = json.loads(out.read_text())
    assert doc["info"]["format_version"] == "1.4"
    assert doc["info"]["detector"] == "md_v5a.0.0.pt"
    assert doc["detection_categories"] == CATEGORIES
    files = {im["file"]: im["detections"] for im in doc["images"]}
    # Detected images only (the failed one was not), by path relative to the source folder.
    assert files == {
        "Kopje/CAM1/IMG_0001.JPG": [
            {"category": "3", "conf": 1.0, "bbox": [0.5, 0.5, 0.25, 0.5]},
            {"category": "1", "conf": 0.8, "bbox": [0.1, 0.2, 0.3, 0.4]}],
        "Kopje/CAM1/IMG_0002.JPG": [{"category": "2", "conf": 0.6,
                                    "bbox": [0.0, 0.5, 0.25, 0.5]}],
        "flat.jpg": [],
    }
    # Read back in: the same boxes (category, conf, corners) on the same images.
    kept = Detection.objects.filter(status=DetectionStatus.ACTIVE, static=False)
    before = sorted(kept.values_list("image_id", "category", "score", "left", "top", "right",
                                     "bottom"))
    Detection.objects.all().delete()
    do_import_detections(survey, read_batch_output(out), detector="exported")
    after = sorted(Detection.objects.values_list("image_id", "category", "score", "left",
                                                 "top", "right", "bottom"))
    assert len(after) == len(before) == 3
    for x, y in zip(after, before, strict=True):
        assert x[:3] == y[:3] and x[3:] == pytest.approx(y[3:], abs=1e-4)


def test_export_of_a_survey_without_detections_is_still_valid(survey, tmp_path):
    buffer = io.StringIO()
    counts = write_batch_output(survey, buffer)
    doc = json.loads(buffer.getvalue())
    assert counts | {"detector": None} == {"images": 0, "detections": 0, "detector": None}
    assert doc["images"] == [] and doc["info"]["detector"] == "none"
    assert md_validate(doc)["errors"] == []


def test_export_checks_the_acting_users_capability(survey):
    stranger = member(OrganisationFactory())
    with pytest.raises(AccessDenied):
        write_batch_output(survey, io.StringIO(), acting_user=stranger)


# --- the commands -------------------------------------------------------------------------------
def test_import_command_prints_counts_as_json(survey, tmp_path, capsys):
    call_command("import_detections", "--survey", "Season 1", "--json-file",
                 write(tmp_path, MIXED), "--json")
    counts = json.loads(capsys.readouterr().out)
    assert (counts["detections_stored"], counts["missing"], counts["failed"]) == (2, 2, 1)
    assert counts["missing_files"][0] == "Kopje/CAM9/ghost.jpg"


def test_import_command_reports_in_words(survey, tmp_path, capsys):
    call_command("import_detections", "--survey", "Season 1", "--org",
                 survey.organisation.name, "--json-file", write(tmp_path, MIXED),
                 "--detector", "MDv5a")
    out = capsys.readouterr().out
    assert "stored 2 box(es) from MDv5a on 3 image(s) of the 6 in the file" in out
    assert "2 file(s) the survey does not have (skipped):\n  Kopje/CAM9/ghost.jpg" in out
    assert "1 failure record(s)" in out


def test_another_organisations_survey_is_not_found(survey, tmp_path):
    other = OrganisationFactory(name="Elsewhere")
    path = write(tmp_path, MIXED)
    with pytest.raises(CommandError, match="no survey called 'Season 1' in organisation"):
        call_command("import_detections", "--survey", "Season 1", "--org", "Elsewhere",
                     "--json-file", path)
    with pytest.raises(CommandError, match="no survey called 'Season 1' in organisation"):
        call_command("export_detections", "--survey", "Season 1", "--org", str(other.pk),
                     "--out", str(tmp_path / "x.json"))
    SurveyFactory(name="Season 1", organisation=other)
    with pytest.raises(CommandError, match="Several organisations .* give --org"):
        call_command("import_detections", "--survey", "Season 1", "--json-file", path)
    assert not Detection.objects.exists()
    assert not (tmp_path / "x.json").exists()


# --- bad input: a clear message, nothing stored changes ------------------------------------------
OK_IMAGE = {"file": "flat.jpg", "detections": [det([0.1, 0.1, 0.2, 0.2])]}


def bad(*images, **top):
    return json.dumps(batch([OK_IMAGE, *images]) | top)


BAD = {
    "malformed": ('{"images": [{"file": "a.jpg",, }]}', "not valid JSON: Expecting property "
                  "name enclosed in double quotes at line 1, column 30"),
    "truncated": (bad({"file": "Kopje/CAM1/IMG_0001.JPG", "detections": []})[:-40],
                  "ends early .* truncated"),
    "truncated in a string": ('{"images": [{"file": "Kopje/CA', "ends early"),
    "not an object": ("[1, 2]", "top level must be an object"),
    "no images": (json.dumps({"info": {}, "detection_categories": CATEGORIES}),
                  "has no 'images' list"),
    "empty": ("  \n", "is empty"),
    "not utf-8": ("\udcff", "not UTF-8"),
    "bbox off the right": (bad({"file": "x.jpg", "detections": [det([0.8, 0.1, 0.5, 0.1])]}),
                           r"images\[1\] \(x.jpg\), detections\[0\]: bbox .* outside the image"),
    "bbox in pixels": (bad({"file": "x.jpg", "detections": [det([120, 80, 40, 30])]}),
                       "outside the image.*converted to pixels"),
    "negative size": (bad({"file": "x.jpg", "detections": [det([0.5, 0.5, -0.1, 0.1])]}),
                      "negative width or height"),
    "bbox of three": (bad({"file": "x.jpg", "detections": [det([0.5, 0.5, 0.1])]}),
                      r"bbox must be four numbers"),
    "NaN in bbox": (bad({"file": "x.jpg", "detections": [det([0.5, float("nan"), 0.1, 0.1])]}),
                    "bbox must be four numbers"),
    "unknown category": (bad({"file": "x.jpg", "detections": [det([0, 0, 1, 1], 0.9, "4")]}),
                         r"images\[1\] \(x.jpg\), detections\[0\]: category '4' is not in "
                         "detection_categories"),
    "category we do not store": (
        json.dumps(batch([OK_IMAGE, {"file": "x.jpg", "detections": [det([0, 0, 1, 1], 0.9,
                                                                         "4")]}])
                   | {"detection_categories": CATEGORIES | {"4": "vegetation"}}),
        "category '4' \\('vegetation'\\) is not one TrapTagger stores"),
    "conf over 1": (bad({"file": "x.jpg", "detections": [det([0, 0, 1, 1], 1.5)]}),
                    "conf must be a number from 0 to 1; it is 1.5"),
    "conf negative": (bad({"file": "x.jpg", "detections": [det([0, 0, 1, 1], -0.2)]}),
                      "conf must be a number from 0 to 1"),
    "conf as text": (bad({"file": "x.jpg", "detections": [det([0, 0, 1, 1], "0.9")]}),
                     "conf must be a number"),
    "absolute path": (bad({"file": "/data/Season1/flat.jpg", "detections": []}),
                      r"images\[1\]: 'file' is an absolute path .*--output_relative_filenames"),
    "windows drive": (bad({"file": "C:\\cams\\x.jpg", "detections": []}), "absolute path"),
    "dot-dot": (bad({"file": "Kopje/../../etc/passwd", "detections": []}), "climbs out"),
    "no file": (bad({"detections": []}), r"images\[1\]: 'file' must be the image's path"),
    "listed twice": (bad({"file": "./flat.jpg", "detections": []}),
                     r"images\[1\] \(flat.jpg\) is listed again \(first at images\[0\]\)"),
    "same image twice": (bad({"file": "Season1/flat.jpg", "detections": []}),
                         r"images\[1\] \(Season1/flat.jpg\) and images\[0\] \(flat.jpg\) are "
                         "the same image"),
    "detections not a list": (bad({"file": "x.jpg", "detections": None}),
                              "'detections' must be a list"),
    "format 2": (bad(info={"format_version": "2.0", "detector": "x"}),
                 "format_version '2.0'; TrapTagger reads .* 1.x"),
    "no detector": (bad(info={"format_version": "1.0"}),
                    r"does not say which detector .* --detector"),
    "our own detector's name": (bad(info={"detector": "motion"}), "TrapTagger's own detectors"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_and_changes_nothing(survey, tmp_path, case):
    text, message = BAD[case]
    flat = survey.imgs["d"]
    Detection.objects.create(image=flat, left=0.2, top=0.2, right=0.4, bottom=0.4, score=0.5,
                             source="md_v5a.0.0.pt")
    before = stored(survey), list(Image.objects.order_by("id").values_list("id", "detected"))
    path = tmp_path / "md.json"
    if text == "\udcff":
        path.write_bytes(b'{"images": "\xff\xfe"}')
    else:
        path.write_text(text)
    with pytest.raises(CommandError, match=message) as caught:
        call_command("import_detections", "--survey", "Season 1", "--json-file", str(path))
    if case not in ("no detector", "our own detector's name"):
        assert str(path) in str(caught.value)  # the message names the file
    assert (stored(survey), list(Image.objects.order_by("id").values_list(
        "id", "detected"))) == before


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(survey, tmp_path, settings):
    path = write(tmp_path, batch([OK_IMAGE]))
    size = len(open(path, "rb").read())
    settings.MAX_DETECTIONS_JSON_BYTES = size
    do_import_detections(survey, read_batch_output(path))  # at the limit
    path = write(tmp_path, batch([OK_IMAGE | {"file": "flat.jpg "}]))  # one byte more
    with pytest.raises(CommandError, match=f"is {size + 1:,} bytes, over the {size:,} bytes "
                       "limit .*MAX_DETECTIONS_JSON_BYTES"):
        call_command("import_detections", "--survey", "Season 1", "--json-file", path)


def test_a_missing_file_or_a_folder_is_named(survey, tmp_path):
    with pytest.raises(CommandError, match="nope.json does not exist"):
        call_command("import_detections", "--survey", "Season 1", "--json-file",
                     str(tmp_path / "nope.json"))
    with pytest.raises(CommandError, match="is not a regular file"):
        call_command("import_detections", "--survey", "Season 1", "--json-file",
                     str(tmp_path))


# --- a real case ---------------------------------------------------------------------------------
SERENGETI = CAMERA_TRAPS / "snapshot_serengeti_d04/api/synchronous/sample_input/test_images"


@pytest.mark.skipif(not SERENGETI.is_dir(), reason="the shared camera-trap images are absent")
def test_real_megadetector_results_on_snapshot_serengeti_images(db, tmp_path):
    """MegaDetector's boxes for three Snapshot Serengeti frames of an elephant.

    The numbers are MegaDetector's own answers for these frames, as the
    CameraTraps repository's API tests record them ([y_min, x_min, y_max,
    x_max] there), written here in batch format: a run on the folder
    ``test_images`` with some paths holding the folder's name.
    """
    from surveys.services.importing import do_run_import, do_start_import

    folder = tmp_path / "test_images"
    shutil.copytree(SERENGETI, folder)
    survey = SurveyFactory(name="Serengeti")
    do_run_import(do_start_import(survey, str(folder)))
    assert Image.objects.filter(camera__site__survey=survey).count() == 10
    doc = {
        "info": {"format_version": "1.0", "detector": "megadetector_v3"},
        "detection_categories": {"1": "animal", "2": "person"},
        "images": [
            {"file": "S1_D04_R6_PICT0020.JPG",
             "detections": [det([0.0, 0.006578, 0.9401, 0.9732], 0.998)]},
            {"file": "test_images\\S1_D04_R6_PICT0021.JPG",
             "detections": [det([0.0, 0.01237, 0.9344, 0.9182], 0.998)]},
            {"file": "test_images/S1_D04_R6_PICT0022.JPG",
             "detections": [det([0.0, 0.0, 0.9251, 0.9905], 0.999)]},
            {"file": "S1_D04_R6_PICT0999.JPG", "detections": []},
        ],
    }
    result = do_import_detections(survey, read_batch_output(write(tmp_path, doc)))
    assert (result.images_updated, result.detections_stored, result.missing) == (
        3, 3, ["S1_D04_R6_PICT0999.JPG"])
    rows = dict(Detection.objects.filter(image__camera__site__survey=survey).values_list(
        "image__filename", "bottom"))
    assert rows["S1_D04_R6_PICT0020.JPG"] == pytest.approx(0.006578 + 0.9732)
    buffer = io.StringIO()
    assert write_batch_output(survey, buffer)["images"] == 3
    assert md_validate(json.loads(buffer.getvalue()))["errors"] == []
