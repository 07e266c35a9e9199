"""One detector's machine boxes at a time: later results supersede earlier ones, restorably.

The user's story: a survey is imported (a weight-free detector runs), then
MegaDetector's results come in with import_detections. Only MegaDetector's boxes
may then be shown, counted, classified and exported; the first detector's are
kept and can be restored; people's boxes stay whatever happens.
"""

import io
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image as PILImage

from annotation.models import ClusterAnnotation
from annotation.selectors import cluster_payload, leased_payloads
from classifiers.exceptions import ClassifierError, DetectionsFileError
from classifiers.models import Detection
from classifiers.selectors import (
    cluster_votes,
    detection_counts,
    relevance_of,
    relevant_detections,
)
from classifiers.services.detection import do_detect_survey
from classifiers.services.megadetector import (
    do_import_detections,
    load_batch_output,
    write_batch_output,
)
from classifiers.services.runs import do_run_detection
from classifiers.services.supersede import do_restore_detections
from classifiers.taxonomy import DetectionStatus
from insights.services.aggregates import _with_animals
from surveys.models import Image, ImportRun, Survey
from surveys.taxonomy import SurveyStatus
from tests.factories import (
    CameraFactory,
    ClusterFactory,
    SiteFactory,
    SurveyFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

IMAGES = 10
MD = "md_v5a.0.0.pt"


@pytest.fixture
def survey(media_storage):
    """Ten stored photos in one cluster, detected by the weight-free ``whole`` detector."""
    survey = SurveyFactory(name="Season 1", detector="whole")
    ImportRun.objects.create(survey=survey, source="/data/Season1")
    camera = CameraFactory(site=SiteFactory(survey=survey, name="Kopje"), path="Kopje/CAM1")
    cluster = ClusterFactory(site=camera.site, image_count=IMAGES)
    buf = io.BytesIO()
    PILImage.new("RGB", (64, 48), (90, 90, 90)).save(buf, "JPEG")
    for n in range(IMAGES):
        key = default_storage.save(f"surveys/{survey.pk}/IMG_{n}.JPG", ContentFile(
            buf.getvalue()))
        Image.objects.create(camera=camera, cluster=cluster, filename=f"IMG_{n}.JPG", key=key,
                             width=64, height=48, content_hash=f"{survey.pk:032x}{n:032x}")
    assert do_detect_survey(survey) == IMAGES  # one whole-image box each
    survey.cluster = cluster
    return survey


def megadetector_file(n: int = IMAGES) -> bytes:
    """MegaDetector's results: one animal box per image."""
    return json.dumps({
        "info": {"format_version": "1.4", "detector": MD},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "images": [{"file": f"Kopje/CAM1/IMG_{i}.JPG", "detections": [
            {"category": "1", "conf": 0.9, "bbox": [0.1, 0.2, 0.3, 0.4]}]} for i in range(n)],
    }).encode()


def import_md(survey, n: int = IMAGES):
    return do_import_detections(survey, load_batch_output(megadetector_file(n), "md.json"))


def export(survey, **options) -> dict:
    buffer = io.StringIO()
    write_batch_output(survey, buffer, **options)
    return json.loads(buffer.getvalue())


def test_after_importing_megadetector_only_its_boxes_are_exported(survey):
    result = import_md(survey)
    assert (result.detections_stored, result.detections_superseded) == (IMAGES, IMAGES)
    doc = export(survey)
    assert doc["info"]["detector"] == MD
    assert len(doc["images"]) == IMAGES
    for record in doc["images"]:  # one box each, as in the file (the issue saw 2 on 6 of 10)
        assert record["detections"] == [{"category": "1", "conf": 0.9,
                                         "bbox": [0.1, 0.2, 0.3, 0.4]}]
    # The earlier detector's boxes are kept and exported when asked for by name.
    earlier = export(survey, detector="whole")
    assert earlier["info"]["detector"] == "whole" and len(earlier["images"]) == IMAGES
    assert {len(r["detections"]) for r in earlier["images"]} == {1}
    assert earlier["images"][0]["detections"][0]["bbox"] == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(DetectionsFileError, match="no boxes of the detector 'motion'.*whole "
                                                  "\\(0 current, 10 superseded\\)"):
        export(survey, detector="motion")


def test_superseded_boxes_are_not_counted_shown_or_classified(survey):
    import_md(survey)
    assert relevant_detections(survey).count() == IMAGES
    assert set(relevant_detections(survey).values_list("source", flat=True)) == {MD}
    assert detection_counts(survey)["by_source"] == {MD: IMAGES}
    assert cluster_votes(survey, None)[survey.cluster.pk].boxes == IMAGES
    image = Image.objects.filter(camera__site__survey=survey).first()
    assert [d.source for d in image.detections.all()] == [MD]
    payload = cluster_payload(ClusterAnnotation(cluster=survey.cluster,
                                                task=TaskFactory(survey=survey)))
    assert [len(i["detections"]) for i in payload["images"]] == [1] * IMAGES
    assert {i["detections"][0]["left"] for i in payload["images"]} == {0.1}
    # The tagging socket's one-query payload (boxes joined to their clusters) too, with a
    # superseded box that would be relevant if it were current (same source, higher score).
    current = Detection.objects.filter(image=image).get()
    current.pk, current.left, current.right, current.score = None, 0.5, 0.7, 0.95
    current.superseded = True
    current.save()
    assert Detection.all_boxes.filter(image=image).count() == 3
    annotator = UserFactory()
    annotation = ClusterAnnotation.objects.create(
        cluster=survey.cluster, task=TaskFactory(survey=survey), leased_to=annotator,
        lease_token="abcd1234-1")
    (fast,) = leased_payloads(annotation.task_id, "species", annotator, "abcd1234",
                              relevance_of(survey))
    assert [len(i["detections"]) for i in fast["images"]] == [1] * IMAGES
    assert {i["detections"][0]["left"] for i in fast["images"]} == {0.1}
    images = Image.objects.filter(camera__site__survey=survey)
    ids = sorted(images.values_list("id", flat=True))
    counted = {"first": ids[0], "last": ids[-1], "n_images": IMAGES}
    assert _with_animals(survey, images, counted) == IMAGES


def test_peoples_boxes_stay_when_results_arrive(survey):
    first, second = Image.objects.filter(camera__site__survey=survey).order_by("id")[:2]
    drawn = Detection.objects.create(image=first, left=0.5, top=0.5, right=0.6, bottom=0.6,
                                     score=1.0, source="person", status=DetectionStatus.ADDED)
    corrected = Detection.objects.get(image=second)
    corrected.status = DetectionStatus.EDITED
    corrected.save()
    import_md(survey)
    current = set(Detection.objects.filter(image__in=[first, second]).values_list("id",
                                                                                  flat=True))
    assert {drawn.pk, corrected.pk} <= current
    assert Detection.all_boxes.filter(superseded=True).count() == IMAGES - 1


def test_restore_brings_the_earlier_detector_back(survey):
    import_md(survey, n=6)  # MegaDetector's results on six of the ten images
    assert set(Detection.objects.values_list("source", flat=True)) == {MD, "whole"}
    out = io.StringIO()
    call_command("restore_detections", "--survey", "Season 1", "--detector", "whole", "--json",
                 stdout=out)
    assert json.loads(out.getvalue()) | {"survey": None} == {
        "survey": None, "detector": "whole", "restored": 6, "superseded": 6, "images": 6}
    assert set(Detection.objects.values_list("source", flat=True)) == {"whole"}
    assert export(survey)["info"]["detector"] == "whole"
    assert Detection.all_boxes.filter(source=MD, superseded=True).count() == 6
    # And back again; nothing to restore is refused, naming the survey's detectors.
    do_restore_detections(survey, MD)
    assert Detection.objects.filter(source=MD).count() == 6
    with pytest.raises(ClassifierError, match=f"{MD} \\(6 current, 0 superseded\\); whole"):
        do_restore_detections(survey, MD)
    with pytest.raises(CommandError, match="no superseded boxes of the detector 'nope'"):
        call_command("restore_detections", "--survey", "Season 1", "--detector", "nope")


def test_running_another_detector_supersedes_the_imported_boxes(survey):
    import_md(survey)
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.READY)
    survey.refresh_from_db()
    # The survey's own detector again, but MegaDetector's boxes are current: every image
    # is detected again (the stage itself runs once this commits; here, by hand).
    do_run_detection(survey, detector="whole")
    assert not Image.objects.filter(camera__site__survey=survey, detected=True).exists()
    survey.refresh_from_db()
    assert do_detect_survey(survey) == IMAGES
    assert set(Detection.objects.values_list("source", flat=True)) == {"whole"}
    assert not relevant_detections(survey).filter(source=MD).exists()
    assert Detection.all_boxes.filter(source=MD, superseded=True).count() == IMAGES
    assert Detection.all_boxes.filter(source="whole").count() == IMAGES  # replaced, not added
    # Choosing the detector whose boxes are current leaves detected images alone.
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.READY)
    survey.refresh_from_db()
    do_run_detection(survey, detector="whole")
    assert Image.objects.filter(camera__site__survey=survey, detected=True).count() == IMAGES


def test_export_command_takes_the_detector(survey, tmp_path):
    import_md(survey)
    out = tmp_path / "whole.json"
    call_command("export_detections", "--survey", "Season 1", "--out", str(out), "--detector",
                 "whole", stdout=io.StringIO())
    assert json.loads(out.read_text())["info"]["detector"] == "whole"
