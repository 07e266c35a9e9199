"""Each insight against a small case computed by hand."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from insights.services.aggregates import (
    CameraOperation,
    Filters,
    local_hour,
    operation,
    survey_insights,
)
from insights.services.plots import detection_rate_table, map_table, operation_table, rate
from tests.insights.helpers import T0, SurveyBuilder

NAIROBI = ZoneInfo("Africa/Nairobi")


# --- pure helpers --------------------------------------------------------------------
def test_hour_of_day_is_taken_in_the_survey_time_zone():
    assert local_hour(datetime(2024, 3, 10, 22, 30, tzinfo=UTC), NAIROBI) == 1  # 01:30 next day
    assert local_hour(datetime(2024, 3, 10, 20, 59, tzinfo=UTC), NAIROBI) == 23
    assert local_hour(datetime(2024, 3, 10, 21, 0, tzinfo=UTC), NAIROBI) == 0
    assert local_hour(datetime(2024, 3, 10, 22, 30, tzinfo=UTC), ZoneInfo("UTC")) == 22
    # The same moments as seconds since 1970 (how the page streams them).
    assert local_hour(datetime(2024, 3, 10, 22, 30, tzinfo=UTC).timestamp(), NAIROBI) == 1
    assert local_hour(datetime(2024, 3, 10, 20, 59, tzinfo=UTC).timestamp(), NAIROBI) == 23


def utc(day, hour=12):
    return datetime(2024, 1, day, hour, tzinfo=UTC)


def test_camera_operation_without_gap_counts_every_day_first_to_last():
    cam = operation(CameraOperation(1, "A/CAM1", 1), [utc(1, 10), utc(3), utc(5, 8)], UTC,
                    timedelta(days=7))
    assert cam.gaps == [] and len(cam.days) == 5  # 1, 2, 3, 4, 5 January


def test_camera_operation_a_gap_over_the_setting_is_flagged_and_not_counted():
    times = [utc(1, 10), utc(2), utc(10), utc(11, 8)]
    cam = operation(CameraOperation(1, "A/CAM1", 1), times, UTC, timedelta(days=7))
    assert cam.gaps == [(utc(2), utc(10))]  # 8 days of silence > 7
    # 1-11 January is 11 days; 3-9 January (7 days) lie wholly inside the gap.
    assert sorted(cam.days) == [date(2024, 1, d) for d in (1, 2, 10, 11)]
    longer = operation(CameraOperation(1, "A/CAM1", 1), times, UTC, timedelta(days=8))
    assert longer.gaps == [] and len(longer.days) == 11  # exactly 8 days is no gap


def test_camera_operation_days_are_local_days():
    # 22:30 UTC on 1 Jan is 01:30 on 2 Jan in Nairobi: one local day, not two.
    cam = operation(CameraOperation(1, "A/CAM1", 1),
                    [utc(1, 22) + timedelta(minutes=30), utc(2, 8)],
                    NAIROBI, timedelta(days=7))
    assert cam.days == {date(2024, 1, 2)}


def test_rate_is_per_100_trap_nights():
    assert rate(3, 40) == 7.5
    assert rate(3, 0) is None


# --- from the database -----------------------------------------------------------------
pytestmark_db = pytest.mark.django_db


@pytestmark_db
def test_activity_buckets_independent_detections_by_local_hour():
    b = SurveyBuilder(tz="Africa/Nairobi")
    b.cluster("A", datetime(2024, 3, 10, 22, 30, tzinfo=UTC), "Zebra")  # 01:30 local
    b.cluster("A", datetime(2024, 3, 11, 22, 40, tzinfo=UTC), "Zebra")  # 01:40 next night
    b.cluster("A", datetime(2024, 3, 11, 22, 45, tzinfo=UTC), "Zebra")  # 5 min later: dependent
    b.cluster("A", datetime(2024, 3, 11, 9, 0, tzinfo=UTC), "Lion")     # 12:00 local
    ins = survey_insights(b.survey, Filters())
    assert ins.activity["Zebra"][1] == 2 and sum(ins.activity["Zebra"]) == 2
    assert ins.activity["Lion"][12] == 1 and sum(ins.activity["Lion"]) == 1


@pytestmark_db
def test_independence_interval_edges():
    b = SurveyBuilder()
    b.minutes("A", "Zebra", 0, 30)  # exactly the interval: independent
    b.minutes("B", "Zebra", 0)
    from surveys.models import Cluster

    b.cluster("B", T0 + timedelta(minutes=30) - timedelta(seconds=1), "Zebra")  # 1 s under
    b.minutes("B", "Lion", 10)  # another species keeps its own clock
    ins = survey_insights(b.survey, Filters())
    a, bb = b.sites["A"].pk, b.sites["B"].pk
    assert ins.independent[(a, "Zebra")] == 2
    assert ins.independent[(bb, "Zebra")] == 1
    assert ins.independent[(bb, "Lion")] == 1
    # With a 10-minute interval the one-second-under record counts too.
    assert survey_insights(b.survey, Filters(interval_minutes=10)).independent[
        (bb, "Zebra")] == 2
    # Zero: every detection is independent.
    assert sum(survey_insights(b.survey, Filters(interval_minutes=0)).independent.values()) \
        == Cluster.objects.filter(survey=b.survey).count()


@pytestmark_db
def test_species_counts_keep_verified_and_ai_only_apart():
    b = SurveyBuilder()
    b.cluster("A", T0, "Zebra", suggestion="Lion")                 # person's label wins
    b.cluster("A", T0 + timedelta(hours=1), None, suggestion="Lion")  # AI-only
    b.cluster("B", T0, None, suggestion="Lion")                    # AI-only
    b.cluster("B", T0 + timedelta(hours=2), "Nothing", suggestion="Lion")  # labelled empty
    b.cluster("B", T0 + timedelta(hours=3), None)                  # nothing at all
    ins = survey_insights(b.survey, Filters())
    a, bb = b.sites["A"].pk, b.sites["B"].pk
    assert ins.verified == {(a, "Zebra"): 1}
    assert ins.ai_only == {(a, "Lion"): 1, (bb, "Lion"): 1}
    assert ins.headline["species"] == 1
    assert ins.headline["clusters"] == 5 and ins.headline["labelled"] == 2
    assert ins.headline["labelled_share"] == pytest.approx(0.4)
    # AI-only detections count in activity and rates only when asked.
    assert "Lion" not in ins.activity
    with_ai = survey_insights(b.survey, Filters(include_ai=True))
    assert sum(with_ai.activity["Lion"]) == 2 and sum(with_ai.activity["Zebra"]) == 1


@pytestmark_db
def test_headline_images_and_empty_share():
    b = SurveyBuilder()
    b.cluster("A", T0, "Zebra")
    b.cluster("A", T0 + timedelta(hours=1), "Nothing", animal=False)
    b.image("A", T0 + timedelta(hours=2), animal=False)
    b.image("A", T0 + timedelta(hours=3), animal=False, detected=False)  # not detected yet
    h = survey_insights(b.survey, Filters()).headline
    assert h["images"] == 4 and h["detected"] == 3 and h["empty"] == 2
    assert h["empty_share"] == pytest.approx(2 / 3)


@pytestmark_db
def test_trap_nights_and_detection_rate_with_a_gap(settings):
    settings.INSIGHTS_GAP_DAYS = 7
    b = SurveyBuilder()
    # Site A: one camera, 1-11 January with an 8-day silence: 4 trap-nights.
    for when in (utc(1, 10), utc(2), utc(10), utc(11, 8)):
        b.cluster("A", when, "Zebra")
    # Site B: two cameras over 1-3 and 2-6 January: the site worked 6 days, not 8.
    for when in (utc(1), utc(3)):
        b.image("B", when, camera="CAM1")
    for when in (utc(2), utc(6)):
        b.image("B", when, camera="CAM2")
    ins = survey_insights(b.survey, Filters())
    a, bb = b.sites["A"].pk, b.sites["B"].pk
    assert ins.trap_nights == {a: 4, bb: 6}
    assert ins.headline["trap_nights"] == 10
    _cols, rows = detection_rate_table(ins)
    assert ("All sites", "Zebra", 4, 10, 40.0) in rows
    assert ("A", "Zebra", 4, 4, 100.0) in rows
    assert ("B", "Zebra", 0, 6, 0.0) in rows
    _cols, op = operation_table(ins)
    assert ("A", "A/CAM1", "gap", "2024-01-02T12:00:00+00:00", "2024-01-10T12:00:00+00:00",
            8.0) in op
    assert ("A", "A/CAM1", "working", "2024-01-10", "2024-01-11", 2) in op


@pytestmark_db
def test_filters_narrow_every_aggregate():
    b = SurveyBuilder(tz="Africa/Nairobi")
    b.site("A", lat=-2.5, lon=34.9)
    b.site("B")
    b.cluster("A", datetime(2024, 3, 10, 22, 30, tzinfo=UTC), "Zebra")  # 11 March local
    b.cluster("A", datetime(2024, 3, 12, 9, 0, tzinfo=UTC), "Lion")
    b.cluster("B", datetime(2024, 3, 12, 10, 0, tzinfo=UTC), "Zebra")
    a = b.sites["A"].pk
    by_day = survey_insights(b.survey, Filters(since=date(2024, 3, 11), until=date(2024, 3, 11)))
    assert by_day.verified == {(a, "Zebra"): 1}
    assert by_day.headline["images"] == 1 and by_day.headline["trap_nights"] == 1
    by_site = survey_insights(b.survey, Filters(site_id=a))
    assert set(by_site.verified) == {(a, "Zebra"), (a, "Lion")}
    assert set(by_site.trap_nights) == {a}
    zebra = survey_insights(b.survey, Filters(species="Zebra"))
    assert {s for _site, s in zebra.verified} == {"Zebra"}
    _cols, rows = map_table(zebra)
    assert ("A", -2.5, 34.9, 1) in rows and ("B", None, None, 1) in rows


@pytestmark_db
@pytest.mark.parametrize("extra,flagged", [(timedelta(0), False), (timedelta(seconds=1), True)])
def test_the_database_flags_a_gap_only_over_the_setting(settings, extra, flagged):
    settings.INSIGHTS_GAP_DAYS = 8
    b = SurveyBuilder(tz="Africa/Nairobi")
    for when in (utc(1, 10), utc(2), utc(10) + extra, utc(11, 8)):
        b.image("A", when)
    b.image("A", utc(5), camera="CAM2")  # another camera: its own clock
    (cam, other) = sorted(survey_insights(b.survey, Filters()).cameras, key=lambda c: c.path)
    assert cam.gaps == ([(utc(2), utc(10) + extra)] if flagged else [])
    assert len(cam.days) == (4 if flagged else 11) and other.days == {date(2024, 1, 5)}
    assert (cam.first, cam.last) == (utc(1, 10), utc(11, 8))


@pytestmark_db
def test_a_survey_without_a_task_shows_ai_suggestions_only():
    from annotation.models import Task

    b = SurveyBuilder()
    b.cluster("A", T0, None, suggestion="Lion")
    Task.objects.filter(survey=b.survey).delete()
    ins = survey_insights(b.survey, Filters(include_ai=True))
    assert ins.task is None and ins.verified == {}
    assert ins.ai_only == {(b.sites["A"].pk, "Lion"): 1}
    assert sum(ins.activity["Lion"]) == 1 and ins.headline["labelled"] == 0


@pytestmark_db
@pytest.mark.parametrize("gap_days", [0.25, 1, 2.5, 7])
def test_the_database_finds_the_gaps_the_rule_defines(settings, gap_days):
    """The page reads each camera's first and last image per period of the gap setting;
    whatever the timestamps, that must give exactly what the image-by-image rule gives."""
    import random

    settings.INSIGHTS_GAP_DAYS = gap_days
    rng = random.Random(gap_days)
    b = SurveyBuilder(tz="Africa/Nairobi")
    gap = timedelta(days=gap_days)
    times = {"CAM1": [], "CAM2": []}
    for camera, moments in times.items():
        when = utc(1, 0) + timedelta(seconds=rng.randrange(86400))
        for _ in range(40):
            # Mostly short steps, some just under, at or over the gap, some far over.
            step = rng.choice([timedelta(minutes=rng.randrange(1, 600)), gap - timedelta(seconds=1),
                               gap, gap + timedelta(seconds=1), gap * rng.uniform(1, 5)])
            when += timedelta(seconds=int(step.total_seconds()))
            moments.append(when)
            b.image("A", when, camera=camera, animal=False)
    found = {c.path: c for c in survey_insights(b.survey, Filters()).cameras}
    for camera, moments in times.items():
        expected = operation(CameraOperation(0, camera, 0), moments, NAIROBI, gap)
        got = found[f"A/{camera}"]
        assert got.gaps == expected.gaps and len(got.gaps) > 3
        assert (got.first, got.last, got.days) == (expected.first, expected.last, expected.days)


@pytestmark_db
def test_clusters_without_a_time_count_as_species_but_not_in_activity():
    b = SurveyBuilder()
    b.cluster("A", T0, "Zebra", suggestion="Lion")
    untimed = b.cluster("A", None, None)
    b.label(untimed, "Zebra", by=b.admin, at=T0)
    b.cluster("A", None, None, suggestion="Lion")
    for include_ai in (False, True):
        ins = survey_insights(b.survey, Filters(include_ai=include_ai))
        a = b.sites["A"].pk
        assert ins.verified == {(a, "Zebra"): 2} and ins.ai_only == {(a, "Lion"): 1}
        assert sum(ins.activity["Zebra"]) == 1 and "Lion" not in ins.activity
        assert ins.independent == {(a, "Zebra"): 1}
        assert ins.headline["clusters"] == 3 and ins.headline["labelled"] == 2
