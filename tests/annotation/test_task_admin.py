"""The task and cluster-annotation admin as a new user meets it."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.taxonomy import Role
from annotation.exceptions import AnnotationError
from annotation.models import ClusterAnnotation, Task
from annotation.services.leases import claim_next_cluster, do_save_labels
from annotation.services.task_setup import do_launch_task, do_reopen_task
from annotation.taxonomy import TaskStatus
from tests.annotation.helpers import annotator_for, label, launched_task
from tests.factories import OrganisationFactory, member

pytestmark = pytest.mark.django_db


def _finish(task):
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.FINISHED)
    task.refresh_from_db()
    return task


def test_a_finished_task_is_not_launched_until_reopened():
    task = _finish(launched_task(2))
    admin = member(task.survey.organisation, Role.ADMIN)
    with pytest.raises(AnnotationError, match="Re-open"):
        do_launch_task(task, acting_user=admin)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.FINISHED
    do_reopen_task(task, acting_user=admin)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DRAFT
    do_launch_task(task, acting_user=admin)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.LAUNCHED
    assert ClusterAnnotation.objects.filter(task=task).count() == 2  # nothing doubled


def test_reopen_needs_the_change_capability():
    from annotation.exceptions import NotAllowed

    task = _finish(launched_task(1))
    with pytest.raises(NotAllowed):
        do_reopen_task(task, acting_user=member(task.survey.organisation, Role.READ))
    with pytest.raises(NotAllowed):
        do_reopen_task(task, acting_user=member(OrganisationFactory(), Role.ADMIN))
    assert Task.objects.get(pk=task.pk).status == TaskStatus.FINISHED


def test_admin_launch_action_refuses_a_finished_task_and_reopen_lets_it(client):
    task = _finish(launched_task(1))
    client.force_login(member(task.survey.organisation, Role.ADMIN))
    url = "/admin/annotation/task/"
    body = client.post(url, {"action": "launch", "_selected_action": [task.pk]},
                       follow=True).content.decode()
    assert "is finished" in body
    assert Task.objects.get(pk=task.pk).status == TaskStatus.FINISHED
    body = client.post(url, {"action": "reopen", "_selected_action": [task.pk]},
                       follow=True).content.decode()
    assert "re-opened" in body
    client.post(url, {"action": "launch", "_selected_action": [task.pk]})
    assert Task.objects.get(pk=task.pk).status == TaskStatus.LAUNCHED


def test_task_admin_links_to_the_tagging_page_of_a_launched_task(client):
    task = launched_task(1)
    client.force_login(member(task.survey.organisation, Role.ADMIN))
    link = f'href="/annotate/{task.pk}/"'
    assert link in client.get(f"/admin/annotation/task/{task.pk}/change/").content.decode()
    assert link in client.get("/admin/annotation/task/").content.decode()
    _finish(task)
    assert link not in client.get(f"/admin/annotation/task/{task.pk}/change/").content.decode()


def test_cluster_annotation_list_shows_labels_site_and_local_time(client):
    task = launched_task(3)
    survey = task.survey
    survey.timezone = "Africa/Nairobi"  # UTC+3
    survey.save()
    annotator = annotator_for(task)
    annotation = claim_next_cluster(task, annotator)
    do_save_labels(task, annotator, annotation_id=annotation.pk, token=annotation.lease_token,
                   label_ids=[label(task, "Zebra").pk, label(task, "Lion").pk])
    client.force_login(member(survey.organisation, Role.ADMIN))
    body = client.get("/admin/annotation/clusterannotation/").content.decode()
    assert "Lion, Zebra" in body
    assert body.count("not labelled yet") == 2
    start = annotation.cluster.start
    assert start == datetime(2024, 1, 1, tzinfo=UTC)
    assert "2024-01-01 03:00:00 (Africa/Nairobi)" in body
    assert annotation.cluster.site.name in body


def test_cluster_annotation_list_queries_do_not_grow_with_rows(client):
    def count(task):
        client.force_login(member(task.survey.organisation, Role.ADMIN))
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/annotation/clusterannotation/").status_code == 200
        return len(queries)

    few, many = count(launched_task(2)), count(launched_task(30))
    assert many == few
