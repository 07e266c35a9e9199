"""Fields and statuses that nothing reads yet are not offered in the admin."""

import pytest

from classifiers.models import Detection
from tests.factories import ImageFactory, OrganisationFactory, SurveyFactory, TaskFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_admin(client):
    org = OrganisationFactory()
    client.force_login(member(org, "admin"))
    return org


def test_survey_form_hides_unwired_settings(client, org_admin):
    page = client.get("/admin/surveys/survey/add/").content.decode()
    assert 'name="site_regex"' in page and 'name="timezone"' in page
    assert 'name="camera_regex"' in page and 'name="names_from"' in page
    for field in ("trigger_source", "survey_type"):
        assert f'name="{field}"' not in page


def test_task_form_and_filter_hide_unwired_values(client, org_admin):
    task = TaskFactory(survey=SurveyFactory(organisation=org_admin))
    page = client.get(f"/admin/annotation/task/{task.pk}/change/").content.decode()
    assert 'name="name"' in page
    assert 'name="batch_size"' not in page and 'name="tagging_level"' in page
    changelist = client.get("/admin/annotation/task/").content.decode()
    assert "status__exact=launched" in changelist
    # A Camtrap DP import makes finished tasks, so the filter offers that status.
    assert "status__exact=finished" in changelist


def test_detection_form_offers_only_wired_statuses(client, org_admin):
    image = ImageFactory(camera__site__survey=SurveyFactory(organisation=org_admin))
    det = Detection.objects.create(image=image, left=0, top=0, right=1, bottom=1, score=0.9,
                                   source="whole")
    page = client.get(f"/admin/classifiers/detection/{det.pk}/change/").content.decode()
    assert 'value="deleted"' in page and 'value="masked"' in page  # masks set it
    assert 'value="hidden"' not in page
    # Static follows the box's static group: shown, decided under Static groups.
    assert 'name="static"' not in page and "Static group" in page
    changelist = client.get("/admin/classifiers/detection/").content.decode()
    assert "status__exact=masked" in changelist and "status__exact=hidden" not in changelist
