import pytest

from tests.annotation.helpers import annotator_for, launched_task
from tests.factories import OrganisationFactory, member

pytestmark = pytest.mark.django_db
XSS = "<script>alert('x')</script>"


def test_home_lists_annotatable_tasks_with_progress(client):
    task = launched_task(3)
    client.force_login(annotator_for(task))
    body = client.get("/").content.decode()
    assert task.name in body and "0 / 3" in body
    assert f"/annotate/{task.pk}/" in body


def test_tagging_page_is_for_members_only(client):
    task = launched_task(1)
    assert client.get(f"/annotate/{task.pk}/").status_code == 302
    client.force_login(member(OrganisationFactory(), "annotator"))
    assert client.get(f"/annotate/{task.pk}/").status_code == 404
    client.force_login(annotator_for(task))
    assert client.get(f"/annotate/{task.pk}/").status_code == 200


def test_label_names_are_escaped_on_the_tagging_page(client):
    task = launched_task(1, labels=((XSS, "x"),))
    client.force_login(annotator_for(task))
    body = client.get(f"/annotate/{task.pk}/").content.decode()
    assert XSS not in body
    assert "&lt;script&gt;" in body  # the button text
    assert "\\u003Cscript\\u003E" in body  # the JSON for the script


def test_enquiry_page_renders(client):
    assert "Organisation name" in client.get("/enquiry/").content.decode()
