"""Bulk labelling (accept AI suggestions, relabel a selection) and the explore page."""

import threading

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from accounts.taxonomy import Role
from annotation.exceptions import AnnotationError, NotAllowed, StaleLease
from annotation.models import BulkAction, ClusterAnnotation, LabelChange
from annotation.services.auto_label import do_match_translations
from annotation.services.bulk import check_accept, do_accept_suggestions, do_relabel
from annotation.services.leases import claim_next_cluster, do_save_labels
from annotation.taxonomy import BulkKind
from classifiers.models import Classifier
from surveys.models import Cluster
from tests.annotation.helpers import annotator_for, label, launched_task
from tests.factories import ImageFactory, OrganisationFactory, member

pytestmark = pytest.mark.django_db

# cluster index → (AI class, its confidence)
SUGGESTIONS = [("zebra", 0.95), ("zebra", 0.91), ("zebra", 0.5), ("lion", 0.99), ("", None)]


def suggested_task(organisation=None):
    task = launched_task(len(SUGGESTIONS), organisation=organisation)
    survey = task.survey
    survey.classifier, _ = Classifier.objects.get_or_create(
        name="Savanna", version="1", defaults={"classes": ["zebra", "lion"]})
    survey.save()
    clusters = list(Cluster.objects.filter(survey=survey).order_by("start"))
    for cluster, (name, score) in zip(clusters, SUGGESTIONS, strict=True):
        cluster.suggestion, cluster.suggestion_score = name, score
    Cluster.objects.bulk_update(clusters, ["suggestion", "suggestion_score"])
    do_match_translations(task)
    return task, member(survey.organisation, Role.ADMIN), clusters


def labels_by_cluster(task):
    return {a.cluster_id: sorted(x.name for x in a.labels.all())
            for a in ClusterAnnotation.objects.filter(task=task).prefetch_related("labels")}


def test_accept_counts_first_then_labels_only_unlabelled_clusters_above_the_confidence():
    task, admin, clusters = suggested_task()
    annotator = annotator_for(task)
    first = claim_next_cluster(task, annotator)  # a person labels cluster 0 Lion first
    do_save_labels(task, annotator, annotation_id=first.pk, token=first.lease_token,
                   label_ids=[label(task, "Lion").pk])
    preview = check_accept(task, "zebra", 0.9, acting_user=admin)
    assert (preview.count, preview.label.name) == (1, "Zebra")  # cluster 1 only
    action = do_accept_suggestions(task, "zebra", 0.9, acting_user=admin)
    assert (action.kind, action.count, action.done_by) == (BulkKind.ACCEPT_AI, 1, admin)
    got = labels_by_cluster(task)
    assert got[clusters[0].pk] == ["Lion"]  # the person's label is kept
    assert got[clusters[1].pk] == ["Zebra"]
    assert got[clusters[2].pk] == [] and got[clusters[3].pk] == []
    changed = ClusterAnnotation.objects.get(task=task, cluster=clusters[1])
    assert (changed.annotator, changed.bulk_action) == (admin, action)
    assert LabelChange.objects.get(action=action).annotation == changed
    assert check_accept(task, "zebra", 0.9, acting_user=admin).count == 0  # nothing twice


@pytest.mark.hostile
def test_accept_refuses_a_class_without_a_label_a_bad_confidence_and_other_roles():
    task, admin, _ = suggested_task()
    task.translations.filter(classification="lion").update(label=None)
    with pytest.raises(AnnotationError, match="“lion” has no label"):
        check_accept(task, "lion", 0.5, acting_user=admin)
    with pytest.raises(AnnotationError, match="between 0 and 1"):
        check_accept(task, "zebra", 1.5, acting_user=admin)
    for outsider in (member(task.survey.organisation, Role.READ),
                     member(task.survey.organisation, Role.ANNOTATOR),
                     member(OrganisationFactory(), Role.ADMIN)):
        with pytest.raises(NotAllowed):
            do_accept_suggestions(task, "zebra", 0.5, acting_user=outsider)
    assert not BulkAction.objects.exists()


def test_a_leased_cluster_taken_by_a_bulk_action_refuses_the_late_label():
    task, admin, clusters = suggested_task()
    annotator = annotator_for(task)
    held = claim_next_cluster(task, annotator)  # cluster 0, zebra 0.95
    assert held.cluster_id == clusters[0].pk
    do_accept_suggestions(task, "zebra", 0.9, acting_user=admin)
    with pytest.raises(StaleLease):
        do_save_labels(task, annotator, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[label(task, "Lion").pk])
    assert labels_by_cluster(task)[clusters[0].pk] == ["Zebra"]


