"""An annotator logs in and labels two clusters with hotkeys on the live page."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from accounts.taxonomy import Role
from annotation.models import ClusterAnnotation
from annotation.services.task_setup import do_create_task, do_launch_task
from classifiers import tasks as ai_tasks
from surveys import tasks as survey_tasks
from surveys.models import Cluster, ImportRun
from surveys.taxonomy import SurveyStatus
from tests.annotation.helpers import ai_check_task
from tests.conftest import free_port, subprocess_env
from tests.factories import OrganisationFactory, SurveyFactory, member

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Records every Content-Security-Policy violation the page meets.
CSP_WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
             "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


class Daphne:
    """A real daphne process on a fixed port that a test can stop and start again."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = subprocess_env({"TRAPTAGGER_VAR_DIR": str(tmp_path / "var")})
        for name in ("REDIS_URL", "CELERY_BROKER_URL"):
            self.env.pop(name, None)
        self.log_path = tmp_path / "daphne.log"
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "traptagger.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.proc.log = log
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert self.proc.poll() is None, self.log_path.read_text()
                time.sleep(0.2)
        raise AssertionError("daphne did not start:\n" + self.log_path.read_text())

    def stop(self):
        """Stop as a service manager does: SIGTERM, then SIGKILL after a grace period.

        daphne never exits if SIGTERM lands while a sync view's response is in flight
        (its thread waits on an event loop that has stopped); deploy/systemd gives it
        TimeoutStopSec for the same reason.
        """
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.log.close()


@pytest.fixture
def daphne(transactional_db, tmp_path):
    server = Daphne(tmp_path)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


@pytest.fixture
def server(daphne):
    return daphne.url


def log_in(page, base: str, username: str, *, admin: bool = False):
    """Log in through the site's form (or the admin's); return the login page's response."""
    response = page.goto(f"{base}/admin/login/" if admin else f"{base}/accounts/login/")
    page.fill("input[name=username]" if admin else "input[name=login]", username)
    page.fill("input[name=password]", "pass-word-123")
    page.click("input[type=submit]" if admin else "button[type=submit]")
    page.wait_for_url(f"{base}/admin/" if admin else f"{base}/")
    return response


def ready_task(source):
    org = OrganisationFactory(name="Browser Org")
    admin = member(org, Role.ADMIN, username="boss")
    annotator = member(org, Role.ANNOTATOR, username="clicker")
    survey = SurveyFactory(organisation=org, detector="whole")
    run = ImportRun.objects.create(survey=survey, source=str(source))
    survey_tasks.run_import_task(run.pk)
    survey_tasks.cluster_survey_task(survey.pk)
    ai_tasks.detect_survey_task(survey.pk)
    ai_tasks.find_static_detections_task(survey.pk)
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.READY
    task = do_create_task(survey, name="Species", acting_user=admin,
                          labels=[("Zebra", "z"), ("Elephant", "e"), ("Lion", "l")])
    do_launch_task(task, acting_user=admin)
    return task, annotator


def test_annotator_labels_two_clusters_with_hotkeys(server, demo_source, tmp_path,
                                                   monkeypatch):
    root, _ = demo_source
    small = tmp_path / "src"
    shutil.copytree(root / "Kopje", small / "Kopje")  # 4 clusters are plenty
    task, annotator = ready_task(small)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM is only used
    # before and after it, never while a page is open.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(CSP_WATCH)
        log_in(page, server, "clicker")
        page.click(f"a[href='/annotate/{task.pk}/']")
        page.wait_for_selector("#tagging[data-cluster-id]")
        page.wait_for_function("() => document.getElementById('image').naturalWidth > 0")
        first = page.get_attribute("#tagging", "data-cluster-id")
        page.keyboard.press("z")
        page.wait_for_function(  # the next cluster, prefetched, shows at once (or soon)
            f"() => (document.getElementById('tagging').dataset.clusterId || '{first}')"
            f" !== '{first}'")
        second = page.get_attribute("#tagging", "data-cluster-id")
        page.keyboard.press("l")
        page.wait_for_function("() => document.getElementById('tagging').dataset.saved === '2'")
        page.wait_for_function(
            "() => document.getElementById('progress').textContent.startsWith('2 / 4')")
        assert page.evaluate("window.__csp") == []  # the page works under the policy
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    done = {a.cluster_id: [lab.name for lab in a.labels.all()]
            for a in ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)}
    assert done == {int(first): ["Zebra"], int(second): ["Lion"]}
    assert all(a.annotator == annotator for a in
               ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False))
    assert os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE") is None


# Records, before the page's own handler runs, what was on the screen at each key press:
# the cluster the page says it shows and the picture actually drawn (a loaded <img>).
KEY_WATCH = """
window.__pressed = [];
window.addEventListener('keydown', (e) => {
  const img = document.getElementById('image');
  const drawn = img && !img.hidden && img.complete && img.naturalWidth > 0;
  window.__pressed.push({key: e.key, cluster: document.getElementById('tagging')
    .dataset.clusterId || null, src: drawn ? img.currentSrc || img.src : null});
}, true);
"""
BURST = "zelnuzelnu"
KEY_LABEL = {"z": "Zebra", "e": "Elephant", "l": "Lion", "n": "Nothing", "u": "Unknown"}


