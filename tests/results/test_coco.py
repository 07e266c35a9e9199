"""COCO Camera Traps export against a small case, checked by MegaDetector's checker."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from results.exceptions import ExportError
from results.services.coco import export_coco
from surveys.models import Image
from tests.results.test_camtrapdp import small_survey

pytestmark = pytest.mark.django_db


def check(path):
    from megadetector.data_management.integrity_check_json_db import (
        IntegrityCheckOptions,
        integrity_check_json_db,
    )

    options = IntegrityCheckOptions()
    options.requireInfo = True
    options.bRequireLocation = True
    options.validateBoxes = "error"
    options.verbose = False
    _categories, _data, errors = integrity_check_json_db(str(path), options)
    return errors


def test_coco_by_hand_passes_the_checker(tmp_path):
    task, zebra, _guess = small_survey()
    Image.objects.filter(camera__site__survey=task.survey).update(width=2048, height=1536)
    path = tmp_path / "coco.json"
    result = export_coco(task.survey, path)
    assert (result["images"], result["annotations"], result["boxes"]) == (3, 4, 2)
    errors = check(path)
    assert errors == {"unused_files": [], "validation_errors": []}

    data = json.loads(path.read_text())
    categories = {c["name"]: c["id"] for c in data["categories"]}
    assert categories["empty"] == 0 and "Nothing" not in categories
    assert sorted(categories, key=categories.get) == [
        "empty", "Knocked Down", "Lion", "Unknown", "Vehicles/Humans/Livestock", "Zebra"]
    images = {i["id"]: i for i in data["images"]}
    first = images[str(zebra.pk)]
    assert first["datetime"] == "2024-03-10 10:00:00"  # Nairobi, UTC+3
    assert (first["location"], first["seq_num_frames"], first["frame_num"]) == ("A", 1, 0)
    assert first["file_name"] == f"A/CAM1/{zebra.filename}"
    boxes = sorted((a["bbox"], a["category_id"]) for a in data["annotations"] if "bbox" in a)
    assert boxes == [([204.8, 307.2, 614.4, 614.4], categories["Zebra"]),
                     ([1024.0, 768.0, 409.6, 614.4], categories["Zebra"])]
    whole = sorted(a["category_id"] for a in data["annotations"] if "bbox" not in a)
    assert whole == [categories["empty"], categories["Lion"]]


def test_no_task_is_a_clear_error(tmp_path):
    task, _zebra, _guess = small_survey()
    task.delete()
    with pytest.raises(ExportError, match="no annotation task yet"):
        export_coco(task.survey, tmp_path / "coco.json")
    assert not (tmp_path / "coco.json").exists()


def test_command(tmp_path, capsys):
    task, _zebra, _guess = small_survey()
    call_command("export_coco", "--survey", task.survey.name, "--out", str(tmp_path / "c.json"))
    # These images have no recorded size, so their boxes cannot be given in pixels:
    # each image gets its cluster's label instead.
    assert "Wrote 3 image(s) and 3 annotation(s) (0 with a box)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_coco", "--survey", task.survey.name,
                     "--out", str(tmp_path / "nowhere" / "c.json"))
