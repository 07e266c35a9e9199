"""An admin opens a survey's insights from the admin in Chromium: every plot is drawn."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from annotation.models import Label
from tests.browser.test_tagging_page import CHROMIUM, CHROMIUM_ARGS, CSP_WATCH, Daphne, log_in
from tests.insights.helpers import T0, SurveyBuilder

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
XSS = "<script>window.__xss=1</script>"
# Each plot section's slug, its SVG's size and how many shapes it holds.
DRAWN = """() => [...document.querySelectorAll('section.insight')].map(s => {
    const svg = s.querySelector('svg.insight-plot');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return [s.dataset.plot, box.width, box.height,
            svg ? svg.querySelectorAll('path, text, use').length : 0];
})"""


@pytest.fixture
def server(transactional_db, tmp_path):
    daphne = Daphne(tmp_path)
    daphne.start()
    yield daphne.url
    if daphne.proc.poll() is None:
        daphne.stop()


def test_insights_page_draws_every_plot(server, tmp_path, monkeypatch):
    from insights.services.plots import PLOTS

    b = SurveyBuilder(tz="Africa/Nairobi")
    b.site("Kopje", lat=-2.45, lon=34.83)
    b.site("River", lat=-2.52, lon=34.91)
    for n in range(12):
        b.cluster("Kopje" if n % 2 else "River", T0 + timedelta(hours=5 * n),
                  "Zebra" if n % 3 else "Lion", suggestion="Lion")
    b.cluster("River", datetime(2024, 3, 30, 22, 30, tzinfo=UTC), None, suggestion="Zebra")
    Label.objects.filter(task=b.task, name="Lion").update(name=XSS)
    b.admin.username = "insights-boss"
    b.admin.save(update_fields=["username"])
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(CSP_WATCH)
        log_in(page, server, "insights-boss", admin=True)
        page.goto(f"{server}/admin/surveys/survey/{b.survey.pk}/change/")
        page.click("#insights-link")
        page.wait_for_selector("#insight-map svg")
        shots = tmp_path / "insights.png"
        page.screenshot(path=str(shots), full_page=True)
        drawn = page.evaluate(DRAWN)
        headline = page.inner_text("#insights-headline")
        page.select_option("select[name=species]", "Zebra")
        page.click("#insights-filters button[type=submit]")
        page.wait_for_url("**species=Zebra**")
        page.wait_for_selector("#insight-activity svg")
        with page.expect_download() as download:
            page.click("#insight-activity a:text('data (CSV)')")
        csv_text = Path(download.value.path()).read_text()
        ran, violations = page.evaluate("window.__xss"), page.evaluate("window.__csp")
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    assert shots.stat().st_size > 10_000
    assert [d[0] for d in drawn] == list(PLOTS)
    for slug, width, height, shapes in drawn:
        assert width > 200 and height > 100 and shapes > 10, slug
    assert "images\n13" in headline
    assert csv_text.startswith("species,hour,independent_detections")
    assert "Zebra" in csv_text and "script" not in csv_text
    assert ran is None and violations == []



def test_task_and_classifier_insights_draw_every_plot(server, tmp_path, monkeypatch):
    from classifiers.models import Classifier
    from insights.services.classifier_plots import CLASSIFIER_PLOTS
    from insights.services.task_plots import TASK_PLOTS
    from tests.factories import member

    b = SurveyBuilder()
    b.survey.classifier = Classifier.objects.create(
        organisation=b.survey.organisation, name="Savanna", model_key="m",
        classes=["Zebra", "Lion"])
    b.survey.save(update_fields=["classifier"])
    people = [member(b.survey.organisation, username=f"ann{i}") for i in range(2)]
    for n in range(12):
        cluster = b.cluster("A", T0 + timedelta(minutes=n), None,
                            suggestion="Lion" if n % 3 else "Zebra", score=0.3 + n / 20)
        b.label(cluster, "Zebra" if n % 2 else "Lion", by=people[n % 2],
                at=T0 + timedelta(minutes=25 * n), seconds=4.0 + n)
    b.label(b.cluster("A", T0 + timedelta(hours=9), None, suggestion="Zebra", score=0.9))
    from annotation.models import ClusterAnnotation
    from annotation.taxonomy import AiCheck

    # Two of ann0's clusters answered at the AI-check level by ann1: one kept, one not.
    firsts = ClusterAnnotation.objects.filter(task=b.task, annotator=people[0]).order_by("pk")
    for verdict, pk in zip((AiCheck.REJECTED, AiCheck.ACCEPTED),
                           firsts.values_list("pk", flat=True), strict=False):
        ClusterAnnotation.objects.filter(pk=pk).update(ai_check=verdict, checked_by=people[1],
                                                       checked_at=T0 + timedelta(hours=10))
    b.admin.username = "task-boss"
    b.admin.save(update_fields=["username"])
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(CSP_WATCH)
        log_in(page, server, "task-boss", admin=True)
        page.goto(f"{server}/admin/annotation/task/{b.task.pk}/change/")
        page.click("#task-insights-link")
        page.wait_for_selector("#insight-agreement svg")
        page.screenshot(path=str(tmp_path / "task.png"), full_page=True)
        task_drawn, headline = page.evaluate(DRAWN), page.inner_text("#insights-headline")
        page.click("#classifier-link")
        page.wait_for_selector("#insight-threshold svg")
        page.fill("input[name=threshold]", "0.5")
        page.click("#insights-filters button[type=submit]")
        page.wait_for_url("**threshold=0.5**")
        page.wait_for_selector("#insight-confusion svg")
        classifier_drawn = page.evaluate(DRAWN)
        with page.expect_download() as download:
            page.click("#insight-confusion a:text('data (CSV)')")
        csv_text = Path(download.value.path()).read_text()
        violations = page.evaluate("window.__csp")
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    assert (tmp_path / "task.png").stat().st_size > 10_000
    assert [d[0] for d in task_drawn] == list(TASK_PLOTS)
    assert [d[0] for d in classifier_drawn] == list(CLASSIFIER_PLOTS)
    for slug, width, height, shapes in task_drawn + classifier_drawn:
        assert width > 200 and height > 100 and shapes > 10, slug
    assert "task clusters\n13" in headline and "labelled\n12" in headline
    assert csv_text.startswith("human_label,ai_answer,clusters,threshold")
    assert ",0.5" in csv_text
    assert violations == []
