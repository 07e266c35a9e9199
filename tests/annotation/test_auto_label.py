"""Translations from classifier classes to labels, auto-labelling at launch, best image first."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.taxonomy import Role
from annotation.exceptions import NotAllowed
from annotation.models import ClusterAnnotation, Label, Translation
from annotation.selectors import cluster_payload
from annotation.services.auto_label import (
    do_auto_label,
    do_match_translations,
    do_save_translations,
    qualifies,
)
from annotation.services.leases import claim_next_cluster
from annotation.services.task_setup import do_create_task, do_launch_task
from annotation.taxonomy import AutoLabelRule
from classifiers.models import Classifier, Detection
from classifiers.services.classification import do_classify_survey
from classifiers.taxonomy import Category
from surveys.models import Survey
from surveys.taxonomy import SurveyStatus
from tests.annotation.helpers import annotator_for
from tests.classifiers.test_inference import colour_survey  # noqa: F401 (fixture)
from tests.factories import (
    ClusterFactory,
    ImageFactory,
    SiteFactory,
    SurveyFactory,
    TaskFactory,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rule, count, ratio, expected", [
    (AutoLabelRule.STANDARD, 1, 0.51, True),
    (AutoLabelRule.STANDARD, 1, 0.5, False),    # over half, not half
    (AutoLabelRule.STANDARD, 0, 1.0, False),
    (AutoLabelRule.STANDARD, 5, 0.3, False),
    (AutoLabelRule.OPEN, 5, 0.26, True),        # plains and waterholes
    (AutoLabelRule.OPEN, 4, 0.3, False),
    (AutoLabelRule.OPEN, 5, 0.25, False),
    (AutoLabelRule.OPEN, 1, 0.6, True),
    (AutoLabelRule.OFF, 9, 1.0, False),
])
def test_auto_label_rules(rule, count, ratio, expected):
    assert qualifies(rule, count, ratio) is expected


@pytest.fixture
def classified(colour_survey):  # noqa: F811
    survey, classifier, truth = colour_survey
    do_classify_survey(survey)
    Survey.objects.filter(pk=survey.pk).update(status=SurveyStatus.READY)
    survey.refresh_from_db()
    admin = member(survey.organisation, Role.ADMIN)
    task = do_create_task(survey, name="Colours", labels=[("RED", "r"), ("Green", "g")],
                          acting_user=admin)
    return task, admin, truth


def test_translations_are_made_by_name_ignoring_case(classified):
    task, admin, _ = classified
    got = {t.classification: t.label.name if t.label else None
           for t in Translation.objects.filter(task=task)}
    assert got == {"red": "RED", "green": "Green", "blue": None}
    assert do_match_translations(task, acting_user=admin) == 0  # kept, not made again


def test_launch_labels_what_the_ai_is_sure_of(classified):
    task, admin, truth = classified
    task.auto_label = AutoLabelRule.STANDARD
    task.save()
    Translation.objects.filter(task=task, classification="red").update(auto_label=True)
    do_launch_task(task, acting_user=admin)
    auto = ClusterAnnotation.objects.filter(task=task, auto_labelled=True)
    red_clusters = set(Detection.objects.filter(pk__in=[pk for pk, c in truth.items()
                                                        if c == "red"]).values_list(
        "image__cluster_id", flat=True))
    assert set(auto.values_list("cluster_id", flat=True)) == red_clusters
    assert set(auto.values_list("labels__name", flat=True)) == {"RED"}
    assert all(a.labelled_at and a.annotator is None for a in auto)
    # Green is translated but not auto-labelled; blue has no label: both left to people.
    assert ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=True).count() == 8
    # Nobody is offered an auto-labelled cluster; running again labels nothing more.
    annotator = annotator_for(task)
    offered = {claim_next_cluster(task, annotator).cluster_id for _ in range(8)}
    assert not offered & red_clusters
    assert do_auto_label(task, acting_user=admin).species == 0


def test_a_leased_cluster_is_not_auto_labelled(classified):
    task, admin, _ = classified
    do_launch_task(task, acting_user=admin)  # auto-label off: nothing labelled
    assert not ClusterAnnotation.objects.filter(task=task, auto_labelled=True).exists()
    held = claim_next_cluster(task, annotator_for(task))
    Translation.objects.filter(task=task).exclude(label=None).update(auto_label=True)
    task.auto_label = AutoLabelRule.STANDARD
    task.save()
    done = do_auto_label(task, acting_user=admin)
    assert done.species == 7  # eight red or green clusters, one of them leased
    held.refresh_from_db()
    assert held.labelled_at is None and not held.auto_labelled


def test_people_and_vehicles_and_ratios():
    survey = SurveyFactory(status=SurveyStatus.READY)
    survey.classifier = Classifier.objects.create(name="c", classes=["Zebra"], threshold=0.5)
    survey.save()
    site = SiteFactory(survey=survey)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)

    def cluster(*boxes):
        made = ClusterFactory(site=site, start=t0 + timedelta(hours=len(boxes)))
        image = ImageFactory(camera__site=site, cluster=made)
        for n, (category, label) in enumerate(boxes):
            Detection.objects.create(
                image=image, left=0.1 * n, top=0.1, right=0.1 * n + 0.3, bottom=0.5,
                score=0.9, source="user", category=category, classification=label,
                classification_score=0.9 if label else None,
                classified_by=survey.classifier if label else None)
        return made.pk

    people = cluster((Category.PERSON, ""), (Category.VEHICLE, ""), (Category.ANIMAL, "Zebra"))
    half = cluster((Category.PERSON, ""), (Category.ANIMAL, "Zebra"))
    third = cluster((Category.ANIMAL, "Zebra"), (Category.ANIMAL, ""), (Category.ANIMAL, ""))
    admin = member(survey.organisation, Role.ADMIN)
    task = do_create_task(survey, name="T", labels=[("zebra", "z")], acting_user=admin)
    task.auto_label = AutoLabelRule.STANDARD
    task.save()
    Translation.objects.filter(task=task).update(auto_label=True)
    do_launch_task(task, acting_user=admin)
    labels = {a.cluster_id: [label.name for label in a.labels.all()]
              for a in ClusterAnnotation.objects.filter(task=task)}
    assert labels[people] == ["Vehicles/Humans/Livestock"]
    assert labels[half] == []   # a person and a zebra: one zebra vote is half, not over half
    assert labels[third] == []  # one vote in three boxes


def test_translations_only_give_the_tasks_own_labels(classified):
    task, admin, _ = classified
    other = do_create_task(task.survey, name="Other", labels=[("Blue", "b")], acting_user=admin)
    translation = Translation.objects.get(task=task, classification="blue")
    translation.label = Label.objects.get(task=other)
    with pytest.raises(NotAllowed):
        do_save_translations(task, [translation], acting_user=admin)
    translation.label = Label.objects.get(task=task, name="Green")
    do_save_translations(task, [translation], acting_user=admin)
    assert Translation.objects.get(pk=translation.pk).label.name == "Green"


def test_best_image_first():
    survey = SurveyFactory(status=SurveyStatus.READY)
    site = SiteFactory(survey=survey)
    cluster = ClusterFactory(site=site)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    names = {}
    for n, box in enumerate([None, (0.0, 0.0, 0.1, 0.1), (0.3, 0.3, 0.7, 0.7),
                             (0.0, 0.5, 0.4, 0.95)]):
        image = ImageFactory(camera__site=site, cluster=cluster, filename=f"{n}.JPG",
                             corrected_timestamp=t0 + timedelta(seconds=n))
        if box:
            Detection.objects.create(image=image, left=box[0], top=box[1], right=box[2],
                                     bottom=box[3], score=0.9, source="user",
                                     classification="Zebra" if n == 2 else "")
        names[n] = image.filename
    annotation = ClusterAnnotation(cluster=cluster, task=TaskFactory(survey=survey))
    order = [image["filename"] for image in cluster_payload(annotation)["images"]]
    # Big, centred, classified; then big off-centre; then the small corner box; then none.
    assert order == ["2.JPG", "3.JPG", "1.JPG", "0.JPG"]
