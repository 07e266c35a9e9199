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
        drawn = page.evaluate("""() => [...document.querySelectorAll('section.insight')].map(s => {
            const svg = s.querySelector('svg.insight-plot');
            const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return [s.dataset.plot, box.width, box.height,
                    svg ? svg.querySelectorAll('path, text, use').length : 0];
        })""")
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
