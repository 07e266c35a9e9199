"""A task's annotation and classifier pages: scoping, bad input, downloads, escaping, queries."""

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.taxonomy import Role
from annotation.models import Label
from classifiers.models import Classifier
from insights.services.classifier_plots import CLASSIFIER_PLOTS
from insights.services.task_plots import TASK_PLOTS
from surveys.models import Cluster
from tests.factories import OrganisationFactory, member
from tests.insights.helpers import T0, SurveyBuilder, block_matplotlib

pytestmark = pytest.mark.django_db
XSS = "<script>alert(1)</script>"
SVG = "http://www.w3.org/2000/svg"


def small_task():
    b = SurveyBuilder()
    b.survey.classifier = Classifier.objects.create(
        organisation=b.survey.organisation, name="Savanna", model_key="m",
        classes=["Zebra", "Lion"])
    b.survey.save(update_fields=["classifier"])
    annotator = member(b.survey.organisation, Role.ANNOTATOR, username="ann")
    for n, (label, suggestion, score) in enumerate(
            [("Zebra", "Zebra", 0.9), ("Zebra", "Lion", 0.6), ("Lion", "Lion", 0.3)]):
        cluster = b.cluster("A", T0 + timedelta(minutes=n), None, suggestion=suggestion,
                            score=score)
        b.label(cluster, label, by=annotator, at=T0 + timedelta(hours=n), seconds=10.0 + n)
    b.label(b.cluster("A", T0 + timedelta(hours=5), None, suggestion="Zebra", score=0.8))
    return b


def task_urls(task_id):
    base = f"/insights/tasks/{task_id}/"
    return ([base, f"{base}classifier/"]
            + [f"{base}{slug}.{fmt}" for slug in TASK_PLOTS for fmt in ("svg", "png", "csv")]
            + [f"{base}classifier/{slug}.{fmt}" for slug in CLASSIFIER_PLOTS
               for fmt in ("svg", "png", "csv")])


def test_every_task_insight_url_is_for_the_task_organisation_only(client):
    b = small_task()
    urls = task_urls(b.task.pk)
    for url in urls:  # anonymous: to the login page
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    client.force_login(member(OrganisationFactory(), Role.ADMIN))  # another organisation
    for url in urls:
        assert client.get(url).status_code == 404, url
    client.force_login(member(b.survey.organisation, Role.ANNOTATOR))  # annotators: no admin
    assert client.get(urls[0]).status_code == 302
    client.force_login(member(b.survey.organisation, Role.READ))
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_unknown_task_plot_or_format_is_404(client):
    b = small_task()
    client.force_login(b.admin)
    base = f"/insights/tasks/{b.task.pk}/"
    assert client.get(base + "confusion.svg").status_code == 404  # a classifier plot
    assert client.get(base + "classifier/progress.svg").status_code == 404  # a task plot
    assert client.get(base + "progress.pdf").status_code == 404
    assert client.get("/insights/tasks/999999/").status_code == 404
    assert client.get("/insights/tasks/999999/classifier/").status_code == 404


@pytest.mark.parametrize("value", ["-0.1", "1.5", "abc", "nan"])
def test_bad_threshold_is_400_naming_the_field(client, value):
    b = small_task()
    client.force_login(b.admin)
    base = f"/insights/tasks/{b.task.pk}/classifier/"
    page = client.get(f"{base}?threshold={value}")
    assert page.status_code == 400 and "threshold:" in page.content.decode()
    download = client.get(f"{base}confusion.csv?threshold={value}")
    assert download.status_code == 400 and download.content.decode().startswith("threshold:")


def test_task_page_shows_counts_every_plot_and_what_agreement_means(client):
    b = small_task()
    client.force_login(b.admin)
    response = client.get(f"/insights/tasks/{b.task.pk}/")
    body = response.content.decode()
    for slug in TASK_PLOTS:
        assert f'id="insight-{slug}"' in body
        assert f"/insights/tasks/{b.task.pk}/{slug}.png" in body
    assert body.count('class="insight-chart"') == len(TASK_PLOTS)
    assert (response.context["insights"].total, response.context["insights"].labelled) == (4, 3)
    assert "Agreement</strong> is with the AI" in body
    ids = re.findall(r'\bid="([^"]+)"', body)
    assert len(ids) == len(set(ids))


def test_classifier_page_threshold_carries_into_numbers_and_links(client):
    b = small_task()
    client.force_login(b.admin)
    base = f"/insights/tasks/{b.task.pk}/classifier/"
    response = client.get(f"{base}?threshold=0.5")
    body = response.content.decode()
    assert body.count('class="insight-chart"') == len(CLASSIFIER_PLOTS)
    assert "confusion.csv?threshold=0.5" in body
    ins = response.context["insights"]
    assert (ins.compared, ins.answered, ins.agreed) == (3, 2, 1)  # 0.3 is under 0.5
    assert "Savanna" in body


def test_downloads_are_svg_png_and_csv(client):
    b = small_task()
    client.force_login(b.admin)
    base = f"/insights/tasks/{b.task.pk}/"
    svg = client.get(base + "progress.svg")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    assert f'filename="task-{b.task.pk}-progress.svg"' in svg["Content-Disposition"]
    png = client.get(base + "classifier/confusion.png")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    rows = list(csv.reader(io.StringIO(client.get(base + "annotators.csv").content.decode())))
    assert rows[0][:6] == ["annotator", "clusters_labelled", "measured_clusters",
                           "measured_hours", "clusters_per_hour", "median_seconds_per_cluster"]
    # 10, 11 and 12 s: 3 clusters in 33 s is 327.27 an hour, the median 11 s.
    assert rows[1][:6] == ["ann", "3", "3", "0.009", "327.27", "11.0"]
    confusion = list(csv.reader(io.StringIO(
        client.get(base + "classifier/confusion.csv?threshold=0.5").content.decode())))
    assert confusion == [["human_label", "ai_answer", "clusters", "threshold"],
                         ["Lion", "(no answer)", "1", "0.5"], ["Zebra", "Lion", "1", "0.5"],
                         ["Zebra", "Zebra", "1", "0.5"]]
    pr = list(csv.reader(io.StringIO(
        client.get(base + "classifier/precision-recall.csv").content.decode())))
    assert ["Lion", "yes", "1", "2", "1", "0.5", "1.0", "0.0"] in pr


