import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.models import ClusterAnnotation, Label
from annotation.services.leases import claim_next_cluster, do_save_labels
from results.services.results import safe_cell, write_results_csv
from tests.annotation.helpers import annotator_for, launched_task


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("Zebra", "Zebra"), (None, ""), (3, "3"),
])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.django_db
def test_hostile_label_and_names_are_neutralised_and_multi_label_gives_two_rows():
    task = launched_task(1, labels=(("=cmd|' /C calc'!A0", "x"), ("Lion", "l")))
    user = annotator_for(task, username="-annotator")
    held = claim_next_cluster(task, user)
    do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                   label_ids=list(Label.objects.filter(task=task).values_list("pk", flat=True)))
    out = io.StringIO()
    assert write_results_csv(task, out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["species"] for r in rows] == ["'=cmd|' /C calc'!A0", "Lion"]
    assert [r["count"] for r in rows] == ["", ""]  # two species: boxes not split yet
    assert {r["annotator"] for r in rows} == {"'-annotator"}
    assert ClusterAnnotation.objects.get(pk=held.pk).labels.count() == 2


@pytest.mark.django_db
def test_export_command_errors(tmp_path):
    with pytest.raises(CommandError, match="no task with id 999"):
        call_command("export_results", "--task", "999", "--out", str(tmp_path / "x.csv"))
    task = launched_task(1)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_results", "--task", str(task.pk),
                     "--out", str(tmp_path / "missing" / "x.csv"))


@pytest.mark.django_db
def test_count_is_the_most_animal_boxes_on_one_image():
    from classifiers.models import Detection
    from classifiers.taxonomy import Category
    from tests.factories import ImageFactory

    task = launched_task(1)
    annotation = ClusterAnnotation.objects.get(task=task)
    first = annotation.cluster.images.get()
    second = ImageFactory(camera=first.camera, cluster=annotation.cluster)
    box = {"left": 0, "top": 0, "right": 0.2, "bottom": 0.2, "score": 0.9, "source": "t"}
    for image, categories in ((first, [1, 1, 2]), (second, [1, 1, 1, 3, 3])):
        for category in categories:
            Detection.objects.create(image=image, category=category, **box)
    Detection.objects.create(image=second, category=Category.ANIMAL, static=True, **box)
    user = annotator_for(task)
    held = claim_next_cluster(task, user)
    do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                   label_ids=[Label.objects.get(task=task, name="Zebra").pk])
    out = io.StringIO()
    write_results_csv(task, out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["count"] == "3"  # people, vehicles and static boxes do not count


@pytest.mark.django_db
def test_pages_give_the_same_rows_in_site_then_time_order(monkeypatch):
    """Written a page at a time (pages of 2 here): same rows, same order, as one big page."""
    from datetime import UTC, datetime, timedelta

    from results.services import results
    from surveys.models import Cluster, Site

    task = launched_task(7)
    clusters = list(Cluster.objects.filter(survey=task.survey).order_by("id"))
    second_site = Site.objects.create(survey=task.survey, name="AAA first by name")
    Cluster.objects.filter(pk__in=[c.pk for c in clusters[:3]]).update(site=second_site)
    Cluster.objects.filter(pk=clusters[1].pk).update(start=None)  # undated: first of its site
    Cluster.objects.filter(pk=clusters[5].pk).update(
        start=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=1))
    user = annotator_for(task)
    zebra = Label.objects.get(task=task, name="Zebra")
    while (held := claim_next_cluster(task, user)) is not None:
        do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                       label_ids=[zebra.pk])

    def export(page):
        monkeypatch.setattr(results, "PAGE", page)
        out = io.StringIO()
        results.write_results_csv(task, out)
        return list(csv.DictReader(io.StringIO(out.getvalue())))

    whole, paged = export(10_000), export(2)
    assert paged == whole and len(whole) == 7
    expected = list(ClusterAnnotation.objects.filter(task=task).order_by(
        "cluster__site__name", "cluster__start", "cluster_id").values_list("cluster_id",
                                                                            flat=True))
    assert [int(r["cluster_id"]) for r in whole] == expected
    assert whole[0]["site"] == "AAA first by name"
    assert whole[0]["cluster_id"] == str(clusters[1].pk)  # the undated cluster leads its site


@pytest.mark.django_db
def test_options_choose_columns_names_labels_dates_and_joining(tmp_path):
    from datetime import UTC, datetime, timedelta

    from surveys.models import Cluster, Site

    task = launched_task(3)
    Site.objects.filter(survey=task.survey).update(latitude=-2.33, longitude=34.83)
    clusters = list(Cluster.objects.filter(survey=task.survey).order_by("id"))
    day = datetime(2024, 3, 10, 12, tzinfo=UTC)
    for n, cluster in enumerate(clusters):
        Cluster.objects.filter(pk=cluster.pk).update(start=day + timedelta(days=n))
    user = annotator_for(task, username="ann")
    zebra, lion = (Label.objects.get(task=task, name=n) for n in ("Zebra", "Lion"))
    for labels in ([zebra.pk, lion.pk], [zebra.pk], [lion.pk]):
        held = claim_next_cluster(task, user)
        do_save_labels(task, user, annotation_id=held.pk, token=held.lease_token,
                       label_ids=labels, note="=cmd" if labels == [zebra.pk] else "")
    out = tmp_path / "r.csv"

    def export(*extra):
        call_command("export_results", "--task", str(task.pk), "--out", str(out), *extra)
        return list(csv.reader(out.open(encoding="utf-8")))

    rows = export("--columns", "cluster_id,latitude,species,notes", "--rename",
                  "species=scientificName", "--joined")
    assert rows[0] == ["cluster_id", "latitude", "scientificName", "notes"]
    assert [r[2] for r in rows[1:]] == ["Lion; Zebra", "Zebra", "Lion"]
    assert rows[1][1] == "-2.33" and rows[2][3] == "'=cmd"
    rows = export("--labels", "lion", "--columns", "cluster_id,species,count")
    assert [r[1] for r in rows[1:]] == ["Lion", "Lion"]
    rows = export("--since", "2024-03-11", "--until", "2024-03-11", "--columns", "cluster_id")
    assert [int(r[0]) for r in rows[1:]] == [clusters[1].pk]
    for bad, message in ((("--columns", "site,secret_key"), "Unknown column"),
                         (("--rename", "count=site"), "distinct"),
                         (("--rename", "nope"), "OLD=NEW"),
                         (("--since", "2024-03-12", "--until", "2024-03-01"), "is after"),
                         (("--since", "10/03/2024"), "YYYY-MM-DD")):
        with pytest.raises((CommandError, SystemExit)):
            try:
                export(*bad)
            except CommandError as exc:
                assert message in str(exc)
                raise
