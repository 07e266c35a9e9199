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
