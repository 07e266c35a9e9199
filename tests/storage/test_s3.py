"""Files on an S3-API store (a real moto server on loopback): import, detection,
classification and image delivery all go through ``default_storage``."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from django.core.files.storage import default_storage

from classifiers.models import Detection
from classifiers.services.classification import do_classify_survey
from classifiers.services.detection import do_detect_survey
from surveys.models import Image
from surveys.services.clustering import do_cluster_survey
from surveys.services.importing import do_run_import, do_start_import
from tests.conftest import free_port
from tests.factories import SurveyFactory, member

MOTO = Path(sys.executable).with_name("moto_server")
BUCKET = "traptagger-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    if not MOTO.exists():
        pytest.skip("moto_server is not installed")
    port = free_port()
    proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "moto_server did not start"
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_storage(settings, s3_endpoint, media_storage):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": s3_endpoint,
                    "region_name": "us-east-1", "access_key": "test", "secret_key": "test",
                    "default_acl": None, "querystring_auth": True, "file_overwrite": False},
    }}
    yield client  # Django resets default_storage when STORAGES changes
    bucket = boto3.resource("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test").Bucket(BUCKET)
    bucket.objects.all().delete()
    bucket.delete()


@pytest.mark.django_db
def test_pipeline_with_files_on_s3(s3_storage, demo_source, demo_model_file, tmp_path,
                                  client, media_storage):
    from django.core.files.base import ContentFile

    from classifiers.models import Classifier
    from training.synthetic import SPECIES

    root, _ = demo_source
    source = tmp_path / "src"
    shutil.copytree(root / "Riverbed", source / "Riverbed")
    key = default_storage.save("classifiers/demo.keras", ContentFile(demo_model_file))
    classifier = Classifier.objects.create(name="s3 demo", model_key=key,
                                           classes=list(SPECIES), input_size=64)
    survey = SurveyFactory(classifier=classifier)
    run = do_start_import(survey, str(source))
    do_run_import(run)
    run.refresh_from_db()
    assert run.imported == 24
    listed = s3_storage.list_objects_v2(Bucket=BUCKET, Prefix=f"surveys/{survey.pk}/")
    assert listed["KeyCount"] == 48  # originals and web copies
    assert not any(media_storage.iterdir())  # nothing landed on local disk
    do_cluster_survey(survey)
    assert do_detect_survey(survey) > 0
    assert do_classify_survey(survey) == Detection.objects.filter(
        image__camera__site__survey=survey).count()
    # Members get a short-lived signed URL to the object; others get nothing.
    image = Image.objects.filter(camera__site__survey=survey).first()
    client.force_login(member(survey.organisation, "annotator"))
    response = client.get(f"/images/{image.pk}/web/")
    assert response.status_code == 302
    assert response["Location"].startswith(s3_storage.meta.endpoint_url)
    assert "Signature" in response["Location"] or "X-Amz-Signature" in response["Location"]
    client.force_login(member(SurveyFactory().organisation, "admin"))
    assert client.get(f"/images/{image.pk}/web/").status_code == 404


@pytest.mark.django_db
def test_export_lands_on_s3_and_downloads_by_signed_url(s3_storage, client, media_storage):
    import requests

    from results.services.exports import do_request_export, do_run_export
    from tests.results.test_camtrapdp import small_survey

    task, _zebra, _guess = small_survey()
    admin = member(task.survey.organisation, "admin")
    export = do_run_export(do_request_export(task.survey, "coco", acting_user=admin).pk)
    assert export.status == "done", export.message
    listed = s3_storage.list_objects_v2(Bucket=BUCKET, Prefix="exports/")
    assert [o["Key"] for o in listed["Contents"]] == [export.file_key]
    assert not any(media_storage.iterdir())
    client.force_login(admin)
    response = client.get(f"/exports/{export.pk}/download/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(s3_storage.meta.endpoint_url) and "Signature" in location
    assert b'"categories"' in requests.get(location, timeout=10).content
    client.force_login(member(SurveyFactory().organisation, "admin"))
    assert client.get(f"/exports/{export.pk}/download/").status_code == 404
