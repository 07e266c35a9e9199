import random

import numpy as np
import pytest
from PIL import Image as PILImage

from classifiers.models import Detection
from classifiers.services.classification import do_classify_survey, square_crop
from classifiers.services.detection import do_detect_survey
from classifiers.services.detectors import Box, detect_motion, detect_whole
from surveys.models import Cluster, Image
from surveys.services.clustering import do_cluster_survey
from surveys.services.importing import do_run_import, do_start_import
from tests.factories import SurveyFactory
from training.synthetic import background, scene


def test_motion_detector_finds_the_moving_animal():
    rng = random.Random(5)
    base = background(rng, 800, 600)
    frames, boxes = [], []
    for f in range(3):
        img, box = scene(rng, "Zebra", 800, 600, base=base, position=(200 + f * 180, 420, 160))
        frames.append(img)
        boxes.append(box)
    found = detect_motion(frames)
    for (x0, y0, x1, y1), dets in zip(boxes, found, strict=True):
        assert len(dets) == 1
        d = dets[0]
        # The detected box overlaps the true box well.
        ix = max(0, min(d.right * 800, x1) - max(d.left * 800, x0))
        iy = max(0, min(d.bottom * 600, y1) - max(d.top * 600, y0))
        assert ix * iy > 0.5 * (x1 - x0) * (y1 - y0)


def test_motion_detector_leaves_empty_frames_empty():
    rng = random.Random(6)
    base = background(rng, 800, 600)
    assert detect_motion([base.copy(), base.copy(), base.copy()]) == [[], [], []]


def test_short_clusters_fall_back_to_whole_image_low_score():
    img = PILImage.new("RGB", (100, 80))
    (only,) = detect_motion([img])
    assert only[0].score < 0.5 and (only[0].left, only[0].right) == (0.0, 1.0)
    assert detect_whole([img, img])[1][0].score == 1.0


def test_square_crop_pads_with_black():
    img = PILImage.new("RGB", (200, 100), (255, 255, 255))
    crop = square_crop(img, Box(0.0, 0.0, 1.0, 1.0, 1.0), 32)
    assert crop.shape == (32, 32, 3)
    assert crop[0, 16].sum() == 0 and crop[16, 16].sum() == 255 * 3  # padded top, white middle


@pytest.mark.django_db
def test_detect_and_classify_the_generated_survey(demo_source, demo_classifier):
    root, truth = demo_source
    survey = SurveyFactory(classifier=demo_classifier, detector="motion")
    do_run_import(do_start_import(survey, str(root)))
    do_cluster_survey(survey)
    made = do_detect_survey(survey)
    assert made > 0
    assert not Image.objects.filter(camera__site__survey=survey, detected=False).exists()
    assert do_detect_survey(survey) == 0  # re-run: nothing left to do
    classified = do_classify_survey(survey)
    assert classified == Detection.objects.filter(image__camera__site__survey=survey).count()
    species_of = {t.path: t.species for t in truth}
    right = wrong = 0
    for cluster in Cluster.objects.filter(survey=survey).prefetch_related("images__camera"):
        first = cluster.images.all()[0]
        expected = species_of[f"{first.camera.path}/{first.filename}"]
        if cluster.suggestion:
            right += cluster.suggestion == expected
            wrong += cluster.suggestion != expected
    # The tiny demo model recognises the demo animals it was built for.
    assert right >= 8 and wrong <= 1, (right, wrong)
    scores = np.array(list(Detection.objects.filter(image__camera__site__survey=survey)
                           .values_list("classification_score", flat=True)))
    assert (scores > 0).all() and (scores <= 1).all()


@pytest.mark.django_db
def test_a_broken_stage_marks_the_survey_failed_not_stuck(demo_source, demo_classifier):
    from classifiers import tasks as ai_tasks
    from surveys.taxonomy import SurveyStatus

    root, _ = demo_source
    demo_classifier.classes = ["Zebra", "Elephant"]  # the model has three outputs
    demo_classifier.save()
    survey = SurveyFactory(classifier=demo_classifier)
    do_run_import(do_start_import(survey, str(root)))
    do_cluster_survey(survey)
    do_detect_survey(survey)
    survey.__class__.objects.filter(pk=survey.pk).update(status=SurveyStatus.CLASSIFYING)
    ai_tasks.classify_survey_task(survey.pk)
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.FAILED
    assert "2 classes but its model outputs 3" in survey.status_detail
    # A file gone missing from storage: failed with the reason, and Celery sees the error.
    from django.core.files.storage import default_storage

    survey.__class__.objects.filter(pk=survey.pk).update(status=SurveyStatus.DETECTING)
    Image.objects.filter(camera__site__survey=survey).update(detected=False)
    default_storage.delete(Image.objects.filter(camera__site__survey=survey).first().web_key)
    with pytest.raises(FileNotFoundError):
        ai_tasks.detect_survey_task(survey.pk)
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.FAILED and "stopped" in survey.status_detail
