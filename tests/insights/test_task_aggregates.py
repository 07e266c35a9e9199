"""A task's annotation and classifier insights against small cases computed by hand."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from accounts.taxonomy import Role
from classifiers.models import Classifier
from insights.services.classifier_aggregates import (
    CURVE_THRESHOLDS,
    AtLeast,
    answer,
    classifier_insights,
)
from insights.services.classifier_plots import confusion_table, metrics_table
from insights.services.task_aggregates import (
    NO_ANNOTATOR,
    cumulative,
    median_of_counts,
    per_hour,
    task_insights,
)
from insights.services.task_plots import annotators_table, progress_table
from tests.factories import member
from tests.insights.helpers import SurveyBuilder

DAY = datetime(2024, 5, 2, tzinfo=UTC)


def at(hour, minute=0):
    return DAY + timedelta(hours=hour, minutes=minute)


# --- pure helpers --------------------------------------------------------------------
def test_median_of_counts_takes_the_middle_value_or_the_mean_of_the_middle_two():
    assert median_of_counts({5.0: 3}) == 5.0
    assert median_of_counts({1.0: 1, 3.0: 2, 10.0: 1}) == 3.0  # 1, 3, 3, 10
    assert median_of_counts({1.0: 1, 2.0: 1}) == 1.5
    assert median_of_counts({40.0: 1, 12.0: 1, 20.0: 1}) == 20.0  # order of keys ignored
    assert median_of_counts({2.0: 1, 8.0: 3}) == 8.0  # 2, 8, 8, 8
    assert median_of_counts({}) is None


def test_clusters_per_hour_is_per_measured_hour():
    assert per_hour(3, 72.0) == 150.0
    assert per_hour(1, 7200.0) == 0.5
    assert per_hour(0, 0.0) is None


def test_cumulative_progress():
    assert cumulative([(at(9), 1), (at(10), 3), (at(12), 2)]) == [
        (at(9), 1, 1), (at(10), 3, 4), (at(12), 2, 6)]


def test_answer_keeps_a_suggestion_scoring_at_least_the_threshold():
    assert answer("Zebra", 0.5, 0.5) == "Zebra"  # equal: kept
    assert answer("Zebra", 0.4999, 0.5) == ""
    assert answer("Zebra", None, 0.0) == "Zebra"  # no score counts as 0
    assert answer("Zebra", None, 0.01) == ""
    assert answer("", 0.9, 0.0) == ""


def test_at_least_counts_scores_over_a_threshold():
    count = AtLeast(Counter({0.2: 2, 0.5: 1, 0.9: 3}))
    assert [count(t) for t in (0.0, 0.2, 0.21, 0.5, 0.9, 0.95)] == [6, 6, 4, 4, 3, 0]
    assert AtLeast(Counter())(0.0) == 0


# --- annotation: from the database ---------------------------------------------------
@pytest.fixture
def annotated(db):
    """Seven clusters in the task: alice labels three, bob two, an import one; one is open."""
    b = SurveyBuilder()
    alice = member(b.survey.organisation, Role.ANNOTATOR, username="alice")
    bob = member(b.survey.organisation, Role.ANNOTATOR, username="bob")
    c = [b.cluster("A", at(0, n), None, suggestion=s)
         for n, s in enumerate(["Zebra", "Zebra", "", "zebra", "Lion", "Lion", "Zebra"])]
    b.label(c[0], "Zebra", by=alice, at=at(10, 5), seconds=12.0)    # agrees
    b.label(c[1], "Lion", by=alice, at=at(10, 40), seconds=20.04)   # disagrees
    b.label(c[2], "Zebra", by=alice, at=at(11, 10), seconds=40.0)   # no suggestion
    b.label(c[3], "Zebra", by=bob, at=at(10, 20), seconds=10.0)     # agrees, case aside
    b.label(c[4], "Zebra", "Lion", by=bob, at=at(12, 30))           # one of two: agrees
    b.label(c[5], "Nothing", at=at(9, 0))                           # imported, no annotator
    b.label(c[6])                                                   # not labelled yet
    return b


def test_task_insights_progress_and_hours(annotated):
    ins = task_insights(annotated.task)
    assert (ins.total, ins.labelled) == (7, 6)
    assert ins.hourly == [(at(9), 1), (at(10), 3), (at(11), 1), (at(12), 1)]
    assert [done for _h, _n, done in ins.progress] == [1, 4, 5, 6]
    _cols, rows = progress_table(ins)
    assert rows[1] == ("2024-05-02T10:00:00+00:00", 3, 4, 7)


def test_utc_hour_buckets_as_django_truncates(db):
    """UTCHour (strftime on SQLite, TruncHour elsewhere) agrees with TruncHour at the
    edges of hours and days, fractions of a second included."""
    from django.db.models import Count
    from django.db.models.functions import TruncHour

    from annotation.models import ClusterAnnotation
    from insights.services.task_aggregates import UTCHour

    b = SurveyBuilder()
    edges = [at(10, 59) + timedelta(seconds=59, microseconds=999999), at(11), at(11, 0.5),
             at(23, 59) + timedelta(seconds=59.5), at(24)]
    for n, when in enumerate(edges):
        b.label(b.cluster("A", at(0, n), None), "Zebra", at=when)
    labelled = ClusterAnnotation.objects.filter(task=b.task).order_by()

    def buckets(hour):
        return list(labelled.annotate(hour=hour).values_list("hour").annotate(n=Count("id"))
                    .order_by("hour"))

    assert buckets(UTCHour("labelled_at")) == buckets(TruncHour("labelled_at", tzinfo=UTC))
    assert buckets(UTCHour("labelled_at")) == [(at(10), 1), (at(11), 2), (at(23), 1),
                                               (at(24), 1)]


def test_task_insights_throughput_and_agreement_per_annotator(annotated):
    by_name = {r.name: r for r in task_insights(annotated.task).annotators}
    alice, bob, imported = by_name["alice"], by_name["bob"], by_name[NO_ANNOTATOR]
    assert (alice.clusters, alice.measured) == (3, 3)
    # 12 + 20.04 + 40 = 72.04 s for 3 clusters; the median is of tenths: 12.0, 20.0, 40.0.
    assert alice.seconds == pytest.approx(72.04)
    assert alice.clusters_per_hour == round(3 * 3600 / 72.04, 2)
    assert alice.median_seconds == 20.0
    assert (alice.suggested, alice.agreed, alice.agreement) == (2, 1, 0.5)
    assert (bob.clusters, bob.measured, bob.clusters_per_hour) == (2, 1, 360.0)
    assert bob.median_seconds == 10.0
    assert (bob.suggested, bob.agreed, bob.agreement) == (2, 2, 1.0)
    assert (imported.clusters, imported.measured, imported.clusters_per_hour) == (1, 0, None)
    assert imported.median_seconds is None
    assert (imported.suggested, imported.agreed, imported.agreement) == (1, 0, 0.0)
    assert (alice.first, alice.last) == (at(10, 5), at(11, 10))


def test_annotators_table_rounds_for_people(annotated):
    _cols, rows = annotators_table(task_insights(annotated.task))
    assert rows[0][:6] == ("alice", 3, 3, 0.02, 149.92, 20.0)
    assert rows[2][:6] == (NO_ANNOTATOR, 1, 0, 0.0, "", "")


def test_a_task_nobody_labelled_has_no_rows(db):
    b = SurveyBuilder()
    b.label(b.cluster("A", at(0), None, suggestion="Zebra"))
    ins = task_insights(b.task)
    assert (ins.total, ins.labelled, ins.hourly, ins.annotators) == (1, 0, [], [])


# --- classifier: from the database ---------------------------------------------------
@pytest.fixture
def judged(db):
    """Ten clusters; eight are compared (one is labelled Unknown, one is not labelled)."""
    b = SurveyBuilder()
    b.survey.classifier = Classifier.objects.create(
        organisation=b.survey.organisation, name="Savanna", model_key="m",
        classes=["Zebra", "Lion", "Elephant"])
    b.survey.save(update_fields=["classifier"])
    cases = [  # (labels, suggestion, score)
        (["Zebra"], "Zebra", 0.9), (["Zebra"], "Zebra", 0.4), (["Zebra"], "Lion", 0.7),
        (["Lion"], "Lion", 0.8), (["Nothing"], "Lion", 0.3), (["Zebra", "Lion"], "lion", 0.6),
        (["Lion"], "", None), (["Unknown"], "Zebra", 0.9), (None, "Zebra", 0.9),
        (["Zebra"], "Zebra", None),
    ]
    for n, (labels, suggestion, score) in enumerate(cases):
        cluster = b.cluster("A", at(0, n), None, suggestion=suggestion, score=score)
        if labels is None:
            b.label(cluster)
        else:
            b.label(cluster, *labels, by=b.admin, at=at(1, n))
    b.task.survey.refresh_from_db()
    return b


def metrics_by_name(ins, threshold=None):
    return {m.name: m for m in ins.metrics(threshold)}


def test_precision_and_recall_at_threshold_zero(judged):
    ins = classifier_insights(judged.task, 0.0)
    assert (ins.classifier, ins.classes) == ("Savanna", ["Zebra", "Lion", "Elephant"])
    assert (ins.compared, ins.answered, ins.agreed) == (8, 7, 5)
    m = metrics_by_name(ins)
    assert set(m) == {"Zebra", "Lion", "Elephant"}  # "lion" is the classifier's Lion
    assert (m["Zebra"].support, m["Zebra"].answered, m["Zebra"].agreed) == (5, 3, 3)
    assert (m["Zebra"].precision, m["Zebra"].recall) == (1.0, 0.6)
    assert (m["Lion"].support, m["Lion"].answered, m["Lion"].agreed) == (3, 4, 2)
    assert m["Lion"].precision == 0.5 and m["Lion"].recall == pytest.approx(2 / 3)
    assert (m["Elephant"].precision, m["Elephant"].recall) == (None, None)


def test_precision_and_recall_at_a_threshold(judged):
    ins = classifier_insights(judged.task, 0.5)
    m = metrics_by_name(ins)
    assert (m["Zebra"].answered, m["Zebra"].agreed, m["Zebra"].recall) == (1, 1, 0.2)
    assert (m["Lion"].answered, m["Lion"].agreed) == (3, 2)
    assert m["Lion"].precision == pytest.approx(2 / 3)
    assert (ins.answered, ins.agreed) == (4, 3)
    assert metrics_by_name(ins, 0.4)["Zebra"].answered == 2  # a score equal to it counts
    _cols, rows = metrics_table(ins)
    assert ("Zebra", "yes", 5, 1, 1, 1.0, 0.2, 0.5) in rows


def test_confusion_matrix_at_a_threshold(judged):
    ins = classifier_insights(judged.task, 0.5)
    assert ins.confusion() == Counter({
        ("zebra", "zebra"): 1, ("zebra", ""): 2, ("zebra", "lion"): 2,
        ("lion", "lion"): 2, ("lion", ""): 1, ("nothing", ""): 1})
    _cols, rows = confusion_table(ins)
    assert rows == [
        ("Lion", "Lion", 2, 0.5), ("Lion", "(no answer)", 1, 0.5),
        ("Nothing", "(no answer)", 1, 0.5),
        ("Zebra", "Lion", 2, 0.5), ("Zebra", "Zebra", 1, 0.5), ("Zebra", "(no answer)", 2, 0.5)]


def test_threshold_curve_matches_the_metrics_at_each_threshold(judged):
    ins = classifier_insights(judged.task, 0.0)
    curve = ins.curve()
    assert set(curve) == {"Zebra", "Lion"}  # classes the AI suggested
    half, high = CURVE_THRESHOLDS.index(0.5), CURVE_THRESHOLDS.index(0.85)
    assert (curve["Zebra"][0].answered, curve["Zebra"][0].agreed) == (3, 3)
    assert (curve["Zebra"][half].answered, curve["Zebra"][half].recall) == (1, 0.2)
    assert (curve["Lion"][half].answered, curve["Lion"][half].agreed) == (3, 2)
    assert (curve["Zebra"][high].answered, curve["Lion"][high].answered) == (1, 0)
    assert curve["Lion"][high].precision is None
    for i, t in enumerate(CURVE_THRESHOLDS):
        at_t = metrics_by_name(ins, t)
        for name in curve:
            assert (curve[name][i].answered, curve[name][i].agreed) == (
                at_t[name].answered, at_t[name].agreed), (name, t)


def test_suggestions_without_a_classifier_are_still_compared(judged):
    judged.survey.classifier.delete()
    judged.task.survey.refresh_from_db()
    ins = classifier_insights(judged.task, 0.0)
    assert (ins.classifier, ins.classes) == (None, [])
    m = metrics_by_name(ins)
    assert set(m) == {"Zebra", "Lion"} and not m["Zebra"].in_classifier
    assert (m["Lion"].answered, m["Lion"].agreed) == (4, 2)


# --- the AI check: agreement with the AI, and labels kept on check --------------------
CHECKED = [  # (classifier suggestion, labels alice gave)
    ("zebra", ["Zebra"]),   # agrees: never queued
    ("zebra", ["Lion"]),    # the four below are queued for the AI check
    ("lion", ["Zebra"]),
    ("zebra", ["Lion"]),
    ("lion", ["Zebra"]),
]


def test_the_ai_check_is_a_second_person_and_never_turns_a_disagreement_into_agreement(db):
    """Through the real tagging and check services: alice labels, checks one cluster
    herself (not a second opinion), carol checks three: accepts the AI, keeps alice's
    labels, gives other labels."""
    from annotation.services.ai_check import do_save_check
    from annotation.services.leases import claim_next_cluster
    from annotation.services.task_setup import do_launch_task
    from annotation.taxonomy import AiCheck
    from tests.annotation.helpers import ai_check_task, annotator_for, label

    task, admin, alice, _clusters = ai_check_task(CHECKED)
    do_launch_task(task, acting_user=admin)
    carol = annotator_for(task, username="carol")

    def check(user, verdict, labels=()):
        annotation = claim_next_cluster(task, user)
        do_save_check(task, user, annotation_id=annotation.pk, token=annotation.lease_token,
                      verdict=verdict, label_ids=[label(task, n).pk for n in labels])

    check(alice, AiCheck.REJECTED)
    check(carol, AiCheck.ACCEPTED)  # her labels become the AI's: still a disagreement
    check(carol, AiCheck.REJECTED)
    check(carol, AiCheck.OTHER, ["Nothing"])
    assert claim_next_cluster(task, carol) is None

    (row,) = task_insights(task).annotators
    assert row.annotator_id == alice.pk
    assert (row.suggested, row.agreed) == (5, 1)
    assert (row.checked, row.kept, row.kept_share) == (3, 1, 1 / 3)
    from insights.services.task_plots import kept_table

    assert kept_table(task_insights(task))[1] == [(alice.username, 5, 3, 1, 0.3333)]
