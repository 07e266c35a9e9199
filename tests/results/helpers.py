"""Builders for export tests: a task whose clusters are labelled as planned."""

from datetime import UTC, datetime, timedelta

from annotation.models import ClusterAnnotation, Label
from annotation.services.leases import claim_next_cluster, do_save_labels
from surveys.models import Camera, Cluster, Image, Site
from tests.annotation.helpers import annotator_for, launched_task

T0 = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 10:00 in Nairobi (UTC+3)


def labelled_task(plan):
    """``plan``: (site, minutes after T0, label) per cluster; every cluster labelled."""
    task = launched_task(len(plan))
    task.survey.timezone = "Africa/Nairobi"
    task.survey.save(update_fields=["timezone"])
    sites = {}
    clusters = list(Cluster.objects.filter(survey=task.survey).order_by("id"))
    for cluster, (site_name, minutes, _label) in zip(clusters, plan, strict=True):
        site = sites.get(site_name) or Site.objects.get_or_create(survey=task.survey,
                                                                  name=site_name)[0]
        sites[site_name] = site
        when = T0 + timedelta(minutes=minutes)
        camera, _ = Camera.objects.get_or_create(site=site, path=f"{site_name}/CAM1")
        Cluster.objects.filter(pk=cluster.pk).update(site=site, start=when)
        Image.objects.filter(cluster=cluster).update(corrected_timestamp=when, camera=camera)
    user = annotator_for(task)
    by_cluster = {c.pk: p[2] for c, p in zip(clusters, plan, strict=True)}
    while (held := claim_next_cluster(task, user)) is not None:
        name = by_cluster[held.cluster_id]
        label = Label.objects.get(task=None if name == "Nothing" else task, name=name)
        do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[label.pk])
    assert not ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=True).exists()
    return task
