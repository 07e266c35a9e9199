"""Forged ids in admin forms never reveal another organisation's names."""

import pytest

from classifiers.models import Detection
from tests.factories import ClusterFactory, ImageFactory, OrganisationFactory, SiteFactory, member

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]


@pytest.fixture
def two_orgs(client):
    mine, theirs = OrganisationFactory(name="Mine"), OrganisationFactory(name="Theirs")
    client.force_login(member(mine, "admin"))
    return mine, theirs


def test_raw_id_widget_does_not_name_a_foreign_site(client, two_orgs):
    mine, theirs = two_orgs
    cluster = ClusterFactory(site=SiteFactory(survey__organisation=mine, name="HomeSite"))
    foreign = SiteFactory(survey__organisation=theirs, name="SecretWaterhole")
    page = client.post(f"/admin/surveys/cluster/{cluster.pk}/change/", {
        "site": foreign.pk, "image_count": 1, "suggestion": "",
    })
    html = page.content.decode()
    assert page.status_code == 200  # the form is shown again with an error
    assert "Select a valid choice" in html
    assert "SecretWaterhole" not in html
    assert f"/admin/surveys/site/{foreign.pk}/change/" not in html
    cluster.refresh_from_db()
    assert cluster.site.name == "HomeSite"


def test_raw_id_widget_does_not_name_a_foreign_image(client, two_orgs):
    mine, theirs = two_orgs
    image = ImageFactory(camera__site__survey__organisation=mine, filename="mine.jpg")
    foreign = ImageFactory(camera__site__survey__organisation=theirs,
                           filename="their-secret-file.jpg")
    det = Detection.objects.create(image=image, left=0, top=0, right=1, bottom=1, score=0.5,
                                   source="whole")
    for image_id in (foreign.pk, 10**30, "1 OR 1=1", -1):
        page = client.post(f"/admin/classifiers/detection/{det.pk}/change/", {
            "image": image_id, "left": 0, "top": 0, "right": 1, "bottom": 1, "score": 0.5,
            "category": 1, "source": "whole", "status": "active", "classification": "",
        })
        assert page.status_code == 200
        assert "their-secret-file.jpg" not in page.content.decode()
    det.refresh_from_db()
    assert det.image_id == image.pk


def test_admin_calls_a_run_and_a_stage_whose_worker_died_stalled(client, two_orgs, settings):
    from datetime import timedelta

    from django.utils import timezone

    from surveys.models import ImportRun, Survey
    from surveys.taxonomy import ImportStatus, SurveyStatus
    from tests.factories import SurveyFactory

    mine, _ = two_orgs
    survey = SurveyFactory(organisation=mine, status=SurveyStatus.DETECTING)
    long_ago = timezone.now() - timedelta(seconds=settings.PIPELINE_STALE_SECONDS + 120)
    Survey.objects.filter(pk=survey.pk).update(stage_heartbeat_at=long_ago)
    run = ImportRun.objects.create(survey=survey, source="/data", status=ImportStatus.RUNNING,
                                   heartbeat_at=long_ago)
    runs = client.get("/admin/surveys/importrun/").content.decode()
    assert "Stalled: no progress for" in runs
    page = client.get(f"/admin/surveys/importrun/{run.pk}/change/").content.decode()
    assert "Stalled" in page and 'name="status"' not in page
    surveys = client.get("/admin/surveys/survey/").content.decode()
    assert "Detecting, stalled" in surveys
    ImportRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    assert "Stalled" not in client.get("/admin/surveys/importrun/").content.decode()
