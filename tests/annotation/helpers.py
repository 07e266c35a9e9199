"""Small builders for annotation tests."""

from datetime import UTC, datetime, timedelta

from django.db.models import Q

from accounts.taxonomy import Role
from annotation.models import Label
from annotation.services.leases import claim_next_cluster, do_save_labels
from annotation.services.task_setup import do_create_task, do_launch_task
from annotation.taxonomy import TaggingLevel
from classifiers.models import Classifier
from surveys.models import Cluster
from surveys.taxonomy import SurveyStatus
from tests.factories import ClusterFactory, ImageFactory, SiteFactory, SurveyFactory, member


def launched_task(n_clusters=5, organisation=None, labels=(("Zebra", "z"), ("Lion", "l"))):
    """A ready survey with ``n_clusters`` one-image clusters and a launched task."""
    survey = SurveyFactory(status=SurveyStatus.READY,
                           **({"organisation": organisation} if organisation else {}))
    site = SiteFactory(survey=survey)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(n_clusters):
        cluster = ClusterFactory(site=site, start=t0 + timedelta(hours=i))
        ImageFactory(camera__site=site, cluster=cluster,
                     corrected_timestamp=t0 + timedelta(hours=i), web_key="")
    admin = member(survey.organisation, Role.ADMIN)
    task = do_create_task(survey, name="Species", labels=list(labels), acting_user=admin)
    do_launch_task(task, acting_user=admin)
    return task


def annotator_for(task, **kwargs):
    return member(task.survey.organisation, Role.ANNOTATOR, **kwargs)


# cluster index → (classifier suggestion, labels people gave)
CASES = [
    ("zebra", ["Zebra"]),          # 0 agrees: not queued
    ("zebra", ["Lion"]),           # 1 differs: queued
    ("lion", ["Nothing"]),         # 2 a missed animal: queued
    ("warthog", ["Lion"]),         # 3 no label for warthog: not queued
    ("", ["Lion"]),                # 4 no suggestion: not queued
    ("zebra", ["Knocked Down"]),   # 5 set aside: not queued
    ("lion", ["Zebra", "Lion"]),   # 6 among several labels: not queued
]


def label(task, name):
    return Label.objects.get(Q(task=task) | Q(task__isnull=True), name=name)


def label_everything(task, user, cases=CASES):
    """Label each cluster through the tagging services, as a person would."""
    wanted = dict(zip(Cluster.objects.filter(survey=task.survey).order_by("start")
                      .values_list("pk", flat=True), cases, strict=True))
    while (annotation := claim_next_cluster(task, user)) is not None:
        _, names = wanted[annotation.cluster_id]
        do_save_labels(task, user, annotation_id=annotation.pk, token=annotation.lease_token,
                       label_ids=[label(task, name).pk for name in names])


def ai_check_task(cases=CASES):
    """A finished species-level task over ``cases``, moved to the AI-check level (not launched).

    Returns (task, an admin, the annotator who labelled it, the clusters in order).
    """
    task = launched_task(len(cases))
    survey = task.survey
    survey.classifier = Classifier.objects.create(
        name="Savanna", version="1", classes=["zebra", "lion", "warthog"])
    survey.save()
    clusters = list(Cluster.objects.filter(survey=survey).order_by("start"))
    for cluster, (suggestion, _) in zip(clusters, cases, strict=True):
        cluster.suggestion = suggestion
    Cluster.objects.bulk_update(clusters, ["suggestion"])
    admin = member(survey.organisation, Role.ADMIN)
    annotator = annotator_for(task)
    label_everything(task, annotator, cases)
    task.tagging_level = TaggingLevel.AI_CHECK
    task.save()
    return task, admin, annotator, clusters
