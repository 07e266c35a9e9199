"""run_detection and run_classifier: the conductor's stages run again, followed to the end."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from classifiers.models import Classifier, Detection
from surveys.models import Cluster, Image, Survey
from surveys.services.clustering import do_cluster_survey
from surveys.services.importing import do_run_import, do_start_import
from surveys.taxonomy import SurveyStatus
from tests.factories import OrganisationFactory, SurveyFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ready_survey(demo_source):
    root, _ = demo_source
    survey = SurveyFactory(name="Season 1", detector="motion")
    do_run_import(do_start_import(survey, str(root)))
    do_cluster_survey(survey)
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.READY)
    return survey


def run(capsys, *args) -> dict:
    call_command(*args, "--now", "--json")
    captured = capsys.readouterr()
    run.progress = captured.err  # the bar goes to stderr when stdout carries JSON
    return json.loads(captured.out)


def test_run_detection_detects_what_no_detector_has_seen(ready_survey, capsys):
    images = Image.objects.filter(camera__site__survey=ready_survey)
    counts = run(capsys, "run_detection", "--survey", "Season 1")
    assert counts["status"] == SurveyStatus.READY and counts["detected"] == counts["images"] == 48
    assert counts["by_source"] == {"motion": counts["detections"]} and counts["detections"] > 0
    assert "] 48/48 images detected" in run.progress
    # Ten images forgotten: a run detects them, no more.
    forgotten = list(images.order_by("id").values_list("id", flat=True)[:10])
    Detection.objects.filter(image_id__in=forgotten).delete()
    images.filter(id__in=forgotten).update(detected=False)
    kept = set(Detection.objects.exclude(image_id__in=forgotten).values_list("id", flat=True))
    assert run(capsys, "run_detection", "--survey", "Season 1")["detected"] == 48
    assert kept <= set(Detection.objects.values_list("id", flat=True))
    # Another detector than the one whose boxes are current: every image detected again,
    # motion's boxes superseded (kept, not counted).
    motion = Detection.objects.count()
    again = run(capsys, "run_detection", "--survey", "Season 1", "--detector", "whole")
    assert again["by_source"] == {"whole": 48} and again["detected"] == 48
    assert Detection.all_boxes.filter(source="motion", superseded=True).count() == motion
    ready_survey.refresh_from_db()
    assert ready_survey.detector == "whole"
    # Nothing left to detect: a third run changes nothing.
    assert run(capsys, "run_detection", "--survey", "Season 1") == again


def test_run_detection_refuses_a_survey_in_its_pipeline_or_an_unknown_detector(ready_survey):
    with pytest.raises(CommandError, match="Unknown detector 'yolo'"):
        call_command("run_detection", "--survey", "Season 1", "--detector", "yolo", "--now")
    Survey.objects.filter(pk=ready_survey.pk).update(status=SurveyStatus.CLUSTERING)
    with pytest.raises(CommandError, match="is clustering; a stage can be run again once"):
        call_command("run_detection", "--survey", "Season 1", "--now")
    with pytest.raises(CommandError, match="is clustering; a stage can be run again once"):
        call_command("run_detection", "--survey", "Season 1")  # the queued path says the same
    ready_survey.refresh_from_db()
    assert ready_survey.status == SurveyStatus.CLUSTERING and ready_survey.detector == "motion"
    assert not Detection.objects.exists()


def test_run_classifier_classifies_and_another_classifier_replaces(
        ready_survey, demo_classifier, demo_model_file, capsys):
    run(capsys, "run_detection", "--survey", "Season 1")
    first = run(capsys, "run_classifier", "--survey", "Season 1", "--classifier",
                demo_classifier.name)
    assert first["status"] == SurveyStatus.READY
    assert first["classified"] == first["relevant_animal_boxes"] > 0
    assert first["clusters_with_suggestion"] > 0
    # Another classifier (the same network under other class names): every box anew.
    key = default_storage.save("classifiers/other.keras", ContentFile(demo_model_file))
    other = Classifier.objects.create(name="Other", model_key=key, input_size=64,
                                      classes=["A", "B", "C"],
                                      organisation=ready_survey.organisation)
    second = run(capsys, "run_classifier", "--survey", "Season 1", "--classifier", "Other")
    assert second == first
    names = set(Detection.objects.exclude(classification="").values_list("classification",
                                                                         flat=True))
    assert names <= {"A", "B", "C"}
    assert set(Cluster.objects.exclude(suggestion="").values_list("suggestion", flat=True)) <= {
        "A", "B", "C"}
    ready_survey.refresh_from_db()
    assert ready_survey.classifier == other


def test_run_classifier_does_not_find_another_organisations_classifier(ready_survey):
    Classifier.objects.create(name="Theirs", model_key="x.keras",
                              organisation=OrganisationFactory())
    with pytest.raises(CommandError, match="no classifier called 'Theirs'"):
        call_command("run_classifier", "--survey", "Season 1", "--classifier", "Theirs")
