"""The AI-check tagging level: clusters whose AI suggestion differs from their label are
queued once every cluster is labelled; people accept, reject or give other labels."""

import pytest

from accounts.taxonomy import Role
from annotation.exceptions import AnnotationError, StaleLease
from annotation.models import ClusterAnnotation, Task
from annotation.selectors import annotatable_tasks_with_progress, cluster_payload, task_progress
from annotation.services.ai_check import do_save_check, pending_checks
from annotation.services.auto_label import do_match_translations
from annotation.services.common import ensure_special_labels
from annotation.services.leases import claim_next_cluster, do_save_labels
from annotation.services.task_setup import do_launch_task
from annotation.taxonomy import AiCheck, TaggingLevel, TaskStatus
from classifiers.models import Classifier
from surveys.models import Cluster
from tests.annotation.helpers import (
    ai_check_task,
    annotator_for,
    label,
    label_everything,
    launched_task,
)
from tests.factories import OrganisationFactory, member

pytestmark = pytest.mark.django_db

@pytest.fixture
def labelled():
    return ai_check_task()


def queued_clusters(task):
    return set(ClusterAnnotation.objects.filter(task=task, ai_check=AiCheck.PENDING)
               .values_list("cluster_id", flat=True))


def labels_of(task, cluster):
    return set(ClusterAnnotation.objects.get(task=task, cluster=cluster)
               .labels.values_list("name", flat=True))


def test_only_suggestions_that_differ_from_the_label_are_queued(labelled):
    task, admin, _, clusters = labelled
    assert do_launch_task(task, acting_user=admin) == 2
    assert queued_clusters(task) == {clusters[1].pk, clusters[2].pk}
    assert Task.objects.get(pk=task.pk).status == TaskStatus.LAUNCHED
    assert task_progress(task) == {"done": 0, "total": 2}


def test_ai_check_waits_until_every_cluster_is_labelled():
    task = launched_task(3)
    task.survey.classifier = Classifier.objects.create(name="C", version="1", classes=["zebra"])
    task.survey.save()
    Cluster.objects.filter(survey=task.survey).update(suggestion="zebra")
    annotator = annotator_for(task)
    first = claim_next_cluster(task, annotator)
    do_save_labels(task, annotator, annotation_id=first.pk, token=first.lease_token,
                   label_ids=[label(task, "Lion").pk])
    task.tagging_level = TaggingLevel.AI_CHECK
    task.save()
    admin = member(task.survey.organisation, Role.ADMIN)
    with pytest.raises(AnnotationError, match="2 cluster"):
        do_launch_task(task, acting_user=admin)
    assert not queued_clusters(task)


def test_ai_check_needs_a_classifier():
    task = launched_task(1)
    annotator = annotator_for(task)
    label_everything(task, annotator, cases=[("", ["Lion"])])
    task.tagging_level = TaggingLevel.AI_CHECK
    task.save()
    with pytest.raises(AnnotationError, match="no classifier"):
        do_launch_task(task, acting_user=member(task.survey.organisation, Role.ADMIN))


def test_accept_reject_and_other(labelled):
    task, admin, annotator, clusters = labelled
    do_launch_task(task, acting_user=admin)
    seen = {}
    while (annotation := claim_next_cluster(task, annotator)) is not None:
        payload = cluster_payload(annotation)
        seen[annotation.cluster_id] = payload["check"]
        verdict = AiCheck.ACCEPTED if annotation.cluster_id == clusters[1].pk else (
            AiCheck.REJECTED)
        do_save_check(task, annotator, annotation_id=annotation.pk,
                      token=annotation.lease_token, verdict=verdict)
    assert seen[clusters[1].pk] == {
        "labels": [{"id": label(task, "Lion").pk, "name": "Lion"}],
        "suggested": {"id": label(task, "Zebra").pk, "name": "Zebra"}}
    assert seen[clusters[2].pk]["suggested"]["name"] == "Lion"
    assert labels_of(task, clusters[1]) == {"Zebra"}     # accepted: the AI's label
    assert labels_of(task, clusters[2]) == {"Nothing"}   # rejected: kept
    assert task_progress(task) == {"done": 2, "total": 2}
    checked = ClusterAnnotation.objects.get(task=task, cluster=clusters[1])
    assert (checked.ai_check, checked.checked_by, checked.checked_at is not None) == (
        AiCheck.ACCEPTED, annotator, True)
    # Checked once: launching again queues nothing.
    assert do_launch_task(task, acting_user=admin) == 0
    assert claim_next_cluster(task, annotator) is None