def test_a_burst_of_keys_labels_only_the_clusters_on_the_screen(server, demo_source,
                                                                monkeypatch):
    """Ten keys typed in about 100 ms while the server is slow (its database is locked):
    every saved label is on the cluster whose picture was on the screen when its key was
    pressed, no cluster is labelled that was not shown, and every other key was refused
    visibly. The page before the prefetch window dropped keys silently while a label was
    saving and put the next key on a cluster whose picture had not been drawn yet."""
    root, _ = demo_source
    task, annotator = ready_task(root)  # 16 clusters
    from django.db import transaction
    from playwright.sync_api import sync_playwright

    from surveys.models import Image

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    tagging = "document.getElementById('tagging')"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(KEY_WATCH)
        log_in(page, server, "clicker")
        page.goto(f"{server}/annotate/{task.pk}/")
        page.wait_for_selector("#tagging[data-cluster-id]")
        page.wait_for_function("() => document.getElementById('image').naturalWidth > 0")
        page.wait_for_timeout(1500)  # the rest of the window arrives and decodes
        # Slow the server down: its label writes wait on this transaction's lock (the
        # whole SQLite file; the task's rows on MariaDB).
        with transaction.atomic():
            ClusterAnnotation.objects.filter(task=task).update(note="")
            page.keyboard.type(BURST, delay=10)
            burst_ms = page.evaluate("performance.now()")
            shown_after = page.text_content("#message")
            page.wait_for_timeout(1000)
        page.wait_for_function(f"() => {tagging}.dataset.pending === undefined",
                               timeout=30000)
        page.wait_for_timeout(500)  # any late answer would be in the database by now
        pressed = page.evaluate("window.__pressed")
        page_log = page.evaluate("window.taggingKeys || []")
        refused = int(page.get_attribute("#tagging", "data-refused") or 0)
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    assert burst_ms and len(pressed) == len(BURST)
    cluster_of = {f"/images/{pk}/web/": cluster for pk, cluster in
                  Image.objects.filter(cluster__survey=task.survey).values_list("pk", "cluster_id")}
    on_screen = [cluster_of[urlparse(p["src"]).path] if p["src"] else None for p in pressed]
    # The page's own account of each key agrees with what the screen showed.
    assert all(p["cluster"] == (str(c) if c else None) for p, c in zip(pressed, on_screen,
                                                                       strict=True))
    labelled = sorted(
        (a.cluster_id, [lab.name for lab in a.labels.all()])
        for a in ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False))
    wanted = sorted((cluster, [KEY_LABEL[p["key"]]])
                    for p, cluster in zip(pressed, on_screen, strict=True) if cluster)
    assert labelled == wanted  # each on the cluster shown at its key; none lost, none extra
    assert refused == on_screen.count(None) >= 1  # the burst outran the server…
    assert "not applied" in shown_after  # …and the page said so
    assert [e["cluster_id"] for e in page_log] == on_screen
    assert all(a.annotator == annotator for a in
               ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False))
    # Time per cluster is the time it was on the screen: the burst's later clusters were
    # shown for milliseconds though they had been offered (queued) seconds before.
    spent = dict(ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
                 .values_list("cluster_id", "seconds_spent"))
    keyed = [cluster for cluster in on_screen if cluster]
    assert len(keyed) >= 2 and all(spent[c] < 1 for c in keyed[1:]), spent


def test_page_reconnects_and_resends_a_label_sent_while_the_server_was_down(
        daphne, demo_source, tmp_path, monkeypatch):
    """The server goes away mid-task: the page reconnects by itself and its label is kept."""
    root, _ = demo_source
    small = tmp_path / "src"
    shutil.copytree(root / "Kopje", small / "Kopje")
    task, annotator = ready_task(small)
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    tagging = "document.getElementById('tagging')"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        log_in(page, daphne.url, "clicker")
        page.goto(f"{daphne.url}/annotate/{task.pk}/")
        page.wait_for_selector("#tagging[data-cluster-id]")
        page.wait_for_function("() => document.getElementById('image').naturalWidth > 0")
        first = page.get_attribute("#tagging", "data-cluster-id")
        daphne.stop()
        page.wait_for_function(f"() => {tagging}.dataset.reconnects >= '1'")
        page.keyboard.press("e")  # labelled while the server is down
        page.wait_for_function(f"() => {tagging}.dataset.pending !== undefined")
        daphne.start()
        page.wait_for_function(f"() => {tagging}.dataset.saved === '1'", timeout=30000)
        page.wait_for_function(f"() => ({tagging}.dataset.clusterId || '{first}') !== '{first}'")
        page.wait_for_function(f"() => {tagging}.dataset.pending === undefined")
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    done = {a.cluster_id: [lab.name for lab in a.labels.all()]
            for a in ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)}
    assert done == {int(first): ["Elephant"]}


