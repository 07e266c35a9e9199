"""Which boxes are relevant: detector thresholds, the survey's options, people's boxes."""

import pytest

from classifiers.models import Classifier, Detection
from classifiers.selectors import relevant_detections, threshold_for
from classifiers.services.classification import suggest_cluster_species
from classifiers.taxonomy import DetectionStatus
from tests.factories import CameraFactory, ClusterFactory, ImageFactory, SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("source, expected", [
    ("md_v5a.0.0.pt", 0.2), ("MDv5a", 0.2), ("md_v5b.0.0.pt", 0.1),
    ("megadetector_v4.1", 0.8), ("md_v4.1.0.pb", 0.8), ("motion", 0.0), ("whole", 0.0),
    ("camtrapdp", 0.0),  # a package's observations, as its makers kept them
    ("someone's detector", 0.1), ("", 0.1),
])
def test_each_detector_has_its_threshold(source, expected):
    assert threshold_for(source) == expected


def test_the_longest_matching_key_wins(settings):
    settings.DETECTION_THRESHOLDS = {"md": 0.5, "md_v5": 0.3}
    assert (threshold_for("md_v5a"), threshold_for("md_v1000"), threshold_for("x")) == (
        0.3, 0.5, settings.DETECTION_THRESHOLD_DEFAULT)


def box(image, name, *, score=0.9, source="md_v5a.0.0.pt", left=0.1, top=0.4, right=0.5,
        bottom=0.8, **extra):
    return Detection.objects.create(image=image, left=left, top=top, right=right,
                                    bottom=bottom, score=score, source=source,
                                    classification=name, classification_score=0.9, **extra)


@pytest.fixture
def boxes():
    survey = SurveyFactory()
    image = ImageFactory(camera=CameraFactory(site__survey=survey))
    made = {
        "v5a above": box(image, "v5a above", score=0.25),
        "v5a below": box(image, "v5a below", score=0.15),
        "v4 below": box(image, "v4 below", score=0.7, source="megadetector_v4.1"),
        "v4 above": box(image, "v4 above", score=0.85, source="megadetector_v4.1"),
        "tiny": box(image, "tiny", right=0.14, bottom=0.45),  # 0.04 x 0.05 = 0.002
        "banner": box(image, "banner", top=0.0, bottom=0.06),
        "sky": box(image, "sky", top=0.1, bottom=0.3),
        "person drew": box(image, "person drew", score=0.0, source="user", right=0.11,
                           top=0.0, bottom=0.01, status=DetectionStatus.ADDED),
        "static": box(image, "static", static=True),
        "deleted": box(image, "deleted", status=DetectionStatus.DELETED),
        "masked": box(image, "masked", status=DetectionStatus.MASKED),
    }
    return survey, image, made


def relevant(survey) -> set[str]:
    return set(relevant_detections(survey).values_list("classification", flat=True))


def test_relevance_by_detector_and_survey_options(boxes):
    survey, _, _ = boxes
    everywhere = {"v5a above", "v4 above", "person drew"}
    assert relevant(survey) == everywhere | {"tiny", "banner", "sky"}
    survey.ignore_small_boxes = True
    assert relevant(survey) == everywhere | {"banner", "sky"}
    survey.ignore_top_strip = 0.08  # a timestamp banner
    assert relevant(survey) == everywhere | {"sky"}
    survey.ignore_top_strip = 0.33  # the sky
    assert relevant(survey) == everywhere
    survey.detection_threshold = 0.1  # the survey's own threshold, for every detector
    assert relevant(survey) == everywhere | {"v5a below", "v4 below"}


def test_only_relevant_boxes_vote_for_a_clusters_species(boxes):
    survey, image, made = boxes
    cluster = ClusterFactory(survey=survey, site=image.camera.site)
    image.cluster = cluster
    image.save()
    classifier = Classifier.objects.create(name="c", threshold=0.5)
    Detection.objects.filter(pk__in=[made[k].pk for k in made]).update(
        classified_by=classifier, classification_score=0.9)
    Detection.objects.filter(pk__in=[made[k].pk for k in ("v5a above", "v4 above")]).update(
        classification="Zebra")
    # Four boxes say Lion; only "sky" is relevant (the others are under their detector's
    # threshold, or static).
    Detection.objects.filter(pk__in=[made[k].pk for k in ("v5a below", "v4 below", "sky",
                                                          "static")]).update(
        classification="Lion")
    suggest_cluster_species(survey, classifier)
    cluster.refresh_from_db()
    assert cluster.suggestion == "Zebra"
    survey.detection_threshold = 0.1
    suggest_cluster_species(survey, classifier)
    cluster.refresh_from_db()
    assert cluster.suggestion == "Lion"  # three relevant Lions against two Zebras
