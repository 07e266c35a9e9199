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


def _task_form(survey, labels):
    data = {"survey": survey.pk, "name": "Birds", "tagging_level": "species", "batch_size": 200,
            "auto_label": "off", "label_people_vehicles": "on",
            "labels-TOTAL_FORMS": len(labels), "labels-INITIAL_FORMS": 0}
    for i, (name, key) in enumerate(labels):
        data[f"labels-{i}-name"] = name
        data[f"labels-{i}-hotkey"] = key
    return data


def test_admin_creates_task_with_labels_and_refuses_bad_hotkeys(client):
    from annotation.models import Task
    from tests.factories import SurveyFactory

    org = OrganisationFactory()
    client.force_login(member(org, "admin"))
    survey = SurveyFactory(organisation=org)
    url = "/admin/annotation/task/add/"
    response = client.post(url, _task_form(survey, [("Owl", "n")]))
    assert "reserved" in response.content.decode()
    response = client.post(url, _task_form(survey, [("Owl", "o"), ("Oriole", "O")]))
    assert "share the hotkey" in response.content.decode()
    assert not Task.objects.exists()
    response = client.post(url, _task_form(survey, [("Owl", "o"), ("Hawk", "h")]))
    assert response.status_code == 302
    task = Task.objects.get()
    assert sorted(task.labels.values_list("name", "hotkey")) == [("Hawk", "h"), ("Owl", "o")]


def test_label_row_without_name_is_a_form_error_not_a_crash(client):
    from tests.factories import SurveyFactory

    org = OrganisationFactory()
    client.force_login(member(org, "admin"))
    survey = SurveyFactory(organisation=org)
    response = client.post("/admin/annotation/task/add/",
                           _task_form(survey, [("", "o"), ("Owl", "o")]))
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
