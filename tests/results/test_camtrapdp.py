"""Camtrap DP export against a small survey checked by hand, and its validation."""

import csv
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifiers.models import Detection
from classifiers.taxonomy import Category, DetectionStatus
from results.exceptions import ExportError
from results.services.camtrapdp import export_camtrapdp
from results.services.camtrapdp_check import check_camtrapdp
from surveys.models import Camera, Image, Site
from tests.factories import ClusterFactory, ImageFactory, OrganisationFactory
from tests.results.helpers import T0, labelled_task

pytestmark = pytest.mark.django_db


def read(folder, name):
    with (folder / f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def small_survey():
    """Two stations in Nairobi time; a zebra with two boxes, a blank, a lion, an AI guess."""
    task = labelled_task([("A", 0, "Zebra"), ("A", 20, "Nothing"), ("B", 30, "Lion")])
    survey = task.survey
    Site.objects.filter(survey=survey, name="A").update(latitude=-2.333, longitude=34.833)
    Site.objects.filter(survey=survey, name="B").update(latitude=-2.5, longitude=35.0)
    zebra = Image.objects.get(corrected_timestamp=T0, camera__site__survey=survey)
    Detection.objects.create(image=zebra, left=0.1, top=0.2, right=0.4, bottom=0.6, score=0.9,
                             category=Category.ANIMAL, source="megadetector-v5a",
                             classification="Zebra", classification_score=0.75)
    Detection.objects.create(image=zebra, left=0.5, top=0.5, right=0.7, bottom=0.9, score=0.8,
                             category=Category.ANIMAL, source="megadetector-v5a")
    Detection.objects.create(image=zebra, left=0.0, top=0.0, right=0.1, bottom=0.1, score=0.7,
                             category=Category.ANIMAL, source="megadetector-v5a",
                             status=DetectionStatus.DELETED)  # not counted
    site_b = Site.objects.get(survey=survey, name="B")
    # A cluster nobody labelled (it came after the task was launched) with an AI guess.
    guess = ClusterFactory(site=site_b, start=T0 + timedelta(hours=5),
                           end=T0 + timedelta(hours=5, seconds=4), suggestion="Lion",
                           suggestion_score=0.625)
    ImageFactory(camera=Camera.objects.get(site=site_b), cluster=guess,
                 corrected_timestamp=T0 + timedelta(hours=5))
    ImageFactory(camera=Camera.objects.get(site=site_b), corrected_timestamp=None)  # untimed
    return task, zebra, guess


def test_export_by_hand(tmp_path):
    task, zebra, guess = small_survey()
    result = export_camtrapdp(task.survey, tmp_path)
    assert (result["deployments"], result["media"], result["untimed"]) == (2, 4, 1)
    assert check_camtrapdp(tmp_path) == []

    deployments = read(tmp_path, "deployments")
    assert [(d["deploymentID"], d["locationName"], d["latitude"], d["longitude"],
             d["deploymentStart"], d["deploymentEnd"]) for d in deployments] == [
        ("A/CAM1", "A", "-2.333", "34.833", "2024-03-10T10:00:00+03:00",
         "2024-03-10T10:20:00+03:00"),
        ("B/CAM1", "B", "-2.5", "35", "2024-03-10T10:30:00+03:00",
         "2024-03-10T15:00:00+03:00"),
    ]
    media = {m["mediaID"]: m for m in read(tmp_path, "media")}
    assert media[str(zebra.pk)]["timestamp"] == "2024-03-10T10:00:00+03:00"
    assert media[str(zebra.pk)]["filePath"] == f"media/A/CAM1/{zebra.filename}"
    assert media[str(zebra.pk)]["captureMethod"] == "activityDetection"

    observations = read(tmp_path, "observations")
    events = sorted((o["observationType"], o["scientificName"], o["count"],
                     o["classificationMethod"], o["eventStart"], o["deploymentID"])
                    for o in observations if o["observationLevel"] == "event")
    assert events == [
        ("animal", "Lion", "", "human", "2024-03-10T10:30:00+03:00", "B/CAM1"),
        ("animal", "Lion", "", "machine", "2024-03-10T15:00:00+03:00", "B/CAM1"),
        ("animal", "Zebra", "2", "human", "2024-03-10T10:00:00+03:00", "A/CAM1"),
        ("blank", "", "", "human", "2024-03-10T10:20:00+03:00", "A/CAM1"),
    ]
    machine_event = next(o for o in observations if o["classificationMethod"] == "machine"
                         and o["observationLevel"] == "event")
    assert machine_event["classificationProbability"] == "0.625"
    assert machine_event["eventID"] == str(guess.pk)
    boxes = sorted((o["bboxX"], o["bboxY"], o["bboxWidth"], o["bboxHeight"],
                     o["scientificName"], o["classificationProbability"], o["mediaID"])
                    for o in observations if o["observationLevel"] == "media")
    assert boxes == [("0.1", "0.2", "0.3", "0.4", "Zebra", "0.75", str(zebra.pk)),
                     ("0.5", "0.5", "0.2", "0.4", "", "0.8", str(zebra.pk))]

    package = json.loads((tmp_path / "datapackage.json").read_text())
    assert package["temporal"] == {"start": "2024-03-10", "end": "2024-03-10"}
    assert [t["scientificName"] for t in package["taxonomic"]] == ["Lion", "Zebra"]
    assert package["spatial"]["type"] == "Polygon"
    assert package["profile"].endswith("/1.0.2/camtrap-dp-profile.json")


def test_site_without_coordinates_is_named_and_nothing_written(tmp_path):
    task, _zebra, _guess = small_survey()
    Site.objects.filter(survey=task.survey, name="B").update(latitude=None)
    with pytest.raises(ExportError, match=r"site\(s\) B have none"):
        export_camtrapdp(task.survey, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_formula_in_a_label_is_defused(tmp_path):
    task, _zebra, _guess = small_survey()
    task.labels.filter(name="Zebra").update(name="=HYPERLINK(\"http://x\")")
    export_camtrapdp(task.survey, tmp_path)
    names = {o["scientificName"] for o in read(tmp_path, "observations")}
    assert "'=HYPERLINK(\"http://x\")" in names
    assert not any(n.startswith("=") for n in names)


def test_checker_names_row_and_field_of_a_broken_table(tmp_path):
    task, _zebra, _guess = small_survey()
    export_camtrapdp(task.survey, tmp_path)
    text = (tmp_path / "media.csv").read_text().replace("activityDetection", "sometimes", 1)
    (tmp_path / "media.csv").write_text(text)
    problems = check_camtrapdp(tmp_path)
    assert len(problems) == 1 and "media.csv row 2, field captureMethod" in problems[0]


def test_command_writes_a_valid_package_and_scopes_by_org(tmp_path, capsys):
    task, _zebra, _guess = small_survey()
    survey = task.survey
    call_command("export_camtrapdp", "--survey", survey.name, "--org",
                 survey.organisation.name, "--out", str(tmp_path / "pkg"))
    out = capsys.readouterr().out
    assert "passes the Camtrap DP 1.0.2" in out and "1 image(s) without a timestamp" in out
    other = OrganisationFactory(name="Someone Else")
    with pytest.raises(CommandError, match="no survey called .* in organisation “Someone"):
        call_command("export_camtrapdp", "--survey", survey.name, "--org", other.name,
                     "--out", str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()
