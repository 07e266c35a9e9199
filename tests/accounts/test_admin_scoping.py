"""An admin of organisation A can neither see nor change B's objects in the admin."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Invitation, Membership, Organisation
from accounts.scoping import OrgScopedAdminMixin
from accounts.taxonomy import Role
from annotation.models import BulkAction, ClusterAnnotation, Label, Task
from classifiers.models import Classifier, Detection, Detector, Mask, StaticGroup
from results.models import Export
from surveys.models import Camera, Cluster, Image, ImportIssue, ImportRun, Site, Survey
from tests.factories import (
    ClusterFactory,
    ImageFactory,
    LabelFactory,
    OrganisationFactory,
    SurveyFactory,
    TaskFactory,
    member,
)
from training.models import TrainingRun

# The cross-organisation matrix belongs to the standing hostile suite (make hostile).
pytestmark = [pytest.mark.django_db, pytest.mark.hostile]


def make_world(org: Organisation, tag: str) -> dict:
    """One object of every org-owned model, owned by ``org``."""
    survey = SurveyFactory(organisation=org, name=f"Survey {tag}")
    image = ImageFactory(camera__site__survey=survey, camera__site__name=f"Site {tag}")
    cluster = ClusterFactory(site=image.camera.site)
    image.cluster = cluster
    image.save()
    run = ImportRun.objects.create(survey=survey, source=f"/data/{tag}")
    task = TaskFactory(survey=survey, name=f"Task {tag}")
    owner = member(org, Role.ADMIN, username=f"owner-{tag}")
    return {
        Survey: survey,
        Site: image.camera.site,
        Camera: image.camera,
        Image: image,
        Cluster: cluster,
        ImportRun: run,
        ImportIssue: ImportIssue.objects.create(import_run=run, path="x.jpg", reason="bad"),
        Classifier: Classifier.objects.create(organisation=org, name=f"Classifier {tag}",
                                              model_key="x.keras", classes=["a"]),
        Detector: Detector.objects.create(organisation=org, name=f"Detector {tag}",
                                          model_key="x.keras", input_size=64,
                                          category_map={"0": 1}),
        Detection: Detection.objects.create(image=image, left=0, top=0, right=1, bottom=1,
                                            score=0.9, source="whole"),
        StaticGroup: StaticGroup.objects.create(camera=image.camera, left=0.1, top=0.1,
                                                right=0.2, bottom=0.2, image_count=20),
        Mask: Mask.objects.create(camera=image.camera, polygon=[[0, 0], [1, 0], [0, 1]]),
        Task: task,
        Label: LabelFactory(task=task, name=f"Label {tag}"),
        ClusterAnnotation: ClusterAnnotation.objects.create(task=task, cluster=cluster),
        BulkAction: BulkAction.objects.create(task=task, kind="relabel",
                                              description=f"Bulk {tag}"),
        Membership: Membership.objects.get(user=owner),
        Invitation: Invitation.objects.create(organisation=org, username=f"guest-{tag}"),
        Export: Export.objects.create(survey=survey, kind="coco"),
        TrainingRun: TrainingRun.objects.create(organisation=org, name=f"Run {tag}"),
        Organisation: org,
    }


@pytest.fixture
def worlds(client):
    org_a, org_b = OrganisationFactory(name="Org A"), OrganisationFactory(name="Org B")
    a, b = make_world(org_a, "A"), make_world(org_b, "B")
    admin_a = member(org_a, Role.ADMIN, username="admin-a")
    client.force_login(admin_a)
    return a, b


def scoped_models():
    return [m for m, ma in admin.site._registry.items() if isinstance(ma, OrgScopedAdminMixin)]


def test_every_org_owned_model_is_covered():
    covered = set(scoped_models())
    assert {Survey, Site, Camera, Image, Cluster, ImportRun, Classifier, Detector, Detection,
            Task, ClusterAnnotation, Membership, Invitation, Organisation, Export, StaticGroup,
            Mask, TrainingRun, BulkAction} <= covered


def _url(model, view, *args):
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", scoped_models(), ids=lambda m: m.__name__)
def test_changelist_shows_only_own_objects(worlds, client, model):
    a, b = worlds
    response = client.get(_url(model, "changelist"))
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].queryset}
    assert a[model].pk in shown
    assert b[model].pk not in shown


@pytest.mark.parametrize("model", scoped_models(), ids=lambda m: m.__name__)
def test_change_and_delete_pages_of_other_org_are_closed(worlds, client, model):
    a, b = worlds
    own = client.get(_url(model, "change", a[model].pk))
    assert own.status_code == 200
    for view in ("change", "delete", "history"):
        response = client.get(_url(model, view, b[model].pk), follow=True)
        body = response.content.decode()
        assert str(b[model]) not in body or "doesn’t exist" in body, (view, model)
        if view == "delete":
            assert "Are you sure" not in body
    client.post(_url(model, "delete", b[model].pk), {"post": "yes"})
    assert model.objects.filter(pk=b[model].pk).exists()


@pytest.mark.parametrize("model", scoped_models(), ids=lambda m: m.__name__)
def test_bulk_delete_action_ignores_other_org_ids(worlds, client, model):
    a, b = worlds
    client.post(_url(model, "changelist"), {
        "action": "delete_selected", "_selected_action": [b[model].pk], "post": "yes",
    })
    assert model.objects.filter(pk=b[model].pk).exists()


def test_launch_action_ignores_other_org_tasks(worlds, client):
    a, b = worlds
    client.post(_url(Task, "changelist"), {"action": "launch", "_selected_action": [b[Task].pk]})
    b[Task].refresh_from_db()
    assert b[Task].status == "draft"


def test_autocomplete_offers_only_own_surveys(worlds, client):
    a, b = worlds
    response = client.get(reverse("admin:autocomplete"), {
        "app_label": "annotation", "model_name": "task", "field_name": "survey", "term": "Survey",
    })
    assert response.status_code == 200
    ids = {int(r["id"]) for r in response.json()["results"]}
    assert ids == {a[Survey].pk}


def test_foreign_key_choices_exclude_other_org(worlds, client):
    a, b = worlds
    response = client.get(_url(Site, "add"))
    choices = {c[0].value for c in response.context["adminform"].form.fields["survey"].choices
               if c[0]}
    assert choices == {a[Survey].pk}
    # And a forged POST naming B's survey is refused by the form.
    response = client.post(_url(Site, "add"), {"survey": b[Survey].pk, "name": "Sneaky"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Site.objects.filter(name="Sneaky").exists()


def test_cannot_create_survey_in_other_org(worlds, client):
    a, b = worlds
    response = client.post(_url(Survey, "add"), {
        "organisation": b[Organisation].pk, "name": "Planted", "site_regex": "^[^/]+",
        "trigger_source": "motion", "survey_type": "trails", "timezone": "UTC",
        "detector": "motion", "sites-TOTAL_FORMS": 0, "sites-INITIAL_FORMS": 0,
    })
    assert response.status_code == 200
    assert not Survey.objects.filter(name="Planted").exists()


def test_annotator_cannot_use_the_admin(worlds, client):
    a, b = worlds
    annotator = member(a[Organisation], Role.ANNOTATOR, username="tagger")
    client.force_login(annotator)
    response = client.get(_url(Survey, "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_read_role_sees_but_cannot_change(worlds, client):
    a, b = worlds
    reader = member(a[Organisation], Role.READ, username="reader")
    client.force_login(reader)
    assert client.get(_url(Survey, "changelist")).status_code == 200
    client.post(_url(Survey, "change", a[Survey].pk), {"name": "Renamed"})
    a[Survey].refresh_from_db()
    assert a[Survey].name == "Survey A"


def test_shared_classifiers_are_visible_but_not_editable(worlds, client):
    shared = Classifier.objects.create(name="Public", model_key="p.keras", classes=["x"])
    response = client.get(_url(Classifier, "changelist"))
    assert shared.pk in {obj.pk for obj in response.context["cl"].queryset}
    client.post(_url(Classifier, "delete", shared.pk), {"post": "yes"})
    assert Classifier.objects.filter(pk=shared.pk).exists()


def test_shared_detectors_are_offered_but_not_editable_nor_another_orgs(worlds, client):
    a, b = worlds
    shared = Detector.objects.create(name="Public", model_key="p.keras", input_size=64,
                                     category_map={"0": 1})
    client.post(_url(Detector, "delete", shared.pk), {"post": "yes"})
    assert Detector.objects.filter(pk=shared.pk).exists()
    form = client.get(_url(Survey, "change", a[Survey].pk)).context["adminform"].form
    offered = {c[0].value for c in form.fields["registered_detector"].choices if c[0]}
    assert offered == {a[Detector].pk, shared.pk}
    # A forged POST naming B's detector is refused by the form.
    data = {"organisation": a[Organisation].pk, "name": "Survey A", "site_regex": "^[^/]+",
            "timezone": "UTC", "detector": "motion", "registered_detector": b[Detector].pk,
            "ignore_top_strip": 0, "static_min_count": 20, "static_iou": 0.9,
            "static_max_area": 0.2, "sites-TOTAL_FORMS": 0, "sites-INITIAL_FORMS": 0}
    response = client.post(_url(Survey, "change", a[Survey].pk), data)
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["registered_detector"] and "valid choice" in str(errors)
    a[Survey].refresh_from_db()
    assert a[Survey].registered_detector is None


def test_user_and_enquiry_admins_are_superuser_only(worlds, client):
    response = client.get(reverse("admin:accounts_user_changelist"))
    assert response.status_code == 403
    response = client.get(reverse("admin:accounts_enquiry_changelist"))
    assert response.status_code == 403


def test_list_filters_name_only_own_organisations(worlds, client):
    a, b = worlds
    for model in (Survey, Task, Membership):
        body = client.get(_url(model, "changelist")).content.decode()
        assert "Org B" not in body and "Survey B" not in body, model


def test_storage_keys_cannot_be_edited_by_org_admins(worlds, client):
    a, b = worlds
    image = a[Image]
    client.post(_url(Image, "change", image.pk), {"key": b[Image].key, "cluster": ""})
    image.refresh_from_db()
    assert image.key != b[Image].key
    form = client.get(_url(Classifier, "change", a[Classifier].pk)).context["adminform"].form
    assert "model_key" not in form.fields


def test_org_admin_cannot_publish_a_shared_classifier(worlds, client):
    client.post(_url(Classifier, "add"), {"name": "Everyone's", "description": "",
                                          "threshold": 0.5})
    assert not Classifier.objects.filter(name="Everyone's").exists()


def test_org_admin_can_withdraw_an_invitation(worlds, client):
    a, b = worlds
    client.post(_url(Invitation, "delete", a[Invitation].pk), {"post": "yes"})
    assert not Invitation.objects.filter(pk=a[Invitation].pk).exists()
