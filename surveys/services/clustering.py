"""Grouping a survey's images into clusters (sequences), site by site."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max

from core.progress import Progress, ignore_progress

from ..models import Cluster, Image, Site, Survey
from ..taxonomy import CLUSTER_GAP_SECONDS, CLUSTER_MAX_SECONDS


def split_into_clusters(
    rows: list[tuple[int, datetime | None, str]],
    gap: timedelta = timedelta(seconds=CLUSTER_GAP_SECONDS),
    longest: timedelta = timedelta(seconds=CLUSTER_MAX_SECONDS),
) -> list[list[tuple[int, datetime | None, str]]]:
    """Group ``(image_id, corrected_timestamp, filename)`` rows of one site.

    Motion-triggered rule: a new cluster starts after a gap over 60 s and a
    cluster is cut 15 minutes after its first image. Images without a
    timestamp get one cluster each.
    """
    timed = sorted((r for r in rows if r[1] is not None), key=lambda r: (r[1], r[2]))
    clusters: list[list] = []
    current: list = []
    for row in timed:
        if current and (row[1] - current[-1][1] > gap or row[1] - current[0][1] > longest):
            clusters.append(current)
            current = []
        current.append(row)
    if current:
        clusters.append(current)
    clusters.extend([r] for r in sorted((r for r in rows if r[1] is None), key=lambda r: r[2]))
    return clusters


def do_cluster_survey(survey: Survey, *, progress: Progress = ignore_progress) -> int:
    """Cluster every image of ``survey`` that is not in a cluster yet; return clusters made.

    Safe to re-run: images already clustered are left alone, so a second run
    makes nothing. ``progress(done, total)`` is called after each site.
    """
    made = 0
    sites = list(Site.objects.filter(survey=survey).order_by("id"))
    for n, site in enumerate(sites, start=1):
        rows = list(
            Image.objects.filter(camera__site=site, cluster__isnull=True)
            .values_list("id", "corrected_timestamp", "filename")
        )
        if not rows:
            progress(n, len(sites))
            continue
        groups = split_into_clusters(rows)
        with transaction.atomic():
            before = Cluster.objects.filter(site=site).aggregate(m=Max("id"))["m"] or 0
            clusters = Cluster.objects.bulk_create([
                Cluster(survey=survey, site=site, start=g[0][1], end=g[-1][1], image_count=len(g))
                for g in groups
            ], batch_size=500)
            if clusters and clusters[0].pk is None:
                # Backends without INSERT … RETURNING (Oracle MySQL) leave pks unset;
                # one insert's auto-increment ids are consecutive, in order.
                clusters = list(Cluster.objects.filter(site=site, id__gt=before).order_by("id"))
            updates = [
                Image(id=row[0], cluster_id=cluster.pk)
                for cluster, group in zip(clusters, groups, strict=True)
                for row in group
            ]
            Image.objects.bulk_update(updates, ["cluster"], batch_size=1000)
        made += len(clusters)
        progress(n, len(sites))
    Survey.objects.filter(pk=survey.pk).update(
        cluster_count=Cluster.objects.filter(survey=survey).count()
    )
    return made