def test_admin_pages_work_under_the_content_security_policy(server, monkeypatch):
    """The admin (changelist, change form with its live progress box) meets no CSP violation."""
    org = OrganisationFactory(name="CSP Org")
    member(org, Role.ADMIN, username="boss")
    survey = SurveyFactory(organisation=org, name="Under Policy")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(CSP_WATCH)
        response = log_in(page, server, "boss", admin=True)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.goto(f"{server}/admin/surveys/survey/")
        page.wait_for_selector("text=Under Policy")
        page.goto(f"{server}/admin/surveys/survey/{survey.pk}/change/")
        # The progress box's script ran and its websocket answered.
        page.wait_for_function(
            "() => document.getElementById('survey-status').textContent.trim() === 'New'")
        page.goto(f"{server}/admin/annotation/task/add/")
        page.wait_for_selector("#task_form")
        violations = page.evaluate("window.__csp")
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    assert violations == []


XSS = '<img src=x onerror="window.__xss=1">'


@pytest.mark.hostile
def test_script_in_labels_and_names_never_runs(server, demo_source, tmp_path, monkeypatch):
    """Labels, site and file names typed by users are shown as text, on the page and the admin."""
    root, _ = demo_source
    small = tmp_path / "src"
    shutil.copytree(root / "Kopje" / "CAM01", small / "Kopje" / "CAM01")
    task, annotator = ready_task(small)
    from annotation.models import Label, Task
    from surveys.models import Site, Survey

    Label.objects.filter(task=task, name="Zebra").update(name=XSS)
    Site.objects.filter(survey=task.survey).update(name="<script>window.__xss=2</script>")
    Task.objects.filter(pk=task.pk).update(name='"><svg onload="window.__xss=3">')
    Survey.objects.filter(pk=task.survey_id).update(
        name="<iframe srcdoc='<script>parent.__xss=4</script>'>",
        description="<script>window.__xss=5</script>")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(CSP_WATCH)
        log_in(page, server, "clicker")
        home = page.inner_text("body")
        page.goto(f"{server}/annotate/{task.pk}/")
        page.wait_for_selector("#tagging[data-cluster-id]")
        page.wait_for_function("() => document.getElementById('image').naturalWidth > 0")
        shown = page.inner_text("#tagging")
        ran_on_page = page.evaluate("window.__xss")
        page.goto(f"{server}/accounts/logout/")
        page.click("button[type=submit]")
        log_in(page, server, "boss", admin=True)
        page.goto(f"{server}/admin/surveys/site/")
        admin_text = page.inner_text("#result_list")
        page.goto(f"{server}/admin/annotation/task/{task.pk}/change/")
        page.goto(f"{server}/admin/surveys/survey/{task.survey_id}/change/")
        ran_in_admin = page.evaluate("window.__xss")
        violations = page.evaluate("window.__csp")
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    assert ran_on_page is None and ran_in_admin is None
    assert XSS in shown  # the label's name, as text
    assert '"><svg onload="window.__xss=3">' in home  # the task's name, as text
    assert violations == []  # escaped, so the policy never even had to block it
    assert "<script>window.__xss=2</script>" in admin_text


def test_ai_check_with_hotkeys(server, monkeypatch):
    """At the AI-check level label keys wait: a accepts the AI, o then a label key gives other."""
    task, admin, annotator, _ = ai_check_task()
    do_launch_task(task, acting_user=admin)
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    tagging = "document.getElementById('tagging')"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.add_init_script(CSP_WATCH)
        log_in(page, server, annotator.username)
        page.goto(f"{server}/annotate/{task.pk}/")
        page.wait_for_selector("#tagging[data-cluster-id]")
        first = page.get_attribute("#tagging", "data-cluster-id")
        text = page.text_content("#check-text")
        assert page.is_visible("#check") and "the AI says" in text
        page.keyboard.press("z")  # a label key before "o": ignored
        page.wait_for_timeout(300)
        assert page.evaluate(f"{tagging}.dataset.pending") is None
        page.keyboard.press("a")
        page.wait_for_function(f"() => {tagging}.dataset.saved === '1'")
        page.wait_for_function(f"() => ({tagging}.dataset.clusterId || '{first}') !== '{first}'")
        second = page.get_attribute("#tagging", "data-cluster-id")
        page.keyboard.press("o")
        page.wait_for_function("() => document.getElementById('check-text').textContent"
                               ".startsWith('Pick')")
        page.keyboard.press("u")
        page.wait_for_function(f"() => {tagging}.dataset.finished === '1'")
        assert page.text_content("#progress").startswith("2 / 2")
        assert page.evaluate("window.__csp") == []
        browser.close()
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    answers = {a.cluster_id: (a.ai_check, sorted(lab.name for lab in a.labels.all()))
               for a in ClusterAnnotation.objects.filter(task=task).exclude(ai_check="")}
    suggested = {"zebra": "Zebra", "lion": "Lion"}
    first_cluster = Cluster.objects.get(pk=int(first))
    assert answers == {int(first): ("accepted", [suggested[first_cluster.suggestion]]),
                       int(second): ("other", ["Unknown"])}
