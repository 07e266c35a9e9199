"""Record table and camera operation matrix against a hand-computed case."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import ClusterAnnotation, Label
from annotation.services.leases import claim_next_cluster, do_save_labels
from surveys.models import Camera, Cluster, Image, Site
from tests.annotation.helpers import annotator_for, launched_task
from training.services.record_table import write_camera_operation, write_record_table

pytestmark = pytest.mark.django_db
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


def test_independence_interval_edges_and_deltas():
    task = labelled_task([
        ("A", 0, "Zebra"), ("A", 20, "Zebra"),  # 20 min after: not independent
        ("A", 30, "Zebra"),                      # exactly 30 after 10:00: independent
        ("A", 35, "Lion"),                       # another species: its own clock
        ("A", 80, "Zebra"),                      # 50 after the last independent one
        ("B", 21, "Zebra"),                      # another station: its own clock
        ("A", 40, "Nothing"),                    # special labels are not records
    ])
    out = io.StringIO()
    assert write_record_table(task, out, interval_minutes=30) == (5, 0)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["Station"], r["Species"], r["Time"], r["delta.time.secs"]) for r in rows] == [
        ("A", "Lion", "10:35:00", "0"),
        ("A", "Zebra", "10:00:00", "0"),
        ("A", "Zebra", "10:30:00", "1800"),
        ("A", "Zebra", "11:20:00", "3000"),
        ("B", "Zebra", "10:21:00", "0"),
    ]
    assert rows[3]["delta.time.mins"] == "50.0" and rows[1]["Date"] == "2024-03-10"
    out = io.StringIO()
    assert write_record_table(task, out, interval_minutes=0)[0] == 6  # every record


def test_camera_operation_matrix_spans_first_to_last_image_per_station():
    task = labelled_task([("A", 0, "Zebra"), ("A", 2 * 24 * 60, "Zebra"),
                          ("B", 24 * 60, "Lion"), ("B", 24 * 60 + 14 * 60, "Lion")])
    out = io.StringIO()
    assert write_camera_operation(task.survey, out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    # B's second image is at 00:00 on the 12th in Nairobi (21:00 UTC on the 11th).
    assert rows == [["Station", "2024-03-10", "2024-03-11", "2024-03-12"],
                    ["A", "1", "1", "1"],
                    ["B", "NA", "1", "1"]]


def test_command_writes_both_files_and_explains_errors(tmp_path):
    task = labelled_task([("A", 0, "Zebra"), ("A", 10, "Zebra")])
    call_command("export_record_table", "--survey", task.survey.name, "--interval", "5",
                 "--out", str(tmp_path))
    assert len(list(csv.reader((tmp_path / "record_table.csv").open()))) == 3
    assert (tmp_path / "camera_operation.csv").exists()
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_record_table", "--survey", task.survey.name, "--interval", "5",
                     "--out", str(tmp_path / "nope"))
    with pytest.raises(CommandError, match="no survey called"):
        call_command("export_record_table", "--survey", "Nope", "--interval", "5",
                     "--out", str(tmp_path))
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("export_record_table", "--survey", task.survey.name, "--interval", "-1",
                     "--out", str(tmp_path))
