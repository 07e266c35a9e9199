"""Static detections: recurring boxes found per camera, decided by people, remembered."""

import json
import random

import pytest
from django.core.management import call_command

from classifiers.geometry import iou
from classifiers.models import Detection, StaticGroup
from classifiers.selectors import classification_counts, relevant_detections
from classifiers.services.grouping import AllLeaders, group_boxes
from classifiers.services.static import (
    do_accept_static_group,
    do_decide_static_groups,
    do_find_static_detections,
    do_reject_static_group,
)
from classifiers.tasks import find_static_detections_task
from core.exceptions import AccessDenied
from surveys.models import Survey
from surveys.taxonomy import SurveyStatus
from tests.factories import (
    CameraFactory,
    ClusterFactory,
    OrganisationFactory,
    SurveyFactory,
    member,
)

from .static_helpers import box, images_at, jittered, random_boxes

pytestmark = pytest.mark.django_db

ROCK = (0.30, 0.40, 0.40, 0.52)


@pytest.fixture
def camera():
    return CameraFactory(site__name="Waterhole", path="Waterhole/CAM1")


def test_a_recurring_box_among_random_ones_is_found(camera):
    rng = random.Random(1)
    images = images_at(camera, 60)
    rock = jittered(images[:25], ROCK, rng=rng)
    random_boxes(images, 2, rng=rng)
    counts = do_find_static_detections(camera.site.survey)
    group = StaticGroup.objects.get()
    assert counts["pending_groups"] == 1
    assert group.image_count == 25 and group.status == "pending"
    assert set(group.detections.values_list("id", flat=True)) == {d.pk for d in rock}
    assert iou(group.box, ROCK) > 0.95
    # Pending groups still count: only accepting makes boxes static.
    assert not Detection.objects.filter(static=True).exists()


def test_a_near_miss_is_not_grouped_with_the_box():
    a = ROCK
    b = (0.31, 0.40, 0.41, 0.52)  # shifted a tenth of its width: IoU 0.82
    assert 0.8 < iou(a, b) < 0.9
    found = group_boxes([a, b] * 15, iou_min=0.9, max_area=0.2)
    assert sorted(len(members) for _, members in found) == [15, 15]


def test_near_misses_below_the_minimum_each_make_no_group(camera):
    images = images_at(camera, 30)
    Detection.objects.bulk_create(
        box(image, *(ROCK if n % 2 else (0.31, 0.40, 0.41, 0.52)))
        for n, image in enumerate(images))
    assert do_find_static_detections(camera.site.survey)["pending_groups"] == 0
    assert not StaticGroup.objects.exists()


def test_big_boxes_are_never_static_unless_the_survey_allows(camera):
    images = images_at(camera, 25)
    big = (0.1, 0.1, 0.6, 0.6)  # area 0.25 > 0.2
    Detection.objects.bulk_create(box(image, *big) for image in images)
    survey = camera.site.survey
    assert do_find_static_detections(survey)["pending_groups"] == 0
    Survey.objects.filter(pk=survey.pk).update(static_max_area=0.3)
    camera.site.survey.refresh_from_db()
    assert do_find_static_detections(camera.site.survey)["pending_groups"] == 1


def test_fewer_images_than_the_minimum_make_no_group_however_many_boxes(camera):
    images = images_at(camera, 19)
    Detection.objects.bulk_create(box(image, *ROCK) for image in images * 2)  # 38 boxes
    survey = camera.site.survey
    assert do_find_static_detections(survey)["pending_groups"] == 0
    Survey.objects.filter(pk=survey.pk).update(static_min_count=19)
    survey.refresh_from_db()
    do_find_static_detections(survey)
    assert StaticGroup.objects.get().image_count == 19


def test_grouping_with_the_index_matches_comparing_with_every_leader():
    rng = random.Random(7)
    boxes = []
    for _ in range(1500):
        w, h = rng.uniform(0.01, 0.4), rng.uniform(0.01, 0.4)
        left, top = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        boxes.append((left, top, left + w, top + h))
    for _ in range(300):
        boxes.append(tuple(v + rng.uniform(-0.003, 0.003) for v in ROCK))
    rng.shuffle(boxes)
    indexed = sorted(m for _, m in group_boxes(boxes, iou_min=0.9, max_area=0.2))
    naive = sorted(m for _, m in group_boxes(boxes, iou_min=0.9, max_area=0.2, index=AllLeaders))
    assert indexed == naive
    assert max(len(m) for m in indexed) >= 290


