"""Every place that shows a camera time shows the survey's local time and names its zone.

The Peru case: a photo whose EXIF says 02:55:18 (America/Lima, UTC-5) showed 07:55:18 on the
tagging page and 7:54 a.m. in the admin (UTC, unlabelled).
"""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from annotation.models import ClusterAnnotation
from annotation.selectors import cluster_payload
from surveys.models import Image
from surveys.services.importing import do_run_import, do_start_import
from tests.conftest import CAMERA_TRAPS
from tests.factories import (
    CameraFactory,
    ClusterFactory,
    ImageFactory,
    SiteFactory,
    SurveyFactory,
    TaskFactory,
    member,
)

pytestmark = pytest.mark.django_db
LIMA = ZoneInfo("America/Lima")
TAKEN = datetime(2014, 7, 2, 2, 55, 18, tzinfo=LIMA)  # 07:55:18 UTC
START = datetime(2014, 7, 2, 2, 54, 52, tzinfo=LIMA)
ROOT = Path(__file__).resolve().parents[2]
PERU = CAMERA_TRAPS / "animl_peru_s90" / "examples" / "test_data" / "Peru" / "S90"


@pytest.fixture
def peru():
    survey = SurveyFactory(timezone="America/Lima")
    site = SiteFactory(survey=survey, name="S90")
    camera = CameraFactory(site=site, path="SDZG 2", deployment_start=START)
    cluster = ClusterFactory(site=site, start=START, end=TAKEN)
    image = ImageFactory(camera=camera, cluster=cluster, filename="EK000013.JPG",
                         timestamp=TAKEN, corrected_timestamp=TAKEN,
                         key=f"surveys/{survey.pk}/originals/SDZG 2/EK000013.JPG")
    task = TaskFactory(survey=survey)
    annotation = ClusterAnnotation.objects.create(task=task, cluster=cluster)
    return survey, camera, cluster, image, annotation


def test_tagging_payload_gives_local_time_with_its_zone(peru):
    *_, annotation = peru
    [shown] = cluster_payload(annotation)["images"]
    assert shown["timestamp"] == "2014-07-02T02:55:18-05:00"
    assert shown["local_time"] == "2014-07-02 02:55:18 (America/Lima)"


def test_tagging_page_script_shows_the_local_time_not_the_iso_string():
    script = (ROOT / "static" / "js" / "tagging.js").read_text()
    assert "image.local_time" in script
    assert "image.timestamp.replace" not in script  # the ISO string sliced: UTC, unlabelled


def test_explore_page_captions_name_the_zone(peru, client):
    survey, _, _, _, annotation = peru
    client.force_login(member(survey.organisation, "admin"))
    page = client.get(reverse("annotation:explore_cluster",
                              args=[annotation.task_id, annotation.pk]))
    text = page.content.decode()
    assert "EK000013.JPG · 2014-07-02 02:55:18 (America/Lima)" in text
    assert "07:55" not in text
    grid = client.get(reverse("annotation:explore", args=[annotation.task_id])).content.decode()
    assert "2014-07-02 02:54:52" in grid and "local time (America/Lima)" in grid
    assert "07:54" not in grid


def test_admin_lists_and_pages_show_local_time_and_name_it(peru, client):
    survey, camera, cluster, image, annotation = peru
    client.force_login(member(survey.organisation, "admin"))
    images = client.get("/admin/surveys/image/").content.decode()
    assert "2014-07-02 02:55:18 (America/Lima)" in images and "7:55" not in images
    clusters = client.get("/admin/surveys/cluster/").content.decode()
    assert "2014-07-02 02:54:52 (America/Lima)" in clusters and "7:54" not in clusters
    labels = client.get("/admin/annotation/clusterannotation/").content.decode()
    assert "2014-07-02 02:54:52 (America/Lima)" in labels
    detail = client.get(f"/admin/surveys/image/{image.pk}/change/").content.decode()
    assert "2014-07-02 02:55:18 (America/Lima)" in detail  # what the camera wrote
    assert 'value="02:55:18"' in detail and "local time (America/Lima)." in detail
    assert 'name="timestamp_0"' not in detail  # what the camera wrote is never edited
    assert "07:55" not in detail
    page = client.get(f"/admin/surveys/cluster/{cluster.pk}/change/").content.decode()
    assert 'value="02:54:52"' in page and 'value="02:55:18"' in page and "07:5" not in page
    cam = client.get(f"/admin/surveys/camera/{camera.pk}/change/").content.decode()
    assert "2014-07-02 02:54:52 (America/Lima)" in cam


def test_admin_takes_a_corrected_time_in_the_survey_zone(peru, client):
    survey, _, cluster, _, _ = peru
    client.force_login(member(survey.organisation, "admin"))
    response = client.post(f"/admin/surveys/cluster/{cluster.pk}/change/", {
        "survey": survey.pk, "site": cluster.site_id, "start_0": "2014-07-02",
        "start_1": "03:00:00", "end_0": "2014-07-02", "end_1": "03:01:00", "image_count": 1,
        "suggestion": "", "suggestion_score": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    cluster.refresh_from_db()
    assert cluster.start == datetime(2014, 7, 2, 8, 0, 0, tzinfo=ZoneInfo("UTC"))


@pytest.mark.skipif(not PERU.exists(), reason="../shared camera-trap photos absent")
def test_real_peru_photo_reads_as_its_exif_says(tmp_path):
    source = tmp_path / "source" / "SDZG 2"
    source.mkdir(parents=True)
    (source / "EK000013.JPG").write_bytes((PERU / "SDZG 2" / "EK000013.JPG").read_bytes())
    survey = SurveyFactory(timezone="America/Lima")
    run = do_start_import(survey, str(source.parent))
    assert do_run_import(run) is True
    image = Image.objects.get(camera__site__survey=survey)
    cluster = ClusterFactory(site=image.camera.site, start=image.corrected_timestamp)
    image.cluster = cluster
    image.save(update_fields=["cluster"])
    annotation = ClusterAnnotation.objects.create(task=TaskFactory(survey=survey),
                                                  cluster=cluster)
    [shown] = cluster_payload(annotation)["images"]
    assert shown["local_time"] == "2014-07-02 02:55:18 (America/Lima)"


def test_api_gives_camera_times_with_the_survey_offset(peru):
    from rest_framework.test import APIClient

    from accounts.services.api_tokens import do_create_api_token

    survey, _, cluster, image, _ = peru
    user = member(survey.organisation, "read")
    _token, key = do_create_api_token(user, "test", acting_user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    shown = client.get(f"/api/images/{image.pk}/").json()
    assert shown["timestamp"] == shown["corrected_timestamp"] == "2014-07-02T02:55:18-05:00"
    listed = client.get("/api/clusters/", {"survey": survey.pk}).json()["results"]
    assert listed[0]["start"] == "2014-07-02T02:54:52-05:00"
