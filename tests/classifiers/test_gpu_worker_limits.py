"""The gpu stages run with read-only storage and no network beyond the machine."""

import socket

import pytest

from classifiers import tasks as ai_tasks
from classifiers.models import Detection
from surveys.models import Survey
from surveys.services.clustering import do_cluster_survey
from surveys.services.importing import do_run_import, do_start_import
from surveys.taxonomy import SurveyStatus
from tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db


def test_detection_and_classification_need_no_write_access_and_no_internet(
        demo_source, demo_classifier, settings, media_storage, monkeypatch):
    root, _ = demo_source
    survey = SurveyFactory(classifier=demo_classifier)
    do_run_import(do_start_import(survey, str(root)))  # the import node writes
    do_cluster_survey(survey)
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.DETECTING)

    # From here on, as on a GPU node: read-only storage credentials…
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "tests.support.storage.ReadOnlyStorage",
        "OPTIONS": {"location": str(media_storage), "base_url": "/media/"}}}
    # …and no way out of the machine.
    real_connect = socket.socket.connect
    outside = []

    def loopback_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not host.startswith(("127.", "::1", "localhost", "/")):
            outside.append(host)
            raise OSError("no internet on this node")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    from django.core.files.storage import default_storage

    with pytest.raises(PermissionError):
        default_storage.save("probe.txt", __import__("io").BytesIO(b"x"))
    assert ai_tasks.detect_survey_task(survey.pk) is True
    # The static stage (default queue) reads boxes and writes only the database.
    assert ai_tasks.find_static_detections_task(survey.pk) is True
    assert ai_tasks.classify_survey_task(survey.pk) is True
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.READY, survey.status_detail
    assert Detection.objects.filter(image__camera__site__survey=survey).exclude(
        classification="").exists()
    assert outside == []