def test_other_labels_replace_and_must_be_given(labelled):
    task, admin, annotator, clusters = labelled
    do_launch_task(task, acting_user=admin)
    annotation = claim_next_cluster(task, annotator)
    with pytest.raises(AnnotationError, match="at least one label"):
        do_save_check(task, annotator, annotation_id=annotation.pk,
                      token=annotation.lease_token, verdict=AiCheck.OTHER, label_ids=[])
    with pytest.raises(AnnotationError, match="accept, reject or other"):
        do_save_check(task, annotator, annotation_id=annotation.pk,
                      token=annotation.lease_token, verdict="maybe")
    wanted = [label(task, "Unknown").pk]
    do_save_check(task, annotator, annotation_id=annotation.pk, token=annotation.lease_token,
                  verdict=AiCheck.OTHER, label_ids=wanted, note="too dark")
    annotation.refresh_from_db()
    assert set(annotation.labels.values_list("pk", flat=True)) == set(wanted)
    assert (annotation.ai_check, annotation.note) == (AiCheck.OTHER, "too dark")
    # The same answer again (a page that lost its socket) is a no-op, not an error.
    do_save_check(task, annotator, annotation_id=annotation.pk, token=annotation.lease_token,
                  verdict=AiCheck.OTHER, label_ids=wanted)


def test_stale_and_foreign_answers_are_refused(labelled):
    task, admin, annotator, clusters = labelled
    do_launch_task(task, acting_user=admin)
    annotation = claim_next_cluster(task, annotator)
    before = labels_of(task, annotation.cluster)
    other = annotator_for(task)
    with pytest.raises(StaleLease):
        do_save_check(task, other, annotation_id=annotation.pk, token=annotation.lease_token,
                      verdict=AiCheck.ACCEPTED)
    # A species-level answer to a task at the AI-check level is refused, not saved.
    with pytest.raises(AnnotationError, match="checking the AI"):
        do_save_labels(task, annotator, annotation_id=annotation.pk,
                       token=annotation.lease_token, label_ids=[label(task, "Zebra").pk])
    # Another organisation's AI-check task: its annotation id is not this task's.
    foreign_task = launched_task(1, organisation=OrganisationFactory())
    foreign = ClusterAnnotation.objects.get(task=foreign_task)
    with pytest.raises(StaleLease):
        do_save_check(task, annotator, annotation_id=foreign.pk, token="",
                      verdict=AiCheck.REJECTED)
    assert labels_of(task, annotation.cluster) == before
    assert ClusterAnnotation.objects.get(pk=annotation.pk).ai_check == AiCheck.PENDING


def test_a_changed_translation_is_followed(labelled):
    """Accept gives the label the suggestion translates to when the check is answered."""
    task, admin, annotator, clusters = labelled
    do_launch_task(task, acting_user=admin)
    task.translations.filter(classification="zebra").update(label=label(task, "Unknown"))
    task.translations.filter(classification="lion").update(label=None)
    while (annotation := claim_next_cluster(task, annotator)) is not None:
        if annotation.cluster_id == clusters[2].pk:
            assert cluster_payload(annotation)["check"]["suggested"] is None
            with pytest.raises(AnnotationError, match="no label in this task"):
                do_save_check(task, annotator, annotation_id=annotation.pk,
                              token=annotation.lease_token, verdict=AiCheck.ACCEPTED)
            verdict = AiCheck.REJECTED
        else:
            verdict = AiCheck.ACCEPTED
        do_save_check(task, annotator, annotation_id=annotation.pk,
                      token=annotation.lease_token, verdict=verdict)
    assert labels_of(task, clusters[1]) == {"Unknown"}


def test_home_page_progress_counts_the_checks(labelled):
    task, admin, annotator, _ = labelled
    do_launch_task(task, acting_user=admin)
    row = annotatable_tasks_with_progress(annotator).get(pk=task.pk)
    assert (row.done, row.total) == (0, 2)
    annotation = claim_next_cluster(task, annotator)
    do_save_check(task, annotator, annotation_id=annotation.pk, token=annotation.lease_token,
                  verdict=AiCheck.REJECTED)
    row = annotatable_tasks_with_progress(annotator).get(pk=task.pk)
    assert (row.done, row.total) == (1, 2)
    # A species-level task beside it still counts its labelled clusters.
    species = launched_task(3, organisation=task.survey.organisation)
    row = annotatable_tasks_with_progress(annotator).get(pk=species.pk)
    assert (row.done, row.total) == (0, 3)


def test_pending_checks_take_a_constant_number_of_queries(labelled, django_assert_num_queries):
    task, *_ = labelled
    ensure_special_labels()
    do_match_translations(task)
    with django_assert_num_queries(4):
        assert len(pending_checks(task)) == 2


def test_admin_launches_the_ai_check_and_says_what_it_queued(client, labelled):
    task, admin, _, _ = labelled
    client.force_login(admin)
    page = client.get(f"/admin/annotation/task/{task.pk}/change/").content.decode()
    assert 'value="ai_check" selected' in page
    response = client.post("/admin/annotation/task/", {
        "action": "launch", "_selected_action": [task.pk]}, follow=True)
    assert "launched for the AI check: 2 cluster(s)" in response.content.decode()
    # Another organisation's admin cannot launch it.
    outsider = member(OrganisationFactory(), Role.ADMIN)
    client.force_login(outsider)
    ClusterAnnotation.objects.filter(task=task).update(ai_check="")
    client.post("/admin/annotation/task/", {"action": "launch", "_selected_action": [task.pk]})
    assert not queued_clusters(task)
