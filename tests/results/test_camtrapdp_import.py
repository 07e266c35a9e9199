"""Camtrap DP import: a tiny package made here, the official example, bad input, round trips.

The round trip compares deployments.csv, media.csv and observations.csv as sets of rows,
every column of the Camtrap DP 1.0.2 schema, each cell read as its schema type: numbers
to 6 decimals, datetimes as instants (the export writes the survey's offset), booleans,
integers; "" and the tables' other missing values (NA, NaN) as empty.
"""

import csv
import io
import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image as PILImage

from annotation.models import ClusterAnnotation, Label, Task
from annotation.taxonomy import TaskStatus
from classifiers.models import Detection
from classifiers.taxonomy import Category, DetectionStatus
from results.exceptions import PackageError
from results.services.camtrapdp import (
    PROFILE_URL,
    SCHEMA_URL,
    TABLES,
    export_camtrapdp,
    table_schema,
)
from results.services.camtrapdp_check import check_camtrapdp
from results.services.camtrapdp_import import TASK_NAME, do_import_camtrapdp
from surveys.models import Camera, Cluster, Image, Site, Survey
from surveys.taxonomy import SurveyStatus
from tests.conftest import CAMERA_TRAPS
from tests.factories import ImageFactory, OrganisationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

# ../shared beside the repository, or TRAPTAGGER_SHARED (a worktree's checkout).
EXAMPLE = CAMERA_TRAPS / "camtrapdp_example"
_EMPTY = {"", "NA", "NaN", "nan"}


def _cell(kind: str, value: str):
    if value in _EMPTY:
        return None
    if kind == "number":
        return round(float(value), 6)
    if kind == "integer":
        return int(value)
    if kind == "datetime":
        return datetime.fromisoformat(value).astimezone(UTC)
    if kind == "boolean":
        return value.lower() in ("true", "1")
    return value


def table_rows(folder: Path, name: str) -> list[tuple]:
    """The table's rows, each cell read as its schema type (see the module docstring)."""
    kinds = {f["name"]: f["type"] for f in table_schema(name)["fields"]}
    with (folder / f"{name}.csv").open(encoding="utf-8-sig", newline="") as fh:
        return [tuple((column, _cell(kinds[column], value))
                      for column, value in sorted(row.items()))
                for row in csv.DictReader(fh)]


def assert_round_trip(package: Path, exported: Path) -> None:
    for name in TABLES:
        before, after = table_rows(package, name), table_rows(exported, name)
        assert len(after) == len(before), name
        assert set(after) == set(before), (name, set(before) ^ set(after))


# A tiny package -----------------------------------------------------------------------

def jpeg(path: Path, colour=(90, 120, 60)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (64, 48), colour).save(path, "JPEG")


DEPLOYMENTS = [{"deploymentID": "dep1", "locationID": "loc1", "locationName": "Kopje",
                "latitude": "-2.333", "longitude": "34.833",
                "deploymentStart": "2024-03-10T09:00:00+03:00",
                "deploymentEnd": "2024-03-11T09:00:00+03:00", "cameraModel": "Browning",
                "cameraHeight": "0.50", "habitat": "grassland"}]
