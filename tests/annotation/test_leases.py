"""Per-cluster leases: never one cluster to two annotators; stale writes refused."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.exceptions import AnnotationError, NotAllowed, StaleLease
from annotation.models import ClusterAnnotation, Label
from annotation.services.leases import (
    claim_next_cluster,
    do_save_labels,
    release_expired_leases,
    release_leases,
)
from annotation.services.task_setup import do_launch_task
from tests.annotation.helpers import annotator_for, launched_task
from tests.factories import UserFactory


def label(task, name):
    return Label.objects.get(task=task, name=name)


@pytest.mark.django_db
def test_claim_save_and_finish():
    task = launched_task(2)
    user = annotator_for(task)
    stale_page = claim_next_cluster(task, user)
    first = claim_next_cluster(task, user)  # a reconnect gets the cluster back…
    assert first.pk == stale_page.pk and first.lease_token != stale_page.lease_token
    assert release_leases(user, task.pk, [stale_page.lease_token]) == 0  # …the old page can't
    with pytest.raises(StaleLease):
        do_save_labels(task, user, annotation_id=first.pk, token=stale_page.lease_token,
                       label_ids=[label(task, "Zebra").pk])
    do_save_labels(task, user, annotation_id=first.pk, token=first.lease_token,
                   label_ids=[label(task, "Zebra").pk])
    first.refresh_from_db()
    assert first.labelled_at and first.annotator == user and first.leased_to is None
    assert first.seconds_spent is not None and first.seconds_spent >= 0
    second = claim_next_cluster(task, user)
    assert second.pk != first.pk
    do_save_labels(task, user, annotation_id=second.pk, token=second.lease_token,
                   label_ids=[Label.objects.get(task=None, name="Nothing").pk])
    assert claim_next_cluster(task, user) is None


@pytest.mark.django_db
def test_stale_write_is_refused_after_lease_passed_to_someone_else():
    task = launched_task(1)
    slow, quick = annotator_for(task), annotator_for(task)
    held = claim_next_cluster(task, slow)
    ClusterAnnotation.objects.filter(pk=held.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    taken = claim_next_cluster(task, quick)
    assert taken.pk == held.pk and taken.lease_token != held.lease_token
    with pytest.raises(StaleLease):
        do_save_labels(task, slow, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[label(task, "Lion").pk])
    do_save_labels(task, quick, annotation_id=taken.pk, token=taken.lease_token,
                   label_ids=[label(task, "Zebra").pk])
    taken.refresh_from_db()
    assert list(taken.labels.values_list("name", flat=True)) == ["Zebra"]
    assert taken.annotator == quick


@pytest.mark.django_db
def test_label_rules():
    task = launched_task(1)
    other = launched_task(1)
    user = annotator_for(task)
    held = claim_next_cluster(task, user)
    nothing = Label.objects.get(task=None, name="Nothing")
    for ids, message in (
        ([], "at least one label"),
        ([label(other, "Zebra").pk], "does not belong"),
        ([nothing.pk, label(task, "Zebra").pk], "cannot be combined"),
    ):
        with pytest.raises(AnnotationError, match=message):
            do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                           label_ids=ids)
    with pytest.raises(AnnotationError, match="longer than 512"):
        do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[label(task, "Zebra").pk], note="x" * 513)
    # Multi-label is fine.
    do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                   label_ids=[label(task, "Zebra").pk, label(task, "Lion").pk])


@pytest.mark.django_db
def test_release_on_leave_and_expiry_housekeeping():
    task = launched_task(2)
    a, b = annotator_for(task), annotator_for(task)
    held = claim_next_cluster(task, a)
    assert release_leases(a, task.pk, ["not-this-page"]) == 0
    assert release_leases(a, task.pk, [held.lease_token]) == 1
    # Given back, the page that held it may still save a label sent as it closed…
    do_save_labels(task, a, annotation_id=held.pk, token=held.lease_token,
                   label_ids=[label(task, "Zebra").pk])
    held = claim_next_cluster(task, a)
    assert release_leases(a, task.pk, [held.lease_token]) == 1
    # …until someone else claims the cluster.
    assert claim_next_cluster(task, b).pk == held.pk
    with pytest.raises(StaleLease):
        do_save_labels(task, a, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[label(task, "Zebra").pk])
    ClusterAnnotation.objects.filter(leased_to=b).update(
        lease_expires_at=timezone.now() - timedelta(seconds=5))
    assert release_expired_leases() == 1
    assert not ClusterAnnotation.objects.filter(leased_to__isnull=False).exists()


@pytest.mark.django_db
def test_launch_requires_write_role_and_is_rerunnable():
    task = launched_task(3)
    with pytest.raises(NotAllowed):
        do_launch_task(task, acting_user=annotator_for(task))
    with pytest.raises(NotAllowed):
        do_launch_task(task, acting_user=UserFactory())
    admin = task.survey.organisation.memberships.get(role="admin").user
    assert do_launch_task(task, acting_user=admin) == 0
    assert ClusterAnnotation.objects.filter(task=task).count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_never_share_a_cluster():
    """Eight threads (own database connections) claim and label at the same time."""
    task = launched_task(40)
    zebra = label(task, "Zebra").pk
    users = [annotator_for(task) for _ in range(8)]
    start = threading.Barrier(len(users))
    first_claims: dict[int, int] = {}
    labelled: dict[int, list[int]] = {u.pk: [] for u in users}
    errors: list[BaseException] = []

    def work(user):
        try:
            start.wait()
            held = claim_next_cluster(task, user)
            first_claims[user.pk] = held.pk
            start.wait()  # everyone holds one lease at the same moment
            while held is not None:
                do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                               label_ids=[zebra])
                labelled[user.pk].append(held.pk)
                held = claim_next_cluster(task, user)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(set(first_claims.values())) == len(users)
    everything = [pk for ids in labelled.values() for pk in ids]
    assert len(everything) == 40 and len(set(everything)) == 40
    assert ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_a_resend_after_a_lost_acknowledgement_is_safe():
    """A page whose socket dropped resends its label: saved once, never twice or changed."""
    task = launched_task(2)
    user = annotator_for(task)
    held = claim_next_cluster(task, user)
    zebra, lion = label(task, "Zebra"), label(task, "Lion")
    do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                   label_ids=[zebra.pk])
    saved = ClusterAnnotation.objects.get(pk=held.pk)
    # The same labels again (the acknowledgement was lost): nothing changes.
    do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                   label_ids=[zebra.pk])
    again = ClusterAnnotation.objects.get(pk=held.pk)
    assert again.labelled_at == saved.labelled_at
    assert list(again.labels.values_list("name", flat=True)) == ["Zebra"]
    # Other labels on a finished cluster, or someone else's resend, are refused.
    with pytest.raises(StaleLease):
        do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[lion.pk])
    with pytest.raises(StaleLease):
        do_save_labels(task, annotator_for(task), annotation_id=held.pk,
                       token=held.lease_token, label_ids=[zebra.pk])
    assert ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False).count() == 1