def test_relabel_replaces_labels_and_the_history_keeps_what_they_were():
    task, admin, clusters = suggested_task()
    annotator = annotator_for(task)
    first = claim_next_cluster(task, annotator)
    do_save_labels(task, annotator, annotation_id=first.pk, token=first.lease_token,
                   label_ids=[label(task, "Lion").pk], note="two cubs")
    ids = list(ClusterAnnotation.objects.filter(task=task, cluster__in=clusters[:2])
               .values_list("pk", flat=True))
    action = do_relabel(task, ids, [label(task, "Zebra").pk, label(task, "Unknown").pk],
                        acting_user=admin)
    assert action.count == 2 and "Unknown + Zebra" in action.description
    got = labels_by_cluster(task)
    assert got[clusters[0].pk] == got[clusters[1].pk] == ["Unknown", "Zebra"]
    before = {c.annotation.cluster_id: c.before for c in action.changes.select_related(
        "annotation")}
    assert before[clusters[0].pk]["labels"] == ["Lion"]
    assert before[clusters[0].pk]["annotator"] == annotator.pk
    assert before[clusters[1].pk] == {"labels": [], "annotator": None, "labelled_at": None}


@pytest.mark.hostile
def test_relabel_refuses_another_tasks_clusters_and_writes_nothing():
    task, admin, _ = suggested_task()
    other, _, _ = suggested_task(organisation=task.survey.organisation)
    mine = ClusterAnnotation.objects.filter(task=task).first()
    theirs = ClusterAnnotation.objects.filter(task=other).first()
    with pytest.raises(AnnotationError, match="1 of the selected clusters are not in the task"):
        do_relabel(task, [mine.pk, theirs.pk], [label(task, "Zebra").pk], acting_user=admin)
    with pytest.raises(AnnotationError, match="does not belong"):
        do_relabel(task, [mine.pk], [label(other, "Zebra").pk], acting_user=admin)
    with pytest.raises(AnnotationError, match="cannot be combined"):
        do_relabel(task, [mine.pk], [label(task, "Nothing").pk, label(task, "Zebra").pk],
                   acting_user=admin)
    assert not BulkAction.objects.exists()
    assert all(not names for names in labels_by_cluster(task).values())


@pytest.mark.django_db(transaction=True)
def test_bulk_accept_and_annotators_racing_never_double_label_a_cluster():
    """Real threads: annotators label while an admin accepts; each cluster gets one answer."""
    task, admin, clusters = suggested_task()
    annotators = [annotator_for(task) for _ in range(3)]
    errors = []
    start = threading.Barrier(len(annotators) + 1)

    def annotate(user):
        try:
            start.wait()
            while (held := claim_next_cluster(task, user)) is not None:
                try:
                    do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                                   label_ids=[label(task, "Lion").pk])
                except StaleLease:
                    pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    def accept():
        try:
            start.wait()
            do_accept_suggestions(task, "zebra", 0.0, acting_user=admin)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=annotate, args=(u,)) for u in annotators]
    threads.append(threading.Thread(target=accept))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    action = BulkAction.objects.get()
    got = labels_by_cluster(task)
    assert all(len(names) == 1 for names in got.values()), got  # one answer each, all done
    zebra = [cid for cid, names in got.items() if names == ["Zebra"]]
    assert len(zebra) == action.count == LabelChange.objects.count()
    bulk = set(ClusterAnnotation.objects.filter(bulk_action=action)
               .values_list("cluster_id", flat=True))
    assert bulk == set(zebra)
    # accepting took only clusters nobody had labelled: no person's label was replaced
    assert all(change.before["labels"] == [] for change in LabelChange.objects.all())
    lion = ClusterAnnotation.objects.filter(task=task, labels__name="Lion")
    assert set(lion.values_list("annotator", flat=True)) <= {u.pk for u in annotators}


def _page(client, task, query=""):
    return client.get(f"/explore/tasks/{task.pk}/{query}")


