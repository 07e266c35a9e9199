"""Training data export: crops and label files checked by hand, label translation, reuse."""

import csv
import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from PIL import Image as PILImage

from accounts.taxonomy import Role
from classifiers.taxonomy import DetectionStatus
from results.exceptions import ExportError
from results.models import Export
from results.services.exports import do_request_export, do_run_export
from results.taxonomy import ExportKind, ExportStatus
from tests.factories import OrganisationFactory, member
from tests.training.training_helpers import labelled_survey
from training.services.crops import crop_name
from training.services.label_translation import translate
from training.services.training_data import (
    CSV_COLUMNS,
    TrainingDataOptions,
    export_training_data,
)

pytestmark = pytest.mark.django_db
BOX = (0.0, 0.0, 0.2, 0.5)  # 80 x 160 px of a 400 x 320 image, at the left edge


def small_case(org=None):
    """Kept: a zebra box (hand-checked), a lion box. Left out: a tiny box, a static one,
    a deleted one, a low-score one, a two-label cluster, a Nothing cluster."""
    org = org or OrganisationFactory()
    task, made = labelled_survey(org, "Serengeti S1", [
        ("A", ["Zebra"], [BOX, (0.6, 0.5, 0.9, 0.9),
                          (0.5, 0.5, 0.52, 0.52),  # area 0.0004 < 0.005
                          {"left": 0.1, "top": 0.6, "right": 0.3, "bottom": 0.9,
                           "static": True},
                          {"left": 0.1, "top": 0.6, "right": 0.3, "bottom": 0.9,
                           "status": DetectionStatus.DELETED},
                          {"left": 0.1, "top": 0.6, "right": 0.3, "bottom": 0.9,
                           "score": 0.05}]),  # under mdv5a's 0.2
        ("B", ["lion "], [(0.3, 0.2, 0.7, 0.8)]),
        ("B", ["Zebra", "lion "], [(0.3, 0.2, 0.7, 0.8)]),
        ("A", ["Nothing"], [(0.3, 0.2, 0.7, 0.8)]),
    ])
    return task, made


