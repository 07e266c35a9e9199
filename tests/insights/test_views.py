"""The insights page and downloads: who may open them, bad input, formats, escaping, queries."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.taxonomy import Role
from annotation.models import Label
from insights.services.plots import PLOTS
from surveys.models import Site
from tests.factories import OrganisationFactory, member
from tests.insights.helpers import T0, SurveyBuilder, block_matplotlib

pytestmark = pytest.mark.django_db
XSS = "<script>alert(1)</script>"


def small_survey(**kwargs):
    b = SurveyBuilder(tz="Africa/Nairobi", **kwargs)
    b.site("A", lat=-2.5, lon=34.9)
    b.minutes("A", "Zebra", 0, 45, 600)
    b.minutes("B", "Lion", 5)
    b.cluster("B", T0 + timedelta(hours=3), None, suggestion="Lion")
    return b


def insight_urls(survey_id):
    base = f"/insights/surveys/{survey_id}/"
    return [base] + [f"{base}{slug}.{fmt}" for slug in PLOTS for fmt in ("svg", "png", "csv")]


def test_every_insight_url_is_for_the_survey_organisation_only(client):
    b = small_survey()
    urls = insight_urls(b.survey.pk)
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


def test_unknown_plot_or_format_is_404(client):
    b = small_survey()
    client.force_login(b.admin)
    assert client.get(f"/insights/surveys/{b.survey.pk}/nope.svg").status_code == 404
    assert client.get(f"/insights/surveys/{b.survey.pk}/activity.pdf").status_code == 404
    assert client.get("/insights/surveys/999999/").status_code == 404


@pytest.mark.parametrize("query,field", [
    ("since=2024-13-01", "since"),
    ("until=yesterday", "until"),
    ("since=2024-03-12&until=2024-03-10", "until"),
    ("interval=-5", "interval"),
    ("interval=abc", "interval"),
    ("species=Unicorn", "species"),
    ("site=999999", "site"),
    ("task=abc", "task"),
])
def test_bad_filters_are_400_naming_the_field(client, query, field):
    b = small_survey()
    client.force_login(b.admin)
    page = client.get(f"/insights/surveys/{b.survey.pk}/?{query}")
    assert page.status_code == 400
    assert f"{field}:" in page.content.decode()
    download = client.get(f"/insights/surveys/{b.survey.pk}/activity.csv?{query}")
    assert download.status_code == 400 and download.content.decode().startswith(f"{field}:")


def test_page_shows_headline_and_every_plot_inline(client):
    b = small_survey()
    client.force_login(b.admin)
    response = client.get(f"/insights/surveys/{b.survey.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    for slug in PLOTS:
        assert f'id="insight-{slug}"' in body
        assert f"/insights/surveys/{b.survey.pk}/{slug}.png" in body
    assert body.count('class="insight-chart"') == len(PLOTS)
    specs = {p["slug"]: json.loads(re.search(
        rf'<script id="spec-{p["slug"]}" type="application/json">(.*?)</script>', body,
        re.S).group(1)) for p in response.context["plots"]}
    assert list(specs) == list(PLOTS)
    assert specs["species"]["datasets"]["rows"] == [  # verified then AI-only, a species each
        {"species": "Lion", "kind": "verified", "order": 0, "detections": 1},
        {"species": "Lion", "kind": "AI-only", "order": 1, "detections": 1},
        {"species": "Zebra", "kind": "verified", "order": 0, "detections": 3},
        {"species": "Zebra", "kind": "AI-only", "order": 1, "detections": 0}]
    h = response.context["headline"]
    assert h["images"] == 5 and h["clusters"] == 5 and h["species"] == 2
    ids = re.findall(r'\bid="([^"]+)"', body)
    assert len(ids) == len(set(ids))


def test_a_survey_nobody_labelled_says_how_to_see_the_ai_suggestions(client):
    b = SurveyBuilder()
    b.cluster("A", T0, None, suggestion="Zebra")
    client.force_login(b.admin)
    url = f"/insights/surveys/{b.survey.pk}/"
    assert 'id="insights-hint"' in client.get(url).content.decode()
    assert 'id="insights-hint"' not in client.get(url + "?ai=on").content.decode()
    b.cluster("A", T0 + timedelta(hours=1), "Lion")  # one verified label: no hint
    assert 'id="insights-hint"' not in client.get(url).content.decode()


def test_a_survey_without_task_or_classifier_says_what_to_do(client):
    from annotation.models import Task
    from classifiers.models import Classifier

    b = SurveyBuilder()
    b.cluster("A", T0, None)
    Task.objects.filter(pk=b.task.pk).delete()
    client.force_login(b.admin)
    url = f"/insights/surveys/{b.survey.pk}/"
    assert "no species classifier yet" in client.get(url).content.decode()
    b.survey.classifier = Classifier.objects.create(name="S", version="1", classes=["zebra"])
    b.survey.save(update_fields=["classifier"])
    body = client.get(url).content.decode()
    assert "only AI suggestions" in body and "no species classifier yet" not in body


def test_filters_carry_into_the_download_links(client):
    b = small_survey()
    client.force_login(b.admin)
    body = client.get(f"/insights/surveys/{b.survey.pk}/?species=Zebra&interval=60").content
    assert b"activity.csv?species=Zebra&amp;interval=60" in body


def test_downloads_are_svg_png_and_csv(client):
    b = small_survey()
    client.force_login(b.admin)
    base = f"/insights/surveys/{b.survey.pk}/"
    svg = client.get(base + "activity.svg")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    assert "attachment" in svg["Content-Disposition"]
    png = client.get(base + "map.png")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    rows = list(csv.reader(io.StringIO(client.get(base + "activity.csv").content.decode())))
    assert rows[0] == ["species", "hour", "independent_detections"]
    # 10:00 and 10:45 local are independent (45 min apart), 20:00 too: hours 10 and 20.
    zebra = {int(h): int(n) for s, h, n in rows[1:] if s == "Zebra"}
    assert zebra[10] == 2 and zebra[20] == 1 and sum(zebra.values()) == 3
    rate = list(csv.reader(io.StringIO(
        client.get(base + "detection-rate.csv?interval=60").content.decode())))
    # At 60 min, 10:45 is not independent of 10:00; sites A and B worked a day each.
    assert ["All sites", "Zebra", "2", "2", "100.0"] in rate
    assert ["A", "Zebra", "2", "1", "200.0"] in rate


def test_user_text_is_escaped_and_csv_cells_are_not_formulas(client):
    b = small_survey()
    Label.objects.filter(task=b.task, name="Zebra").update(name=XSS)
    Site.objects.filter(survey=b.survey, name="A").update(name="=HYPERLINK(\"x\")")
    client.force_login(b.admin)
    body = client.get(f"/insights/surveys/{b.survey.pk}/").content.decode()
    assert XSS not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # in the filter and the plots
    svg = client.get(f"/insights/surveys/{b.survey.pk}/species.svg").content.decode()
    assert XSS not in svg and "&lt;script&gt;" in svg
    rows = client.get(f"/insights/surveys/{b.survey.pk}/species.csv").content.decode()
    assert "'=HYPERLINK" in rows


@pytest.mark.hostile
def test_site_and_camera_names_are_escaped_in_every_plot(client):
    """Names reach the page's specs (JSON in a json_script element: no "<" in it) and the
    server's SVG (vl-convert): each download is well-formed XML with the names as text."""
    import xml.etree.ElementTree as ET

    from surveys.models import Camera

    b = small_survey()
    Label.objects.filter(task=b.task, name="Zebra").update(name=XSS)
    Site.objects.filter(survey=b.survey, name="A").update(name=XSS)
    Camera.objects.filter(site__survey=b.survey).update(path=f"{XSS}/CAM&1")
    client.force_login(b.admin)
    body = client.get(f"/insights/surveys/{b.survey.pk}/").content.decode()
    assert XSS not in body
    plots = re.findall(r'<section class="insight".*?</section>', body, re.S)
    assert len(plots) == len(PLOTS)
    for section in plots:
        spec = re.search(r'type="application/json">(.*?)</script>', section, re.S).group(1)
        assert "<" not in spec and "\\u003Cscript\\u003E" in spec
    for slug in PLOTS:
        svg = client.get(f"/insights/surveys/{b.survey.pk}/{slug}.svg").content.decode()
        assert XSS not in svg and "<script" not in svg, slug
        shown = "".join(ET.fromstring(svg).itertext())
        if slug in ("species", "species-sites", "detection-rate"):
            assert XSS in shown, slug  # the species name, as text
        if slug == "map":
            assert f"{XSS} (" in shown  # the site name and its detections
        if slug == "species-sites":
            assert shown.count(XSS) == 2  # the species and the site
        if slug == "operation":
            assert f"{XSS}/CAM&1" in shown