def test_explore_filters_and_shows_labels_in_local_time(client):
    task, admin, clusters = suggested_task()
    survey = task.survey
    survey.timezone = "America/Lima"  # UTC-5: 2024-01-01 00:00 UTC is Dec 31 19:00
    survey.save()
    client.force_login(admin)
    body = _page(client, task).content.decode()
    assert "5 clusters" in body and "America/Lima" in body
    assert "2023-12-31 19:00:00" in body
    body = _page(client, task, "?suggestion=zebra&min_score=0.9").content.decode()
    assert "2 clusters" in body
    body = _page(client, task, "?since=2024-01-01&until=2024-01-01").content.decode()
    assert "0 clusters" in body  # the first local day is Dec 31
    body = _page(client, task, "?since=2023-12-31&until=2023-12-31").content.decode()
    assert "5 clusters" in body
    do_relabel(task, [ClusterAnnotation.objects.get(task=task, cluster=clusters[3]).pk],
               [label(task, "Lion").pk], acting_user=admin)
    body = _page(client, task, f"?label={label(task, 'Lion').pk}").content.decode()
    assert "1 cluster" in body and "Lion" in body
    assert "4 clusters" in _page(client, task, "?state=unlabelled").content.decode()
    camera = ImageFactory._meta.model.objects.filter(cluster=clusters[2]).get().camera
    assert "1 cluster" in _page(client, task, f"?camera={camera.pk}").content.decode()


def test_explore_accept_shows_the_count_before_confirming_then_labels(client):
    task, admin, _ = suggested_task()
    client.force_login(admin)
    url = f"/explore/tasks/{task.pk}/accept/"
    body = client.get(url, {"suggestion": "zebra", "min_score": "0.9"}).content.decode()
    assert "<strong>2</strong> clusters" in body and "Zebra" in body
    assert not BulkAction.objects.exists()  # nothing before confirming
    response = client.post(url, {"suggestion": "zebra", "min_score": "0.9"}, follow=True)
    assert "2 cluster(s) labelled" in response.content.decode()
    assert BulkAction.objects.get().count == 2


def test_explore_relabel_from_the_grid_and_the_cluster_page(client):
    task, admin, clusters = suggested_task()
    client.force_login(admin)
    ids = list(ClusterAnnotation.objects.filter(task=task).values_list("pk", flat=True)[:3])
    response = client.post(f"/explore/tasks/{task.pk}/relabel/", {
        "annotations": ids, "labels": [label(task, "Zebra").pk], "query": "state=labelled"})
    assert response.status_code == 302 and response["Location"].endswith("?state=labelled")
    assert sum(names == ["Zebra"] for names in labels_by_cluster(task).values()) == 3
    body = client.get(f"/explore/tasks/{task.pk}/clusters/{ids[0]}/").content.decode()
    assert "Zebra" in body and "bulk action" in body


@pytest.mark.hostile
def test_explore_is_scoped_and_bulk_needs_the_change_role(client):
    task, _, _ = suggested_task()
    other_admin = member(OrganisationFactory(), Role.ADMIN)
    client.force_login(other_admin)
    assert _page(client, task).status_code == 404
    annotation = ClusterAnnotation.objects.filter(task=task).first()
    assert client.get(f"/explore/tasks/{task.pk}/clusters/{annotation.pk}/").status_code == 404
    assert client.post(f"/explore/tasks/{task.pk}/relabel/", {
        "annotations": [annotation.pk], "labels": [label(task, "Zebra").pk]}).status_code == 404
    reader = member(task.survey.organisation, Role.READ)
    client.force_login(reader)
    body = _page(client, task).content.decode()
    assert "5 clusters" in body and "Relabel the selected" not in body
    response = client.post(f"/explore/tasks/{task.pk}/relabel/", {
        "annotations": [annotation.pk], "labels": [label(task, "Zebra").pk]}, follow=True)
    assert "Only admins and writers" in response.content.decode()
    assert not BulkAction.objects.exists()


def test_explore_page_queries_do_not_grow_with_clusters(client):
    def count(n):
        task = launched_task(n)
        client.force_login(member(task.survey.organisation, Role.ADMIN))
        with CaptureQueriesContext(connection) as queries:
            assert _page(client, task).status_code == 200
        return len(queries)

    assert count(3) == count(40)


@pytest.mark.hostile
def test_labels_and_names_are_escaped_on_explore_pages(client):
    xss = "<script>alert(1)</script>"
    task = launched_task(1, labels=((xss, "x"),))
    admin = member(task.survey.organisation, Role.ADMIN)
    annotation = ClusterAnnotation.objects.get(task=task)
    do_relabel(task, [annotation.pk], [label(task, xss).pk], acting_user=admin)
    client.force_login(admin)
    for url in (f"/explore/tasks/{task.pk}/",
                f"/explore/tasks/{task.pk}/clusters/{annotation.pk}/"):
        body = client.get(url).content.decode()
        assert xss not in body and "&lt;script&gt;" in body
