"""An admin opens the insights pages from the admin in Chromium: every chart is drawn by
the vendored Vega from its spec, under the site's CSP (no 'unsafe-eval': Vega's
expressions are interpreted), with no console message; tooltips and time zoom work.

Each chart's screenshot is kept in the test's tmp_path (``charts/<slug>.png``)."""

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
# Each chart section's slug, its drawn SVG's size and how many shapes it holds.
DRAWN = """() => [...document.querySelectorAll('section.insight')].map(s => {
    const svg = s.querySelector('.insight-chart svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return [s.dataset.plot, box.width, box.height,
            svg ? svg.querySelectorAll('path, text').length : 0];
})"""
ALL_DRAWN = "() => document.body.dataset.chartsDrawn === 'yes'"
AXIS_LABELS = ("() => [...document.querySelectorAll('#insight-operation .role-axis-label text')]"
               ".map(t => t.textContent).join('|')")


def watch_console(page) -> list[str]:
    """Every console message of the page (Vega warns there about a spec it cannot draw)
    and every uncaught error."""
    said = []
    page.on("console", lambda m: said.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: said.append(f"pageerror: {e}"))
    return said


def shoot_charts(page, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for section in page.query_selector_all("section.insight"):
        section.screenshot(path=str(folder / f"{section.get_attribute('data-plot')}.png"))


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
        said = watch_console(page)
        log_in(page, server, "insights-boss", admin=True)
        page.goto(f"{server}/admin/surveys/survey/{b.survey.pk}/change/")
        page.click("#insights-link")
        page.wait_for_function(ALL_DRAWN)
        shots = tmp_path / "insights.png"
        page.screenshot(path=str(shots), full_page=True)
        shoot_charts(page, tmp_path / "charts")
        drawn = page.evaluate(DRAWN)
        headline = page.inner_text("#insights-headline")
        # A tooltip over a bar names its species and count; vega-embed's menu is there.
        page.hover("#insight-species .insight-chart path[aria-roledescription='bar']"
                   if page.query_selector("#insight-species [aria-roledescription='bar']")
                   else "#insight-species .insight-chart .mark-rect path")
        page.wait_for_selector("#vg-tooltip-element.visible")
        tooltip = page.inner_text("#vg-tooltip-element")
        menu = page.query_selector("#insight-species details[title='Click to view actions']")
        # The wheel zooms the camera operation's time axis: its first date label changes.
        before = page.evaluate(AXIS_LABELS)
        page.locator("#insight-operation .insight-chart svg path.background").first.hover()
        page.mouse.wheel(0, -400)
        page.wait_for_function(f"(before) => ({AXIS_LABELS})() !== before", arg=before)
        page.select_option("select[name=species]", "Zebra")
        page.click("#insights-filters button[type=submit]")
        page.wait_for_url("**species=Zebra**")
        page.wait_for_function(ALL_DRAWN)
        with page.expect_download() as download:
            page.click("#insight-activity a:text('data (CSV)')")
        csv_text = Path(download.value.path()).read_text()
        ran, violations = page.evaluate("window.__xss"), page.evaluate("window.__csp")
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    assert shots.stat().st_size > 10_000
    assert [d[0] for d in drawn] == list(PLOTS)
    for slug, width, height, shapes in drawn:
        assert width > 200 and height > 60 and shapes > 10, slug
    assert "species" in tooltip and menu is not None
    assert said == []
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
        said = watch_console(page)
        log_in(page, server, "task-boss", admin=True)
        page.goto(f"{server}/admin/annotation/task/{b.task.pk}/change/")
        page.click("#task-insights-link")
        page.wait_for_function(ALL_DRAWN)
        page.screenshot(path=str(tmp_path / "task.png"), full_page=True)
        shoot_charts(page, tmp_path / "charts")
        task_drawn, headline = page.evaluate(DRAWN), page.inner_text("#insights-headline")
        page.click("#classifier-link")
        page.wait_for_function(ALL_DRAWN)
        page.fill("input[name=threshold]", "0.5")
        page.click("#insights-filters button[type=submit]")
        page.wait_for_url("**threshold=0.5**")
        page.wait_for_function(ALL_DRAWN)
        shoot_charts(page, tmp_path / "charts")
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
        assert width > 200 and height > 60 and shapes > 10, slug
    assert said == []
    assert "task clusters\n13" in headline and "labelled\n12" in headline
    assert csv_text.startswith("human_label,ai_answer,clusters,threshold")
    assert ",0.5" in csv_text
    assert violations == []