def read_csv(folder):
    with (folder / "classification_ds" / "classification_ds.csv").open(encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_crops_and_label_files_by_hand(tmp_path):
    task, made = small_case()
    result = export_training_data([task], tmp_path, TrainingDataOptions(crop_size=80))
    assert (result["crops"], result["made"], result["reused"]) == (3, 3, 0)
    rows = read_csv(tmp_path)
    assert rows[0] == CSV_COLUMNS
    zebra = made[0][2][0]
    by_id = {int(r[0]): dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert set(by_id) == {zebra.pk, made[0][2][1].pk, made[1][2][0].pk}
    row = by_id[zebra.pk]
    assert row == {
        "detection_id": str(zebra.pk), "left": "0.0", "right": "0.2", "top": "0.0",
        "bottom": "0.5", "cluster_id": str(made[0][0].pk),
        "path": f"crops/{task.survey_id}/{crop_name(zebra.pk, BOX, 80)}",
        "hash": made[0][1].content_hash, "dataset": "Serengeti S1", "location": "A",
        "dataset_class": "Zebra", "confidence": "0.9", "label": "Zebra"}
    assert by_id[made[1][2][0].pk]["label"] == "lion"  # spelling merged (space trimmed)
    crop = PILImage.open(tmp_path / row["path"])
    assert crop.size == (80, 80)
    # The 80 x 160 box becomes a 160 x 160 square centred on it: its left 40 px (a
    # quarter) fall outside the image and are black; the rest is the red half.
    for x in (2, 15):
        assert max(crop.getpixel((x, 40))) < 30, x
    for x in (25, 60, 78):
        r, g, b = crop.getpixel((x, 40))
        assert r > 180 and g < 60 and b < 60, (x, (r, g, b))
    assert json.loads((tmp_path / "label_spec.json").read_text()) == {
        "Zebra": {"dataset_labels": {"Serengeti S1": ["Zebra"]}},
        "lion": {"dataset_labels": {"Serengeti S1": ["lion "]}}}
    assert json.loads((tmp_path / "label_index.json").read_text()) == {"0": "Zebra",
                                                                       "1": "lion"}


def test_min_area_and_min_score_options(tmp_path):
    task, _made = small_case()
    result = export_training_data([task], tmp_path, TrainingDataOptions(min_area=0.11))
    assert result["crops"] == 2  # the 0.1 zebra box is left out
    result = export_training_data([task], tmp_path, TrainingDataOptions(min_score=0.85))
    assert result["crops"] == 3


def test_nothing_qualifies_is_a_clear_error(tmp_path):
    task, _made = small_case()
    with pytest.raises(ExportError, match="No box qualifies"):
        export_training_data([task], tmp_path, TrainingDataOptions(min_score=0.95))
    assert not (tmp_path / "classification_ds").exists()


def test_second_run_reuses_crops_without_rewriting(tmp_path):
    task, made = small_case()
    first = export_training_data([task], tmp_path / "one")
    crop = next((tmp_path / "one" / "crops" / str(task.survey_id)).iterdir())
    stamp = crop.stat().st_mtime_ns
    again = export_training_data([task], tmp_path / "one")
    assert (again["made"], again["reused"]) == (0, first["crops"])
    assert crop.stat().st_mtime_ns == stamp
    # Another folder: copied from storage, not made again.
    other = export_training_data([task], tmp_path / "two")
    assert (other["made"], other["reused"]) == (0, first["crops"])
    # An edited box is a new crop.
    made[0][2][0].__class__.objects.filter(pk=made[0][2][0].pk).update(right=0.25)
    edited = export_training_data([task], tmp_path / "one")
    assert (edited["made"], edited["reused"]) == (1, first["crops"] - 1)


def test_translation_merges_groups_and_excludes():
    counts = {("S1", "Zebra"): 50, ("S2", "zebra"): 10, ("S2", " ZEBRA"): 3,
              ("S1", "Thomson's gazelle"): 4, ("S1", "Grant's gazelle"): 3,
              ("S2", "Gazelle"): 2, ("S1", "Aardwolf"): 1, ("S1", "Lion"): 30}
    parents = {"Thomson's gazelle": "Gazelle", "Grant's gazelle": "gazelle"}
    result = translate(counts, parents, group_under=5, exclude_under=2)
    assert result.mapping == {
        ("S1", "Zebra"): "Zebra", ("S2", "zebra"): "Zebra", ("S2", " ZEBRA"): "Zebra",
        ("S1", "Thomson's gazelle"): "Gazelle", ("S1", "Grant's gazelle"): "Gazelle",
        ("S2", "Gazelle"): "Gazelle", ("S1", "Aardwolf"): None, ("S1", "Lion"): "Lion"}
    assert result.counts == {"Zebra": 63, "Gazelle": 9, "Lion": 30}
    assert result.spec()["Zebra"] == {"dataset_labels": {"S1": ["Zebra"],
                                                         "S2": [" ZEBRA", "zebra"]}}
    assert result.index() == {"0": "Gazelle", "1": "Lion", "2": "Zebra"}
    # No grouping: rare children stay apart (and Aardwolf stays too without exclusion).
    plain = translate(counts, parents)
    assert plain.mapping[("S1", "Grant's gazelle")] == "Grant's gazelle"
    assert plain.mapping[("S1", "Aardwolf")] == "Aardwolf"
    # A common child is not grouped.
    assert translate(counts, parents, group_under=4).mapping[
        ("S1", "Thomson's gazelle")] == "Thomson's gazelle"


def test_parent_labels_of_the_task_group_rare_children(tmp_path):
    org = OrganisationFactory()
    task, _made = labelled_survey(org, "S", [
        ("A", ["Zebra"], [BOX]), ("A", ["Zebra"], [BOX]),
        ("A", ["Thomson's gazelle"], [BOX]), ("B", ["Grant's gazelle"], [BOX]),
    ], parents={"Thomson's gazelle": "Gazelle", "Grant's gazelle": "Gazelle"})
    result = export_training_data([task], tmp_path, TrainingDataOptions(group_under=2))
    assert result["translation"].counts == {"Gazelle": 2, "Zebra": 2}
    labels = {r[10]: r[12] for r in read_csv(tmp_path)[1:]}
    assert labels == {"Zebra": "Zebra", "Thomson's gazelle": "Gazelle",
                      "Grant's gazelle": "Gazelle"}


def test_command_writes_and_previews(tmp_path):
    task, _made = small_case()
    out = io.StringIO()
    call_command("export_training_data", "--task", str(task.pk), "--out", str(tmp_path / "p"),
                 "--preview", stdout=out)
    assert "Serengeti S1 / Zebra: 2 crop(s) → Zebra" in out.getvalue()
    assert not (tmp_path / "p").exists()
    call_command("export_training_data", "--task", str(task.pk), "--out", str(tmp_path / "x"),
                 "--exclude-under", "2", stdout=out, stderr=io.StringIO())
    assert json.loads((tmp_path / "x" / "label_index.json").read_text()) == {"0": "Zebra"}


@pytest.mark.hostile
def test_command_refuses_another_organisations_task(tmp_path):
    mine, _made = small_case()
    theirs, _made = small_case()
    org = mine.survey.organisation
    with pytest.raises(CommandError, match=f"no task {theirs.pk} in organisation"):
        call_command("export_training_data", "--task", str(mine.pk), "--task",
                     str(theirs.pk), "--org", org.name, "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="several organisations"):
        call_command("export_training_data", "--task", str(mine.pk), "--task",
                     str(theirs.pk), "--out", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_admin_export_runs_on_the_worker_and_downloads(client):
    task, _made = small_case()
    admin = member(task.survey.organisation, Role.ADMIN)
    export = do_request_export(task.survey, ExportKind.TRAINING_DATA, acting_user=admin,
                               options={"tasks": [task.pk], "exclude_under": 2})
    export = do_run_export(export.pk)
    assert export.status == ExportStatus.DONE, export.message
    export.refresh_from_db()
    assert (export.done, export.total) == (2, 2)
    client.force_login(admin)
    response = client.get(reverse("export_download", args=[export.pk]))
    names = set(zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist())
    assert {"classification_ds/classification_ds.csv", "label_spec.json",
            "label_index.json"} <= names
    assert sum(1 for n in names if n.endswith(".jpg")) == 2
    assert len(default_storage.listdir(
        f"crops/{task.survey.organisation_id}/{task.survey_id}/")[1]) == 2


@pytest.mark.hostile
def test_admin_request_with_another_organisations_task_is_refused(client):
    mine, _made = small_case()
    theirs, _made = small_case()
    admin = member(mine.survey.organisation, Role.ADMIN)
    with pytest.raises(ExportError, match=f"no task {theirs.pk}"):
        do_request_export(mine.survey, ExportKind.TRAINING_DATA, acting_user=admin,
                          options={"tasks": [mine.pk, theirs.pk]})
    client.force_login(admin)
    response = client.post(reverse("admin:results_export_training_data"),
                           {"tasks": [mine.pk, theirs.pk], "min_area": "0.005",
                            "group_under": "0", "exclude_under": "0", "crop_size": "256",
                            "export": "1"})
    assert response.status_code == 200
    assert not Export.objects.exists()


def test_admin_previews_labels_with_counts_then_exports(client):
    task, _made = small_case()
    admin = member(task.survey.organisation, Role.ADMIN)
    client.force_login(admin)
    url = reverse("admin:results_export_training_data")
    assert client.get(url).status_code == 200
    form = {"tasks": [task.pk], "min_area": "0.005", "group_under": "0",
            "exclude_under": "2", "crop_size": "128"}
    page = client.post(url, form).content.decode()
    assert "Zebra" in page and "left out" in page and not Export.objects.exists()
    response = client.post(url, {**form, "export": "1"})
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.kind == ExportKind.TRAINING_DATA
    assert export.options["tasks"] == [task.pk] and export.options["crop_size"] == 128