def test_accepting_stops_boxes_counting_and_rejecting_brings_them_back(camera):
    survey = camera.site.survey
    cluster = ClusterFactory(site=camera.site, survey=survey)
    images = images_at(camera, 22)
    Detection.objects.bulk_create(box(image, *ROCK) for image in images)
    Detection.objects.bulk_create([box(images[0], 0.6, 0.6, 0.7, 0.7)])  # an animal
    type(images[0]).objects.filter(camera=camera).update(cluster=cluster)
    do_find_static_detections(survey)
    group = StaticGroup.objects.get()
    assert relevant_detections(survey).count() == 23

    do_accept_static_group(group)
    group.refresh_from_db()
    assert group.status == "accepted" and group.decided_at is not None
    assert relevant_detections(survey).count() == 1
    assert classification_counts(survey)["relevant_animal_boxes"] == 1
    assert Detection.objects.filter(static=True).count() == 22

    do_reject_static_group(group)
    assert relevant_detections(survey).count() == 23
    assert not Detection.objects.filter(static=True).exists()


def test_deciding_needs_change_on_every_group(camera):
    images = images_at(camera, 20)
    Detection.objects.bulk_create(box(image, *ROCK) for image in images)
    do_find_static_detections(camera.site.survey)
    group = StaticGroup.objects.get()
    reader = member(camera.site.survey.organisation, "read")
    with pytest.raises(AccessDenied):
        do_decide_static_groups([group.pk], "accepted", acting_user=reader)
    assert StaticGroup.objects.get().status == "pending"
    assert not Detection.objects.filter(static=True).exists()


def test_a_rerun_changes_nothing_and_new_boxes_join_a_decided_group(camera):
    images = images_at(camera, 30)
    Detection.objects.bulk_create(box(image, *ROCK) for image in images[:25])
    survey = camera.site.survey
    do_find_static_detections(survey)
    first = list(StaticGroup.objects.values_list("image_count", "status", "left"))
    do_find_static_detections(survey)
    assert list(StaticGroup.objects.values_list("image_count", "status", "left")) == first

    group = StaticGroup.objects.get()
    do_accept_static_group(group)
    late = Detection.objects.bulk_create(box(image, *ROCK) for image in images[25:])
    counts = do_find_static_detections(survey)
    group.refresh_from_db()
    assert counts["joined_boxes"] == 5 and group.image_count == 30
    assert Detection.objects.filter(pk__in=[d.pk for d in late], static=True).count() == 5
    assert StaticGroup.objects.count() == 1


def _camera_in_new_survey(camera, organisation=None):
    survey = SurveyFactory(organisation=organisation or camera.site.survey.organisation)
    return CameraFactory(site__survey=survey, site__name=camera.site.name, path=camera.path)


def test_a_decision_is_remembered_at_the_same_camera_in_a_later_survey(camera):
    rng = random.Random(3)
    Detection.objects.bulk_create(box(image, *ROCK) for image in images_at(camera, 20))
    do_find_static_detections(camera.site.survey)
    earlier = StaticGroup.objects.get()
    do_accept_static_group(earlier)

    later = _camera_in_new_survey(camera)
    boxes = jittered(images_at(later, 24), ROCK, rng=rng)
    counts = do_find_static_detections(later.site.survey)
    remembered = StaticGroup.objects.get(camera=later)
    assert counts == {**counts, "remembered_groups": 1, "pending_groups": 0}
    assert remembered.status == "accepted" and remembered.remembered_from == earlier
    assert Detection.objects.filter(pk__in=[d.pk for d in boxes], static=True).count() == 24

    # Another organisation's camera of the same names learns nothing from it.
    elsewhere = _camera_in_new_survey(camera, OrganisationFactory())
    Detection.objects.bulk_create(box(image, *ROCK) for image in images_at(elsewhere, 20))
    do_find_static_detections(elsewhere.site.survey)
    assert StaticGroup.objects.get(camera=elsewhere).status == "pending"


def test_a_rejection_is_remembered_too(camera):
    Detection.objects.bulk_create(box(image, *ROCK) for image in images_at(camera, 20))
    do_find_static_detections(camera.site.survey)
    do_reject_static_group(StaticGroup.objects.get())
    later = _camera_in_new_survey(camera)
    Detection.objects.bulk_create(box(image, *ROCK) for image in images_at(later, 20))
    do_find_static_detections(later.site.survey)
    assert StaticGroup.objects.get(camera=later).status == "rejected"
    assert not Detection.objects.filter(static=True).exists()


def test_the_pipeline_stage_finds_groups_and_moves_on_once(camera):
    survey = camera.site.survey
    Detection.objects.bulk_create(box(image, *ROCK) for image in images_at(camera, 20))
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.STATIC)
    assert find_static_detections_task(survey.pk) is True
    assert find_static_detections_task(survey.pk) is False  # a second delivery: nothing
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.READY  # no classifier: classification is skipped
    assert StaticGroup.objects.filter(camera=camera).count() == 1


def test_the_command_prints_counts(camera, capsys):
    Detection.objects.bulk_create(box(image, *ROCK) for image in images_at(camera, 20))
    call_command("find_static_detections", survey=camera.site.survey.name, json=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed["pending_groups"] == 1 and printed["static_boxes"] == 0
