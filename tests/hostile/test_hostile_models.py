"""An organisation admin uploads a SavedModel that writes a file: the admin refuses it, unrun."""

import os

import pytest

from classifiers.models import Classifier
from tests.classifiers.hostile_models import CLASSES, hostile_saved_model
from tests.classifiers.models import label_index
from tests.factories import OrganisationFactory, member

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]


def test_admin_upload_of_a_model_that_writes_a_file_is_refused_naming_the_op(
        client, tmp_path, media_storage):
    org = OrganisationFactory()
    client.force_login(member(org, "admin"))
    target = tmp_path / "written-by-the-model"
    archive = hostile_saved_model(tmp_path, "write_file", str(target))
    with open(archive, "rb") as model, open(tmp_path / "labels.json", "wb+") as labels:
        labels.write(label_index(*(f"c{i}" for i in range(CLASSES))))
        labels.seek(0)
        page = client.post("/admin/classifiers/classifier/add/", {
            "organisation": org.pk, "name": "Evil", "version": "1", "region": "",
            "description": "", "preprocessing": "raw", "input_size": "", "threshold": 0.5,
            "model_file": model, "label_index": labels})
    html = page.content.decode()
    assert page.status_code == 200  # the form again, with the refusal
    assert "operation WriteFile" in html and "write_file.zip" in html
    assert not os.path.exists(target)
    assert not Classifier.objects.exists() and not any(media_storage.rglob("*.zip"))
