"""Exports on a worker: requested, built into storage, downloaded by members only, expired."""

import zipfile
from datetime import timedelta
from io import BytesIO

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from accounts.taxonomy import Role
from core.exceptions import AccessDenied
from results.exceptions import ExportError
from results.models import Export
from results.services.exports import do_expire_exports, do_request_export, do_run_export
from results.taxonomy import ExportKind, ExportStatus
from surveys.models import Site
from tests.factories import OrganisationFactory, member
from tests.results.test_camtrapdp import small_survey
from traptagger.celery import discover_tasks

pytestmark = pytest.mark.django_db


def requested(kind, **kwargs):
    task, _zebra, _guess = small_survey()
    admin = member(task.survey.organisation, Role.ADMIN)
    export = do_request_export(task.survey, kind, acting_user=admin, **kwargs)
    return task, admin, export


def download(client, user, export):
    client.force_login(user)
    response = client.get(reverse("export_download", args=[export.pk]))
    return response, b"".join(response.streaming_content) if response.status_code == 200 \
        else b""


def test_camtrapdp_export_is_built_stored_and_downloaded(client):
    task, admin, export = requested(ExportKind.CAMTRAP_DP)
    export = do_run_export(export.pk)
    assert export.status == ExportStatus.DONE, export.message
    assert default_storage.exists(export.file_key)
    assert export.file_key.startswith(f"exports/{task.survey.organisation_id}/{export.pk}/")
    assert export.expires_at > timezone.now() + timedelta(days=6)
    response, body = download(client, admin, export)
    assert response.status_code == 200
    names = set(zipfile.ZipFile(BytesIO(body)).namelist())
    assert {"datapackage.json", "deployments.csv", "media.csv", "observations.csv"} <= names
    # Re-delivered: nothing is built again.
    assert do_run_export(export.pk).file_key == export.file_key


def test_request_starts_the_named_task_which_builds_it(django_capture_on_commit_callbacks):
    from celery import current_app

    with django_capture_on_commit_callbacks() as callbacks:
        _task, _admin, export = requested(ExportKind.COCO)
    # The export's enqueue waits for the commit (the task's progress cache has its own).
    enqueues = [c for c in callbacks if c.__qualname__.startswith("enqueue.")]
    assert len(enqueues) == 1
    discover_tasks()
    current_app.signature("training.run_export", args=[export.pk]).apply(throw=True)
    assert Export.objects.get(pk=export.pk).status == ExportStatus.DONE


def test_other_organisations_cannot_download_or_request(client):
    task, _admin, export = requested(ExportKind.RESULTS_CSV)
    do_run_export(export.pk)
    outsider = member(OrganisationFactory(), Role.ADMIN)
    response, _body = download(client, outsider, Export.objects.get(pk=export.pk))
    assert response.status_code == 404
    with pytest.raises(AccessDenied):
        do_request_export(task.survey, ExportKind.COCO, acting_user=outsider)


def test_failure_is_recorded_with_its_reason():
    task, _admin, export = requested(ExportKind.CAMTRAP_DP)
    Site.objects.filter(survey=task.survey).update(latitude=None)
    export = do_run_export(export.pk)
    assert export.status == ExportStatus.FAILED
    assert "have none" in export.message and not export.file_key


def test_task_of_another_survey_is_refused():
    task, admin, _export = requested(ExportKind.COCO)
    other, _z, _g = small_survey()
    with pytest.raises(ExportError, match="belongs to another survey"):
        do_request_export(task.survey, ExportKind.COCO, task=other, acting_user=admin)


def test_expired_exports_lose_their_file(client):
    _task, admin, export = requested(ExportKind.COCO)
    export = do_run_export(export.pk)
    key = export.file_key
    assert do_expire_exports(now=timezone.now() + timedelta(days=6)) == 0
    assert do_expire_exports(now=timezone.now() + timedelta(days=8)) == 1
    assert not default_storage.exists(key)
    response, _body = download(client, admin, Export.objects.get(pk=export.pk))
    assert response.status_code == 404


def test_admin_requests_an_export_and_lists_its_download_link(client):
    task, admin, _first = requested(ExportKind.COCO)
    client.force_login(admin)
    response = client.post(reverse("admin:results_export_add"),
                           {"survey": task.survey.pk, "task": task.pk, "kind": "coco"})
    assert response.status_code == 302, response.content[:2000]
    export = Export.objects.exclude(pk=_first.pk).get()
    assert (export.kind, export.task_id, export.created_by) == ("coco", task.pk, admin)
    do_run_export(export.pk)
    page = client.get(reverse("admin:results_export_changelist")).content.decode()
    assert reverse("export_download", args=[export.pk]) in page


def test_old_admin_addresses_of_exports_lead_to_the_same_pages(client):
    """Exports moved from the training app to results: bookmarks of the old pages still work."""
    task, admin, export = requested(ExportKind.COCO)
    client.force_login(admin)
    for old, new in (("/admin/training/export/?status=done",
                      reverse("admin:results_export_changelist") + "?status=done"),
                     (f"/admin/training/export/{export.pk}/change/",
                      reverse("admin:results_export_change", args=[export.pk])),
                     ("/admin/training/export/training-data/",
                      reverse("admin:results_export_training_data"))):
        response = client.get(old, follow=True)
        assert response.redirect_chain[0] == (new, 302)
        assert response.status_code == 200


def test_every_kind_has_a_format_and_an_unknown_kind_is_refused(monkeypatch):
    """The training app registers training data when it loads; results never imports it."""
    from results.services import exports

    assert set(exports._FORMATS) == set(ExportKind.values)
    assert exports.format_of(ExportKind.TRAINING_DATA).build.__module__ == \
        "training.services.training_export"
    task, _zebra, _guess = small_survey()
    with pytest.raises(ExportError, match="Unknown export kind 'pdf'; choose one of"):
        do_request_export(task.survey, "pdf")
    monkeypatch.delitem(exports._FORMATS, ExportKind.TRAINING_DATA)
    with pytest.raises(ExportError, match="Unknown export kind 'training_data'"):
        do_request_export(task.survey, ExportKind.TRAINING_DATA)
    assert not Export.objects.exists()
