"""Results at every row level, against a small case counted by hand."""

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifiers.models import Detection
from classifiers.taxonomy import Category, DetectionStatus
from results.exceptions import ExportError
from results.services.results import ResultsOptions, default_columns, write_results_csv
from surveys.models import Camera, Image
from tests.factories import ImageFactory
from tests.results.helpers import T0, labelled_task

pytestmark = pytest.mark.django_db


def survey():
    """A: zebra cluster (2 images: 2 and 1 animal boxes), blank; B: lion (no boxes)."""
    task = labelled_task([("A", 0, "Zebra"), ("A", 20, "Nothing"), ("B", 30, "Lion")])
    zebra = Image.objects.get(corrected_timestamp=T0, camera__site__survey=task.survey)
    second = ImageFactory(camera=zebra.camera, cluster=zebra.cluster,
                          corrected_timestamp=T0.replace(second=5), filename="Z2.JPG")
    box = {"top": 0.1, "bottom": 0.5, "score": 0.9, "source": "md"}
    Detection.objects.create(image=zebra, left=0.1, right=0.3, **box)
    Detection.objects.create(image=zebra, left=0.5, right=0.6, **box, classification="Zebra")
    Detection.objects.create(image=zebra, left=0.7, right=0.8, **box,
                             category=Category.PERSON)
    Detection.objects.create(image=zebra, left=0.0, right=0.1, **box,
                             status=DetectionStatus.DELETED)
    Detection.objects.create(image=second, left=0.2, right=0.4, **box)
    return task, zebra, second


def rows(task, level, **options):
    out = io.StringIO()
    written = write_results_csv(task, out, ResultsOptions(
        level=level, columns=options.pop("columns", default_columns(level)), **options))
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(parsed)
    return parsed


def test_image_rows_count_each_images_animals():
    task, zebra, second = survey()
    found = {(r["species"], r["file"]): r for r in rows(task, "image")}
    assert found[("Zebra", f"A/CAM1/{zebra.filename}")]["count"] == "2"
    assert found[("Zebra", "A/CAM1/Z2.JPG")]["count"] == "1"
    assert found[("Zebra", "A/CAM1/Z2.JPG")]["timestamp"] == "2024-03-10T10:00:05+03:00"
    assert [r["count"] for r in found.values() if r["species"] == "Nothing"] == ["0"]
    assert len(found) == 4  # zebra x2, nothing, lion


def test_detection_rows_are_the_counted_boxes():
    task, zebra, second = survey()
    found = rows(task, "detection", columns=["file", "species", "box", "score",
                                              "classification", "count"])
    assert sorted((r["file"], r["box"], r["classification"], r["count"]) for r in found) == [
        (f"A/CAM1/{zebra.filename}", "0.1000 0.1000 0.2000 0.4000", "", "1"),
        (f"A/CAM1/{zebra.filename}", "0.5000 0.1000 0.1000 0.4000", "Zebra", "1"),
        (f"A/CAM1/{zebra.filename}", "0.7000 0.1000 0.1000 0.4000", "", ""),  # a person
        ("A/CAM1/Z2.JPG", "0.2000 0.1000 0.2000 0.4000", "", "1"),
    ]


def test_site_and_survey_sums():
    task, _zebra, _second = survey()
    sites = {(r["site"], r["species"]): r for r in rows(task, "site")}
    assert (sites[("A", "Zebra")]["clusters"], sites[("A", "Zebra")]["individuals"]) == ("1", "2")
    assert sites[("A", "Zebra")]["first_seen"] == "2024-03-10T10:00:00+03:00"
    assert sites[("B", "Lion")]["individuals"] == "0"  # labelled, but no boxes
    whole = {r["species"]: r["clusters"] for r in rows(task, "survey")}
    assert whole == {"Lion": "1", "Nothing": "1", "Zebra": "1"}
    cameras = rows(task, "camera")
    assert {(r["site"], r["camera"], r["species"]) for r in cameras} == {
        ("A", "A/CAM1", "Zebra"), ("A", "A/CAM1", "Nothing"), ("B", "B/CAM1", "Lion")}
    assert Camera.objects.filter(site__survey=task.survey).count() >= 2


def test_columns_must_fit_the_level(tmp_path):
    task, _z, _s = survey()
    with pytest.raises(ExportError, match="for cluster rows: box"):
        rows(task, "cluster", columns=["species", "box"])
    with pytest.raises(ExportError, match="--joined makes no sense for site rows"):
        rows(task, "site", joined=True)
    call_command("export_results", "--task", str(task.pk), "--level", "image",
                 "--out", str(tmp_path / "images.csv"))
    assert "image_id" in (tmp_path / "images.csv").read_text().splitlines()[0]
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("export_results", "--task", str(task.pk), "--level", "capture",
                     "--out", str(tmp_path / "x.csv"))
