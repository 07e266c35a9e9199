"""Results CSV, Camtrap DP and COCO count a survey's relevant boxes only.

Relevant is classifiers.selectors.relevance, the rule the tagging page and
classification use: not static; people's boxes always; machine boxes active, scoring
at least their threshold (the survey's detection_threshold, else their detector's),
and not set aside by the survey's ignore_small_boxes / ignore_top_strip options.

Every test puts boxes the old rule (any active or people's box that is not static)
counted but this one does not on the zebra image of ``small_survey``, whose two
MegaDetector v5a boxes (0.9 and 0.8; threshold 0.2) count.
"""

import csv
import io
import json

import pytest

from classifiers.models import Detection, Detector
from classifiers.taxonomy import Category, DetectionStatus
from results.services.camtrapdp import export_camtrapdp
from results.services.coco import export_coco
from results.services.results import ResultsOptions, default_columns, write_results_csv
from surveys.models import Image
from tests.results.test_camtrapdp import read, small_survey

pytestmark = pytest.mark.django_db


def box(image, score, *, source="megadetector-v5a", status=DetectionStatus.ACTIVE,
        left=0.2, top=0.3, right=0.4, bottom=0.5) -> int:
    return Detection.objects.create(
        image=image, left=left, top=top, right=right, bottom=bottom, score=score,
        category=Category.ANIMAL, source=source, status=status).pk


def counted(task, zebra, tmp_path) -> dict[str, object]:
    """What each output counts on the zebra image: box ids, or the count it gives."""
    survey = task.survey
    survey.refresh_from_db()

    def results(level):
        out = io.StringIO()
        write_results_csv(task, out, ResultsOptions(level=level, columns=default_columns(level)))
        return [r for r in csv.DictReader(io.StringIO(out.getvalue()))
                if r["species"] == "Zebra"]

    (cluster_row,) = results("cluster")
    (image_row,) = [r for r in results("image") if r["image_id"] == str(zebra.pk)]
    detection_rows = results("detection")

    folder = tmp_path / "camtrapdp"
    export_camtrapdp(survey, folder)
    observations = read(folder, "observations")
    (event,) = [o for o in observations if o["observationLevel"] == "event"
                and o["scientificName"] == "Zebra" and o["classificationMethod"] == "human"]

    Image.objects.filter(camera__site__survey=survey).update(width=2048, height=1536)
    export_coco(survey, tmp_path / "coco.json")
    coco = json.loads((tmp_path / "coco.json").read_text())
    return {
        "results cluster count": int(cluster_row["count"]),
        "results image count": int(image_row["count"]),
        "results detection rows": {int(r["detection_id"]) for r in detection_rows},
        "camtrapdp media observations": {int(o["observationID"][1:]) for o in observations
                                         if o["observationLevel"] == "media"},
        "camtrapdp event count": int(event["count"]),
        "coco boxes": {int(a["id"][1:]) for a in coco["annotations"] if "bbox" in a},
    }


def expect(relevant: set[int]) -> dict[str, object]:
    return {"results cluster count": len(relevant), "results image count": len(relevant),
            "results detection rows": relevant, "camtrapdp media observations": relevant,
            "camtrapdp event count": len(relevant), "coco boxes": relevant}


def zebra_boxes(zebra) -> set[int]:
    """The two boxes ``small_survey`` gave the zebra image that count (its third is deleted)."""
    return set(Detection.objects.filter(image=zebra, status=DetectionStatus.ACTIVE)
               .values_list("pk", flat=True))


def test_a_machine_box_below_its_detectors_threshold_is_not_counted_a_persons_box_is(tmp_path):
    task, zebra, _guess = small_survey()
    good = zebra_boxes(zebra)
    box(zebra, 0.15)  # MegaDetector v5a: 0.2
    drawn = box(zebra, 0.0, source="user", status=DetectionStatus.ADDED)
    moved = box(zebra, 0.05, status=DetectionStatus.EDITED)
    assert counted(task, zebra, tmp_path) == expect(good | {drawn, moved})


def test_the_surveys_detection_threshold_decides_over_the_detectors(tmp_path):
    task, zebra, _guess = small_survey()
    (best,) = Detection.objects.filter(image=zebra, score=0.9).values_list("pk", flat=True)
    drawn = box(zebra, 0.0, source="user", status=DetectionStatus.ADDED)
    task.survey.detection_threshold = 0.85  # the 0.8 box (above v5a's 0.2) no longer counts
    task.survey.save(update_fields=["detection_threshold"])
    assert counted(task, zebra, tmp_path) == expect({best, drawn})


def test_small_boxes_and_the_top_strip_are_not_counted_when_the_survey_ignores_them(tmp_path):
    task, zebra, _guess = small_survey()
    good = zebra_boxes(zebra)
    tiny = box(zebra, 0.95, left=0.6, top=0.6, right=0.64, bottom=0.64)  # area 0.0016
    sky = box(zebra, 0.95, left=0.6, top=0.05, right=0.9, bottom=0.3)  # bottom above 0.33
    tiny_by_person = box(zebra, 0.0, source="user", status=DetectionStatus.ADDED,
                         left=0.7, top=0.02, right=0.72, bottom=0.04)
    everything = good | {tiny, sky, tiny_by_person}
    assert counted(task, zebra, tmp_path / "before") == expect(everything)
    survey = task.survey
    survey.ignore_small_boxes = True
    survey.save(update_fields=["ignore_small_boxes"])
    assert counted(task, zebra, tmp_path / "small") == expect(everything - {tiny})
    survey.ignore_small_boxes, survey.ignore_top_strip = False, 0.33
    survey.save(update_fields=["ignore_small_boxes", "ignore_top_strip"])
    assert counted(task, zebra, tmp_path / "strip") == expect(everything - {sky})


def test_a_registered_detectors_threshold_is_honoured(tmp_path):
    task, zebra, _guess = small_survey()
    detector = Detector.objects.create(
        organisation=task.survey.organisation, name="Squares", version="1", input_size=64,
        model_key="models/squares.keras", category_map={"0": 1}, threshold=0.9)
    task.survey.registered_detector = detector
    task.survey.save(update_fields=["registered_detector"])
    good = zebra_boxes(zebra)
    sure = box(zebra, 0.95, source=detector.source)
    box(zebra, 0.5, source=detector.source)  # above the default 0.1, below the detector's 0.9
    assert task.survey.detection_threshold is None
    assert counted(task, zebra, tmp_path) == expect(good | {sure})


def test_relevance_is_worked_out_once_per_export_not_per_page(tmp_path, monkeypatch):
    """One query for the survey's box sources per export, however many pages it takes."""
    from functools import partial

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core import paging
    from results.services import camtrapdp, coco, results

    task, _zebra, _guess = small_survey()  # three labelled clusters: three pages of one
    monkeypatch.setattr(results, "PAGE", 1)
    for module in (coco, camtrapdp):
        monkeypatch.setattr(module, "pages_by_pk", partial(paging.pages_by_pk, page=1))
    for export in (lambda: write_results_csv(task, io.StringIO()),
                   lambda: write_results_csv(task, io.StringIO(), ResultsOptions(
                       level="detection", columns=default_columns("detection"))),
                   lambda: export_coco(task.survey, tmp_path / "coco.json"),
                   lambda: export_camtrapdp(task.survey, tmp_path / "camtrapdp")):
        with CaptureQueriesContext(connection) as queries:
            export()
        sources = [q["sql"] for q in queries.captured_queries
                   if "DISTINCT" in q["sql"] and "source" in q["sql"]]
        assert len(sources) == 1, sources