MEDIA = [
    {"mediaID": "m1", "deploymentID": "dep1", "captureMethod": "activityDetection",
     "timestamp": "2024-03-10T10:00:00+03:00", "filePath": "media/zebra.jpg",
     "filePublic": "true", "fileName": "zebra.jpg", "fileMediatype": "image/jpeg"},
    {"mediaID": "m2", "deploymentID": "dep1", "captureMethod": "activityDetection",
     "timestamp": "2024-03-10T10:00:05+03:00", "filePath": "https://example.org/m2/file",
     "filePublic": "false", "fileName": "m2.jpg", "fileMediatype": "image/jpeg",
     "mediaComments": "kept"},
    {"mediaID": "m3", "deploymentID": "dep1", "captureMethod": "timeLapse",
     "timestamp": "2024-03-10T12:00:00+03:00", "filePath": "https://example.org/m3/file",
     "filePublic": "false", "fileName": "m3.jpg", "fileMediatype": "image/jpeg"},
]
OBSERVATIONS = [
    {"observationID": "o1", "deploymentID": "dep1", "eventID": "e1",
     "eventStart": "2024-03-10T07:00:00Z", "eventEnd": "2024-03-10T07:00:05Z",
     "observationLevel": "event", "observationType": "animal", "scientificName": "Equus quagga",
     "count": "2", "lifeStage": "adult", "classificationMethod": "human",
     "classifiedBy": "Ann", "classificationTimestamp": "2024-04-01T08:00:00Z"},
    {"observationID": "o2", "deploymentID": "dep1", "mediaID": "m1", "eventID": "e1",
     "eventStart": "2024-03-10T07:00:00Z", "eventEnd": "2024-03-10T07:00:00Z",
     "observationLevel": "media", "observationType": "animal", "scientificName": "Equus quagga",
     "bboxX": "0.1", "bboxY": "0.2", "bboxWidth": "0.3", "bboxHeight": "0.4",
     "classificationMethod": "machine", "classifiedBy": "MegaDetector",
     "classificationProbability": "0.8"},
    {"observationID": "o3", "deploymentID": "dep1", "mediaID": "m2", "eventID": "e1",
     "eventStart": "2024-03-10T07:00:05Z", "eventEnd": "2024-03-10T07:00:05Z",
     "observationLevel": "media", "observationType": "animal", "scientificName": "Equus quagga",
     "sex": "female", "classificationMethod": "human", "classifiedBy": "Ann"},
    {"observationID": "o4", "deploymentID": "dep1", "eventID": "e2",
     "eventStart": "2024-03-10T09:00:00Z", "eventEnd": "2024-03-10T09:00:00Z",
     "observationLevel": "event", "observationType": "blank",
     "classificationMethod": "human", "classifiedBy": "Ann"},
]


def write_table(folder: Path, name: str, rows: list[dict], *, bom=False, drop=()) -> None:
    columns = [f["name"] for f in table_schema(name)["fields"] if f["name"] not in drop]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (folder / f"{name}.csv").write_text(("\ufeff" if bom else "") + out.getvalue(),
                                        encoding="utf-8")