def test_user_text_is_escaped_and_csv_cells_are_not_formulas(client):
    b = small_task()
    Label.objects.filter(task=b.task, name="Zebra").update(name=XSS)
    b.survey.classifier.classes = ["=HYPERLINK(\"x\")", "Lion"]
    b.survey.classifier.name = XSS
    b.survey.classifier.save(update_fields=["classes", "name"])
    Cluster.objects.filter(survey=b.survey, suggestion="Zebra").update(suggestion=XSS)
    get_user_model().objects.filter(username="ann").update(username=XSS)
    client.force_login(b.admin)
    for url in (f"/insights/tasks/{b.task.pk}/", f"/insights/tasks/{b.task.pk}/classifier/"):
        body = client.get(url).content.decode()
        # The names are in the charts' specs only: JSON with "<" written \u003C.
        assert XSS not in body and "\\u003Cscript\\u003Ealert(1)" in body, url
    csv_text = client.get(
        f"/insights/tasks/{b.task.pk}/classifier/precision-recall.csv").content.decode()
    assert "'=HYPERLINK" in csv_text


@pytest.mark.hostile
def test_user_names_are_text_in_every_svg_download(client):
    """Label, class and annotator names reach the server's SVG (vl-convert) of every chart
    of both pages: each download is well-formed XML with the names as text, never markup."""
    b = small_task()
    Label.objects.filter(task=b.task, name="Zebra").update(name=XSS)
    Cluster.objects.filter(survey=b.survey, suggestion="Zebra").update(suggestion=XSS)
    get_user_model().objects.filter(username="ann").update(username=XSS)
    client.force_login(b.admin)
    base = f"/insights/tasks/{b.task.pk}/"
    for prefix, plots in ((base, TASK_PLOTS), (f"{base}classifier/", CLASSIFIER_PLOTS)):
        for slug in plots:
            svg = client.get(f"{prefix}{slug}.svg").content.decode()
            assert XSS not in svg and "<script" not in svg, slug
            shown = ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{{{SVG}}}text")]
            if slug in ("annotators", "agreement", "precision-recall", "threshold"):
                assert any(t.startswith(XSS) for t in shown), (slug, shown)
            if slug == "confusion":  # the human label (row) and the answer (column)
                assert shown.count(XSS) == 2, shown


@pytest.mark.parametrize("path", ["", "classifier/?threshold=0.5"])
def test_pages_and_downloads_are_made_without_matplotlib(client, monkeypatch, path):
    b = small_task()
    grow(b)
    client.force_login(b.admin)
    plots = CLASSIFIER_PLOTS if path else TASK_PLOTS
    prefix = f"/insights/tasks/{b.task.pk}/{'classifier/' if path else ''}"
    block_matplotlib(monkeypatch)
    body = client.get(f"/insights/tasks/{b.task.pk}/{path}").content.decode()
    assert body.count('class="insight-chart"') == len(plots)
    for slug in plots:
        ET.fromstring(client.get(f"{prefix}{slug}.svg").content.decode())
    assert client.get(f"{prefix}{next(iter(plots))}.png").content.startswith(b"\x89PNG")


def test_task_admin_links_to_the_insights(client):
    b = small_task()
    client.force_login(b.admin)
    listing = client.get("/admin/annotation/task/").content.decode()
    change = client.get(f"/admin/annotation/task/{b.task.pk}/change/").content.decode()
    for url in (f"/insights/tasks/{b.task.pk}/", f"/insights/tasks/{b.task.pk}/classifier/"):
        assert url in listing and url in change


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def grow(b, n=40):
    """More annotators, hours, labels, suggestions and scores."""
    people = [member(b.survey.organisation, Role.ANNOTATOR) for _ in range(4)]
    for i in range(n):
        cluster = b.cluster(f"S{i % 5}", T0 + timedelta(minutes=3 * i), None,
                            suggestion=["Zebra", "Lion", "", "lion"][i % 4], score=i / n)
        labels = [["Zebra"], ["Lion"], ["Zebra", "Lion"], ["Nothing"], ["Unknown"]][i % 5]
        if i % 7:
            b.label(cluster, *labels, by=people[i % 4] if i % 9 else None,
                    at=T0 + timedelta(hours=i), seconds=None if i % 6 == 0 else 5.0 + i)
        else:
            b.label(cluster)


@pytest.mark.parametrize("path", ["", "classifier/", "classifier/?threshold=0.35"])
def test_pages_make_the_same_queries_for_a_small_and_a_larger_task(client, path):
    b = small_task()
    client.force_login(b.admin)
    url = f"/insights/tasks/{b.task.pk}/{path}"
    few = count_queries(client, url)
    grow(b)
    many = count_queries(client, url)
    assert many == few
    assert few <= 15  # 7 of them are the session, user and admin menu
    plots = CLASSIFIER_PLOTS if path else TASK_PLOTS
    prefix = f"/insights/tasks/{b.task.pk}/{'classifier/' if path else ''}"
    for slug in plots:
        assert count_queries(client, f"{prefix}{slug}.csv") <= 12