def test_page_and_every_download_are_made_without_matplotlib(client, monkeypatch):
    b = small_survey()
    client.force_login(b.admin)
    block_matplotlib(monkeypatch)
    base = f"/insights/surveys/{b.survey.pk}/"
    body = client.get(base + "?interval=10&ai=on").content.decode()
    assert body.count('class="insight-chart"') == len(PLOTS)
    for slug in PLOTS:
        assert client.get(f"{base}{slug}.svg").content.startswith(b"<svg"), slug
        assert client.get(f"{base}{slug}.png").content.startswith(b"\x89PNG"), slug


def test_species_names_with_dollars_are_text_not_mathtext(client):
    b = small_survey()
    Label.objects.filter(task=b.task, name="Zebra").update(name="$\\notacommand$")
    client.force_login(b.admin)
    response = client.get(f"/insights/surveys/{b.survey.pk}/")
    assert response.status_code == 200
    assert "$\\notacommand$" in response.content.decode()


def test_survey_admin_links_to_the_insights(client):
    b = small_survey()
    client.force_login(b.admin)
    url = f"/insights/surveys/{b.survey.pk}/"
    assert url in client.get("/admin/surveys/survey/").content.decode()
    assert url in client.get(f"/admin/surveys/survey/{b.survey.pk}/change/").content.decode()


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("query", ["", "?species=Zebra&ai=on&interval=10",
                                   "?since=2024-03-10&until=2024-03-20"])
def test_page_makes_the_same_queries_for_a_small_and_a_larger_survey(client, query):
    b = small_survey()
    client.force_login(b.admin)
    url = f"/insights/surveys/{b.survey.pk}/{query}"
    few = count_queries(client, url)
    for n in range(40):  # more sites, cameras, clusters, labels and suggestions
        b.cluster(f"S{n % 7}", T0 + timedelta(hours=n, minutes=7 * n),
                  "Lion" if n % 3 else "Zebra", suggestion="Zebra", camera=f"C{n % 2}")
        b.cluster(f"S{n % 5}", T0 + timedelta(days=n % 9), None, suggestion="Lion")
        b.image(f"S{n % 7}", T0 + timedelta(days=n), animal=bool(n % 2))
    many = count_queries(client, url)
    assert many == few
    assert few <= 25  # 7 of them are the session, user and admin menu
    for slug in PLOTS:
        assert count_queries(client, f"/insights/surveys/{b.survey.pk}/{slug}.csv{query}") <= 25