def tiny_package(folder: Path, *, deployments=None, media=None, observations=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = {
        "profile": PROFILE_URL, "name": "tiny", "created": "2024-04-01T00:00:00Z",
        "contributors": [{"title": "Tester", "role": "rightsHolder"}],
        "project": {"title": "Tiny", "samplingDesign": "opportunistic",
                    "captureMethod": ["activityDetection"], "individualAnimals": False,
                    "observationLevel": ["media", "event"]},
        "spatial": {"type": "Point", "coordinates": [34.833, -2.333]},
        "temporal": {"start": "2024-03-10", "end": "2024-03-11"},
        "taxonomic": [{"scientificName": "Equus quagga"}],
        "resources": [{"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource",
                       "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                       "schema": SCHEMA_URL.format(name=name)} for name in TABLES],
    }
    (folder / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    write_table(folder, "deployments", DEPLOYMENTS if deployments is None else deployments)
    write_table(folder, "media", MEDIA if media is None else media)
    write_table(folder, "observations", OBSERVATIONS if observations is None else observations)
    jpeg(folder / "media" / "zebra.jpg")
    return folder


def nothing_stored(media_root: Path) -> bool:
    return (not Survey.objects.exists() and not Image.objects.exists()
            and not any(p.is_file() for p in media_root.rglob("*")))


def test_tiny_package_becomes_sites_images_clusters_labels_and_boxes(tmp_path, media_storage):
    org = OrganisationFactory()
    result = do_import_camtrapdp(org, "Tiny", tiny_package(tmp_path / "pkg"))
    assert (result["deployments"], result["media"], result["clusters"], result["detections"],
            result["stored_files"], result["created"]) == (1, 3, 2, 1, 1, True)
    survey = Survey.objects.get(organisation=org, name="Tiny")
    assert survey.status == SurveyStatus.READY
    assert (survey.image_count, survey.cluster_count) == (3, 2)
    site = Site.objects.get(survey=survey)
    assert (site.name, site.external_id, site.latitude, site.longitude) == (
        "Kopje", "loc1", -2.333, 34.833)
    camera = Camera.objects.get(site=site)
    assert (camera.path, camera.camera_model, camera.deployment_start) == (
        "dep1", "Browning", datetime(2024, 3, 10, 6, tzinfo=UTC))
    assert camera.extra["row"] == {"cameraHeight": "0.50", "habitat": "grassland"}

    stored = Image.objects.get(external_id="m1")
    assert stored.key == f"surveys/{survey.pk}/originals/media/zebra.jpg"
    assert (media_storage / stored.key).is_file() and (media_storage / stored.web_key).is_file()
    assert len(stored.content_hash) == 64 and (stored.width, stored.height) == (64, 48)
    assert stored.timestamp == datetime(2024, 3, 10, 7, tzinfo=UTC)  # media.csv's, not EXIF
    remote = Image.objects.get(external_id="m2")
    assert (remote.key, remote.remote_path) == ("", "https://example.org/m2/file")
    assert remote.extra["observations"][0]["sex"] == "female"
    event = Cluster.objects.get(external_id="e1")
    assert set(event.images.values_list("external_id", flat=True)) == {"m1", "m2"}
    # m3 has no observation of its own: it joins the event whose span holds its time.
    assert Image.objects.get(external_id="m3").cluster.external_id == "e2"

    task = Task.objects.get(survey=survey)
    assert (task.name, task.status) == (TASK_NAME, TaskStatus.FINISHED)
    zebra = ClusterAnnotation.objects.get(task=task, cluster=event)
    assert list(zebra.labels.values_list("name", flat=True)) == ["Equus quagga"]
    assert zebra.labelled_at == datetime(2024, 4, 1, 8, tzinfo=UTC)
    blank = ClusterAnnotation.objects.get(task=task, cluster__external_id="e2")
    assert list(blank.labels.values_list("name", "task")) == [("Nothing", None)]
    box = Detection.objects.get()
    assert (box.left, box.top, box.right, box.bottom) == pytest.approx((0.1, 0.2, 0.4, 0.6))
    assert (box.category, box.status, box.classification, box.score) == (
        Category.ANIMAL, DetectionStatus.ACTIVE, "Equus quagga", 0.8)


def test_tiny_package_round_trips(tmp_path):
    package = tiny_package(tmp_path / "pkg")
    do_import_camtrapdp(OrganisationFactory(), "Tiny", package)
    export_camtrapdp(Survey.objects.get(name="Tiny"), tmp_path / "out", copy_media=True)
    assert check_camtrapdp(tmp_path / "out") == []
    assert_round_trip(package, tmp_path / "out")
    assert (tmp_path / "out" / "media" / "zebra.jpg").is_file()


def test_a_relabelled_event_is_exported_from_its_new_labels(tmp_path):
    package = tiny_package(tmp_path / "pkg")
    do_import_camtrapdp(OrganisationFactory(), "Tiny", package)
    annotation = ClusterAnnotation.objects.get(cluster__external_id="e1")
    annotation.labels.set([Label.objects.get(task=None, name="Unknown")])
    export_camtrapdp(Survey.objects.get(name="Tiny"), tmp_path / "out")
    events = [row for row in table_rows(tmp_path / "out", "observations")
              if ("eventID", "e1") in row and ("observationLevel", "event") in row]
    assert [dict(row)["observationType"] for row in events] == ["unknown"]
    assert ("observationID", "o1") not in events[0]  # the kept row no longer applies


def test_import_command_prints_counts_as_json(tmp_path, capsys):
    org = OrganisationFactory(name="Serengeti Lab")
    call_command("import_camtrapdp", "--org", "serengeti lab", "--survey", "Tiny",
                 "--package", str(tiny_package(tmp_path / "pkg")), "--json")
    counts = json.loads(capsys.readouterr().out)
    assert (counts["media"], counts["labelled_clusters"], counts["kept_media_observations"]) \
        == (3, 2, 1)
    assert Survey.objects.get(name="Tiny").organisation == org


def test_queries_do_not_grow_with_the_number_of_media(tmp_path):
    def queries(n: int) -> tuple[int, set]:  # n media without a file, and one with
        media = [{**MEDIA[1], "mediaID": f"x{i}", "fileName": f"x{i}.jpg",
                  "filePath": f"https://example.org/x{i}"} for i in range(n)]
        package = tiny_package(tmp_path / f"pkg{n}", media=[MEDIA[0], *media],
                               observations=[OBSERVATIONS[0], OBSERVATIONS[1], OBSERVATIONS[3]])
        org = OrganisationFactory()
        with CaptureQueriesContext(connection) as captured:
            do_import_camtrapdp(org, f"S{n}", package)
        sql = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
        inserts = Counter(q.split("(")[0] for q in sql if q.startswith("INSERT"))
        return len([q for q in sql if not q.startswith("INSERT")]), inserts

    queries(1)  # the first import also creates the special labels
    (few, few_inserts), (many, many_inserts) = queries(3), queries(300)
    assert few == many and set(few_inserts) == set(many_inserts)
    # A bulk insert is split by the database's limit on parameters (SQLite: 999, so
    # 55 images a statement); a save() per image would make 301.
    assert many_inserts['INSERT INTO "surveys_image" '] <= 6


# Bad input: a clear message naming file, row and field; nothing stored ---------------

def refused(package: Path, match: str, media_root: Path) -> None:
    with pytest.raises(PackageError, match=match):
        do_import_camtrapdp(OrganisationFactory(), "Tiny", package)
    assert nothing_stored(media_root)


def test_a_table_that_breaks_its_schema_is_refused(tmp_path, media_storage):
    media = [{**MEDIA[0], "captureMethod": "sometimes"}, *MEDIA[1:]]
    refused(tiny_package(tmp_path / "p", media=media),
            r"(?s)Camtrap DP 1.0.2 checks.*media.csv row 2, field captureMethod", media_storage)


@pytest.mark.parametrize("path", ["../outside.jpg", "media/../../outside.jpg", "/etc/hosts",
                                  "C:/photos/x.jpg"])
def test_a_file_path_outside_the_package_is_refused(tmp_path, media_storage, path):
    jpeg(tmp_path / "outside.jpg")
    media = [MEDIA[0], {**MEDIA[1], "filePath": path}, MEDIA[2]]
    refused(tiny_package(tmp_path / "p", media=media),
            r"media.csv row 3, field filePath: .* points outside the package", media_storage)


def test_a_link_out_of_the_package_is_refused(tmp_path, media_storage):
    jpeg(tmp_path / "secret.jpg")
    package = tiny_package(tmp_path / "p")
    (package / "media" / "zebra.jpg").unlink()
    (package / "media" / "zebra.jpg").symlink_to(tmp_path / "secret.jpg")
    refused(package, r"media.csv row 2, field filePath: media/zebra.jpg is a link to a file "
            "outside the package", media_storage)


def test_missing_columns_are_named(tmp_path, media_storage):
    package = tiny_package(tmp_path / "p")
    write_table(package, "deployments", DEPLOYMENTS, drop={"cameraModel", "habitat"})
    refused(package, r"deployments.csv: missing column\(s\) cameraModel, habitat", media_storage)


def test_a_byte_order_mark_is_accepted(tmp_path):
    package = tiny_package(tmp_path / "p")
    for name, rows in (("deployments", DEPLOYMENTS), ("media", MEDIA),
                       ("observations", OBSERVATIONS)):
        write_table(package, name, rows, bom=True)
    do_import_camtrapdp(OrganisationFactory(), "Tiny", package)
    assert Camera.objects.get().external_id == "dep1"  # not "\ufeffdep1"
    assert Image.objects.count() == 3


def test_a_species_that_starts_a_formula_is_refused(tmp_path, media_storage):
    observations = [{**OBSERVATIONS[0], "scientificName": '=HYPERLINK("http://x")'},
                    *OBSERVATIONS[1:]]
    refused(tiny_package(tmp_path / "p", observations=observations),
            r"observations.csv row 2, field scientificName: .* starts with '='", media_storage)


def test_a_folder_without_datapackage_json_is_refused(tmp_path, media_storage):
    package = tiny_package(tmp_path / "p")
    (package / "datapackage.json").unlink()
    refused(package, "no datapackage.json", media_storage)


def test_a_damaged_file_removes_the_files_already_stored(tmp_path, media_storage):
    package = tiny_package(tmp_path / "p")
    (package / "media" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    media = [MEDIA[0], {**MEDIA[1], "filePath": "media/broken.jpg"}, MEDIA[2]]
    write_table(package, "media", media)
    refused(package, r"media.csv row 3, field filePath: media/broken.jpg .*Nothing was imported",
            media_storage)


def test_a_survey_with_data_is_refused_and_another_organisations_name_is_not_ours(
        tmp_path, media_storage):
    theirs = SurveyFactory(name="Season 1")
    ImageFactory(camera__site__survey=theirs)
    package = tiny_package(tmp_path / "p")
    with pytest.raises(PackageError, match="already holds 1 site"):
        do_import_camtrapdp(theirs.organisation, "Season 1", package)
    assert Survey.objects.count() == 1 and Image.objects.count() == 1
    ours = OrganisationFactory(name="Ours")
    call_command("import_camtrapdp", "--org", "Ours", "--survey", "Season 1",
                 "--package", str(package))
    assert Image.objects.filter(camera__site__survey__organisation=ours).count() == 3
    assert Image.objects.filter(camera__site__survey=theirs).count() == 1
    with pytest.raises(CommandError, match="no organisation called 'Nobody'"):
        call_command("import_camtrapdp", "--org", "Nobody", "--survey", "Season 1",
                     "--package", str(package))


# The official example -----------------------------------------------------------------

needs_example = pytest.mark.skipif(not (EXAMPLE / "datapackage.json").is_file(),
                                   reason="the Camtrap DP example package is not here")


@needs_example
def test_the_example_package_imports_as_mapped(tmp_path, media_storage):
    package = shutil.copytree(EXAMPLE, tmp_path / "example")
    result = do_import_camtrapdp(OrganisationFactory(), "MICA", package)
    assert (result["sites"], result["deployments"], result["media"], result["stored_files"],
            result["clusters"], result["detections"], result["suggestions"]) == (
        4, 4, 423, 10, 34, 20, 2)
    assert Image.objects.filter(remote_path__startswith="https://").count() == 413
    by_event = {a.cluster.external_id: a for a in ClusterAnnotation.objects.select_related(
        "cluster").prefetch_related("labels")}
    names = {event: sorted(label.name for label in a.labels.all())
             for event, a in by_event.items()}
    assert names["4bb69c45"] == ["Anas platyrhynchos"]
    assert names["79204343"] == ["Anas platyrhynchos", "Ardea cinerea"]
    assert names["ea72c74f"] == ["Nothing"] and names["8f5ffbf2"] == ["Unknown"]
    assert names["962dff14"] == ["Vehicles/Humans/Livestock"]
    assert names["99880973"] == [] and by_event["99880973"].labelled_at is None  # unclassified
    guess = Cluster.objects.get(external_id="4dcacd8f")
    assert (guess.suggestion, guess.suggestion_score) == ("Ardea", 0.9)


@needs_example
def test_the_example_package_round_trips(tmp_path):
    package = shutil.copytree(EXAMPLE, tmp_path / "example")
    do_import_camtrapdp(OrganisationFactory(), "MICA", package)
    export_camtrapdp(Survey.objects.get(name="MICA"), tmp_path / "out")
    assert check_camtrapdp(tmp_path / "out") == []
    assert_round_trip(package, tmp_path / "out")


def test_names_differing_in_case_share_a_label_and_drawn_boxes_are_added(tmp_path):
    observations = [OBSERVATIONS[0],
                    {**OBSERVATIONS[1], "classificationMethod": "human",
                     "classificationProbability": ""},
                    {**OBSERVATIONS[3], "observationType": "animal",
                     "scientificName": "equus QUAGGA"}]
    package = tiny_package(tmp_path / "p", observations=observations)
    do_import_camtrapdp(OrganisationFactory(), "Tiny", package)
    task = Task.objects.get()
    assert list(task.labels.values_list("name", flat=True)) == ["Equus quagga"]
    assert ClusterAnnotation.objects.filter(task=task, labels__name="Equus quagga").count() == 2
    box = Detection.objects.get()
    assert (box.status, box.score, box.classification_score) == (
        DetectionStatus.ADDED, 1.0, None)
    export_camtrapdp(Survey.objects.get(name="Tiny"), tmp_path / "out")
    assert check_camtrapdp(tmp_path / "out") == []
    assert_round_trip(package, tmp_path / "out")


def test_a_media_level_observation_without_its_media_is_refused(tmp_path, media_storage):
    observations = [OBSERVATIONS[0], {**OBSERVATIONS[2], "mediaID": ""}]
    refused(tiny_package(tmp_path / "p", observations=observations),
            r"observations.csv row 3, field mediaID: a media-level observation needs",
            media_storage)


@pytest.mark.parametrize("name", TABLES)
def test_a_latin1_table_is_named_with_its_line_and_what_to_do(tmp_path, media_storage, name):
    package = tiny_package(tmp_path / "p")
    text = (package / f"{name}.csv").read_text(encoding="utf-8").replace(
        "dep1", "dép1", 2)
    (package / f"{name}.csv").write_bytes(text.encode("latin-1"))
    refused(package, rf"{name}.csv is not UTF-8 text \(byte 0xe9 on line 2, column \d+\)\. "
            "Save it as UTF-8", media_storage)


def test_a_latin1_descriptor_is_named(tmp_path, media_storage):
    package = tiny_package(tmp_path / "p")
    descriptor = json.loads((package / "datapackage.json").read_text())
    descriptor["title"] = "Café"
    (package / "datapackage.json").write_bytes(
        json.dumps(descriptor, ensure_ascii=False).encode("latin-1"))
    refused(package, r"datapackage.json is not UTF-8 text \(byte 0xe9 on line 1", media_storage)


def test_a_table_path_listing_absolute_files_is_a_clear_error(tmp_path, media_storage):
    package = tiny_package(tmp_path / "p")
    descriptor = json.loads((package / "datapackage.json").read_text())
    descriptor["resources"][0]["path"] = ["/etc/hosts", str(package / "deployments.csv")]
    (package / "datapackage.json").write_text(json.dumps(descriptor))
    refused(package, r"(?s)resources/0 \(deployments\)/path: the deployments table must be "
            r"one CSV file.*resources/0 \(deployments\)/path/0: '/etc/hosts' points outside",
            media_storage)
    # The command says it in one line per problem, without a traceback.
    with pytest.raises(CommandError, match="must be one CSV file"):
        call_command("import_camtrapdp", "--org", OrganisationFactory().name, "--survey", "T",
                     "--package", str(package))
