"""A first-visit tutorial beside the tagging page that never takes a key from labelling."""

import shutil

import pytest

from annotation.models import ClusterAnnotation
from tests.browser.test_tagging_page import (  # noqa: F401 - fixtures
    CHROMIUM,
    CHROMIUM_ARGS,
    daphne,
    log_in,
    ready_task,
    server,
)

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=\"window.__xss=1\">"


def test_tutorial_shows_on_the_first_visit_and_labelling_works_while_it_is_open(
        server, demo_source, tmp_path, monkeypatch):  # noqa: F811
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    root, _ = demo_source
    small = tmp_path / "src"
    shutil.copytree(root / "Kopje", small / "Kopje")
    task, _ = ready_task(small)
    task.labels.filter(name="Lion").update(name=XSS_NAME)
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        log_in(page, server, "clicker")
        page.goto(f"{server}/annotate/{task.pk}/")
        page.wait_for_selector("#tagging[data-cluster-id]")
        page.wait_for_function("() => document.getElementById('image').naturalWidth > 0")
        assert page.is_visible("#tutorial")
        keys = page.inner_text("#tutorial-keys")
        assert "z Zebra" in keys and "e Elephant" in keys and XSS_NAME in keys
        assert page.evaluate("window.__xss") is None  # the name is text, never HTML
        first = page.get_attribute("#tagging", "data-cluster-id")
        page.keyboard.press("z")  # labels while the tutorial is open
        page.wait_for_function("() => document.getElementById('tagging').dataset.saved === '1'")
        page.click("#tutorial-close")
        assert not page.is_visible("#tutorial")
        page.reload()
        page.wait_for_selector("#tagging[data-cluster-id]")
        assert not page.is_visible("#tutorial")  # remembered
        page.click("#tutorial-open")
        assert page.is_visible("#tutorial")
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    labelled = ClusterAnnotation.objects.get(task=task, labelled_at__isnull=False)
    assert labelled.cluster_id == int(first)
    assert [label.name for label in labelled.labels.all()] == ["Zebra"]
