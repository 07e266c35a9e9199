"""Every admin page has a help panel linking into the guide, and the guide is served."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.html import escape

from core.help import ADMIN_HELP, _render, readme, section_anchor
from tests.factories import OrganisationFactory, member

PROJECT_APPS = {"accounts", "surveys", "classifiers", "annotation", "training", "results",
                "insights", "core", "demo"}


def project_admins():
    return [model for model in admin.site._registry
            if model._meta.app_label in PROJECT_APPS]


def test_every_admin_page_of_the_project_has_a_help_panel():
    keys = {f"{m._meta.app_label}.{m._meta.model_name}" for m in project_admins()}
    assert len(keys) >= 20
    assert keys - set(ADMIN_HELP) == set(), "admin pages without help (core/help.py)"
    assert set(ADMIN_HELP) - keys - {"index"} == set(), "help for pages that do not exist"


def test_every_panel_links_to_a_section_the_guide_has():
    _, anchors = readme()
    for key, panel in ADMIN_HELP.items():
        assert section_anchor(panel.section) in anchors, (key, panel.section)
        assert panel.purpose.strip() and panel.next_step.strip()


@pytest.mark.django_db
def test_admin_pages_show_their_panel_and_the_link_works(client):
    organisation = OrganisationFactory()
    client.force_login(member(organisation))
    index = client.get(reverse("admin:index")).content.decode()
    assert escape(ADMIN_HELP["index"].purpose) in index
    shown = 0
    for model in project_admins():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        if response.status_code != 200:  # a page this admin may not see (site staff only)
            continue
        page = response.content.decode()
        panel = ADMIN_HELP[f"{model._meta.app_label}.{model._meta.model_name}"]
        assert 'class="help-panel"' in page, url
        assert f'href="/help/#{section_anchor(panel.section)}"' in page, url
        shown += 1
    assert shown >= 15
    guide = client.get("/help/").content.decode()
    for panel in ADMIN_HELP.values():
        assert f'id="{section_anchor(panel.section)}"' in guide


@pytest.mark.django_db
def test_the_guide_needs_a_log_in(client):
    response = client.get("/help/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.hostile
def test_raw_html_in_the_guide_is_shown_as_text(tmp_path):
    source = tmp_path / "README.md"
    source.write_text("# Guide\n\n<script>alert(1)</script>\n\nText <img src=x onerror=alert(2)>\n")
    html, anchors = _render(str(source), 1.0)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and anchors == ("guide",)
    assert re.search(r'<h1 id="guide">', html)
