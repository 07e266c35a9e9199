"""The admin's static groups and masks: scoped to the user's organisations."""

import pytest

from classifiers.models import Detection, Mask, StaticGroup
from classifiers.services.masks import do_save_mask
from classifiers.services.static import do_find_static_detections
from tests.factories import CameraFactory, OrganisationFactory, member

from .static_helpers import box, images_at

pytestmark = pytest.mark.django_db

ROCK = (0.30, 0.40, 0.40, 0.52)
SQUARE = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]


def group_at(org, site_name) -> StaticGroup:
    camera = CameraFactory(site__survey__organisation=org, site__name=site_name)
    images = images_at(camera, 20, stored=True)
    Detection.objects.bulk_create(box(image, *ROCK) for image in images)
    do_find_static_detections(camera.site.survey)
    return StaticGroup.objects.get(camera=camera)


@pytest.fixture
def two_groups(client):
    mine, theirs = OrganisationFactory(), OrganisationFactory()
    client.force_login(member(mine, "write"))
    return group_at(mine, "HomeRock"), group_at(theirs, "SecretRock")


def test_the_list_shows_only_my_groups_with_crops_of_their_boxes(client, two_groups):
    own, foreign = two_groups
    page = client.get("/admin/classifiers/staticgroup/").content.decode()
    assert "HomeRock" in page and "SecretRock" not in page
    assert f"/admin/classifiers/staticgroup/{own.pk}/crop/0/" in page
    crop = client.get(f"/admin/classifiers/staticgroup/{own.pk}/crop/0/")
    assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
    assert crop.content[:2] == b"\xff\xd8"
    assert client.get(f"/admin/classifiers/staticgroup/{foreign.pk}/crop/0/").status_code == 404
    assert client.get(f"/admin/classifiers/staticgroup/{own.pk}/crop/9/").status_code == 404
    assert client.get(f"/admin/classifiers/staticgroup/{foreign.pk}/change/").status_code != 200


def test_accepting_in_the_admin_makes_the_boxes_static(client, two_groups):
    own, foreign = two_groups
    response = client.post("/admin/classifiers/staticgroup/", {
        "action": "accept", "_selected_action": [own.pk, foreign.pk]})
    assert response.status_code == 302
    own.refresh_from_db()
    foreign.refresh_from_db()
    assert own.status == "accepted" and foreign.status == "pending"
    assert set(Detection.objects.filter(static=True).values_list(
        "static_group_id", flat=True)) == {own.pk}


def test_a_reader_cannot_decide(client, two_groups):
    own, _ = two_groups
    client.force_login(member(own.camera.site.survey.organisation, "read"))
    client.post("/admin/classifiers/staticgroup/", {
        "action": "accept", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert own.status == "pending"


def test_the_mask_form_draws_on_my_cameras_only_and_names_a_bad_polygon(client):
    mine, theirs = OrganisationFactory(), OrganisationFactory()
    client.force_login(member(mine, "admin"))
    camera = CameraFactory(site__survey__organisation=mine)
    images_at(camera, 1)
    foreign = CameraFactory(site__survey__organisation=theirs, path="their/SECRET")
    images_at(foreign, 1)
    do_save_mask(Mask(camera=foreign, polygon=SQUARE, name="their mask"))

    page = client.get("/admin/classifiers/mask/add/").content.decode()
    assert "js/mask_editor.js" in page and "<script>" not in page
    assert "their/SECRET" not in page
    assert client.get("/admin/classifiers/mask/").content.decode().count("their mask") == 0
    image_url = f"/admin/classifiers/mask/camera/{camera.pk}/image/"
    assert client.get(image_url).status_code == 302
    assert client.get(f"/admin/classifiers/mask/camera/{foreign.pk}/image/").status_code == 404

    response = client.post("/admin/classifiers/mask/add/", {
        "camera": camera.pk, "name": "", "polygon": "[[0.1, 0.1], [0.2, 0.2]]"})
    assert response.status_code == 200
    assert "polygon" in response.context["adminform"].form.errors
    assert "at least 3 points" in response.content.decode()
    response = client.post("/admin/classifiers/mask/add/", {
        "camera": camera.pk, "name": "grass", "polygon": str(SQUARE)})
    assert response.status_code == 302
    assert Mask.objects.get(name="grass").polygon == SQUARE
