"""The headline's empty images: detected images with no relevant box
(classifiers.selectors.relevance), as the tagging page and the exports count them."""

from datetime import timedelta

import pytest

from classifiers.models import Detection
from classifiers.taxonomy import DetectionStatus
from insights.services.aggregates import Filters, survey_insights
from tests.insights.helpers import T0, SurveyBuilder

pytestmark = pytest.mark.django_db


def test_an_image_whose_boxes_are_not_relevant_is_empty():
    b = SurveyBuilder()
    b.image("A", T0)  # a box at 0.9 ("test": threshold 0.1): not empty
    faint = b.image("A", T0 + timedelta(hours=1), animal=False)
    Detection.objects.create(image=faint, left=0.1, top=0.5, right=0.4, bottom=0.9,
                             score=0.05, source="test")
    sky = b.image("A", T0 + timedelta(hours=2), animal=False)
    Detection.objects.create(image=sky, left=0.1, top=0.0, right=0.4, bottom=0.2,
                             score=0.9, source="test")
    drawn = b.image("A", T0 + timedelta(hours=3), animal=False)
    Detection.objects.create(image=drawn, left=0.1, top=0.0, right=0.4, bottom=0.2,
                             score=0.0, source="user", status=DetectionStatus.ADDED)
    b.survey.ignore_top_strip = 0.33
    b.survey.save(update_fields=["ignore_top_strip"])
    h = survey_insights(b.survey, Filters()).headline
    # Below its threshold; in the ignored top strip: empty. A person's box counts anyway.
    assert h["detected"] == 4 and h["empty"] == 2


def headline_sources_query(b):
    """The headline of ``b`` and whether it read the survey's sources by joining
    every image to its boxes (the query relevance_of makes)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        h = survey_insights(b.survey, Filters()).headline
    joined = [q["sql"] for q in ctx.captured_queries
              if "DISTINCT" in q["sql"] and "classifiers_detection" in q["sql"]
              and "surveys_site" in q["sql"]]
    return h, bool(joined)


def test_sources_from_the_image_id_range_judge_the_survey_boxes_alike():
    """Another survey's boxes inside the id range bring other sources with other
    thresholds: the survey's own boxes are judged exactly as before."""
    b = SurveyBuilder()
    other = SurveyBuilder()
    for n in range(4):
        image = b.image("A", T0 + timedelta(hours=n), animal=False)
        # md_v5a: threshold 0.2; megadetector_v4: 0.8. Scores between: 0.5.
        Detection.objects.create(image=image, left=0.1, top=0.5, right=0.4, bottom=0.9,
                                 score=0.5, source="md_v5a.0.0.pt" if n % 2 else "megadetector_v4")
        between = other.image("B", T0, animal=False)  # ids interleave with b's
        Detection.objects.create(image=between, left=0.1, top=0.5, right=0.4, bottom=0.9,
                                 score=0.5, source=f"other detector {n}")
    h, joined = headline_sources_query(b)
    assert not joined  # the dense id range was read instead
    assert h["detected"] == 4 and h["empty"] == 2  # the v4 boxes at 0.5 are below 0.8


def test_a_sparse_id_range_reads_the_survey_boxes(monkeypatch):
    import insights.services.aggregates as aggregates

    monkeypatch.setattr(aggregates, "RANGE_SLACK", 1)
    b = SurveyBuilder()
    other = SurveyBuilder()
    b.image("A", T0)
    other.image("B", T0)  # inside b's range: two ids for b's two images is too sparse now
    b.image("A", T0 + timedelta(hours=1), animal=False)
    h, joined = headline_sources_query(b)
    assert joined and h["detected"] == 2 and h["empty"] == 1


def test_a_survey_threshold_needs_no_sources(django_assert_num_queries):
    from classifiers.selectors import relevance_of

    b = SurveyBuilder()
    image = b.image("A", T0, animal=False)
    Detection.objects.create(image=image, left=0.1, top=0.5, right=0.4, bottom=0.9,
                             score=0.5, source="megadetector_v4")  # 0.8 by its detector
    b.survey.detection_threshold = 0.4
    b.survey.save(update_fields=["detection_threshold"])
    with django_assert_num_queries(0):
        relevance_of(b.survey), relevance_of(b.survey, Detection.objects.filter(image=image))
    assert survey_insights(b.survey, Filters()).headline["empty"] == 0  # 0.5 >= 0.4
