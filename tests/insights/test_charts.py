"""Every insights chart's Vega-Lite spec, read as plain JSON: its rows and its encodings.

Built from hand-made insights (no database): each spec is valid against the Vega-Lite
schema, carries the numbers the chart shows and says how they are drawn; the server's
rendering (vl-convert) of each is well-formed SVG with user names as text.
"""

import functools
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from insights.services import charts
from insights.services.aggregates import CameraOperation
from insights.services.classifier_aggregates import ClassifierInsights
from insights.services.classifier_plots import CLASSIFIER_PLOTS, MAX_CELLS
from insights.services.plots import PLOTS
from insights.services.task_plots import TASK_PLOTS
from tests.insights.hand_made import (
    NASTY,
    XSS,
    classifier_insights,
    insights,
    person,
    task_insights,
)

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86_400_000


@functools.cache
def validator():
    import jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    return jsonschema.Draft7Validator(load_schema())


def valid(spec: dict) -> dict:
    errors = [e.message for e in validator().iter_errors(spec)]
    assert errors == [], errors[:3]
    return spec


def rows(spec: dict, name: str = charts.DATA) -> list[dict]:
    return spec["datasets"][name]


def layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


def shown_texts(svg: bytes) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")]


ALL = [(PLOTS, insights), (TASK_PLOTS, task_insights), (CLASSIFIER_PLOTS, classifier_insights)]


# --- every chart ---------------------------------------------------------------------------
@pytest.mark.hostile
@pytest.mark.parametrize("plots,make", ALL)
def test_every_spec_is_valid_and_renders_names_as_text(plots, make):
    ins = make(**({"species": (XSS, NASTY), "site_name": XSS} if make is insights else {}))
    for slug, chart in plots.items():
        spec = valid(chart.spec(ins))
        svg, content_type = charts.render(chart, ins, "svg")
        assert content_type == "image/svg+xml" and b"<script" not in svg, slug
        shown = shown_texts(svg)
        if slug not in ("progress", "per-hour", "threshold", "activity"):  # no names there
            assert any(t.startswith(XSS) for t in shown), (slug, shown)
        png, _type = charts.render(chart, ins, "png")
        assert png.startswith(b"\x89PNG"), slug
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")


def test_empty_insights_say_why_in_one_line():
    survey = insights(verified={}, ai={}, activity={}, cameras=[])
    survey.sites = {}
    task = task_insights(hourly=(), annotators=[])
    nothing = ClassifierInsights(task=None, classifier=None, classes=[], threshold=0.0,
                                 label_rows=Counter(), cluster_rows=Counter())
    for plots, ins in ((PLOTS, survey), (TASK_PLOTS, task), (CLASSIFIER_PLOTS, nothing)):
        for slug, chart in plots.items():
            spec = valid(chart.spec(ins))
            assert spec["mark"]["type"] == "text" and spec["height"] == 20, slug
            (message,) = rows(spec)
            assert message["text"].startswith(("No ", "Nobody ")), slug


def test_a_spec_is_written_by_altair_once_and_rows_never_leak_between_views():
    from insights.services.plots import _species

    charts.clear_templates()
    first = PLOTS["species"].spec(insights(verified={(1, "Zebra"): 3}, ai={}))
    second = PLOTS["species"].spec(insights(verified={(1, "Lion"): 5}, ai={}))
    assert (_species.cache_info().misses, _species.cache_info().hits) == (1, 1)
    assert rows(first)[0]["species"] == "Zebra" and rows(second)[0]["species"] == "Lion"
    assert {k: v for k, v in first.items() if k != "datasets"} == {
        k: v for k, v in second.items() if k != "datasets"}


def test_a_view_after_the_first_spends_its_time_on_rows_not_on_altair():
    """Altair writes a chart's template once (10-40 ms); later views only add the rows. On
    a large survey and a task over months, the page's specs after the first cost a small
    part of the first's (measured against each other: the machine may be busy)."""
    big = insights(verified={(s, f"Species {k}"): 10 * k for s in (1, 2) for k in range(30)},
                   cameras=[CameraOperation(n, f"S/CAM{n}", 1,
                                            first=datetime(2024, 1, 1, tzinfo=UTC),
                                            last=datetime(2024, 12, 31, tzinfo=UTC),
                                            days={date(2024, 1, 1) + timedelta(days=d)
                                                  for d in range(0, 366, 2)})
                            for n in range(40)])
    months = task_insights(hourly=[(h, 1 + h % 7) for h in range(0, 24 * 120)])

    def page_time() -> float:
        start = time.perf_counter()
        for plots, ins in ((PLOTS, big), (TASK_PLOTS, months)):
            for chart in plots.values():
                chart.spec(ins)
        return time.perf_counter() - start

    charts.clear_templates()
    first = page_time()
    later = min(page_time() for _ in range(3))
    assert later < first / 3, (first, later)


def test_downloads_need_no_network():
    """vl-convert is given no base URL: a spec reading remote data is refused, and the map's
    outlines (a static file for the browser) are given to it as values."""
    remote = {"data": {"url": "https://example.com/rows.json"}, "mark": "point"}
    with pytest.raises(ValueError, match="not allowed"):
        charts.svg_bytes(remote)
    spec = PLOTS["map"].spec(insights())
    assert charts.WORLD_NAME in spec["layer"][0]["data"]["url"]
    offline = charts.offline(spec)
    assert offline["layer"][0]["data"]["values"]["type"] == "Topology"
    assert "url" not in offline["layer"][0]["data"]
    assert b"<path" in charts.svg_bytes(spec)


# --- the survey page -----------------------------------------------------------------------
def test_species_bars_stack_verified_then_ai_only_in_the_species_order():
    spec = PLOTS["species"].spec(insights(verified={(1, "Zebra"): 12, (1, "Lion"): 4},
                                          ai={(2, "Zebra"): 6}))
    assert rows(spec) == [  # the survey's species order: by name
        {"species": "Lion", "kind": "verified", "order": 0, "detections": 4},
        {"species": "Lion", "kind": "AI-only", "order": 1, "detections": 0},
        {"species": "Zebra", "kind": "verified", "order": 0, "detections": 12},
        {"species": "Zebra", "kind": "AI-only", "order": 1, "detections": 6}]
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "bar" and enc["x"]["stack"] == "zero"
    assert enc["y"]["field"] == "species" and enc["y"]["sort"] is None  # the rows' order
    assert enc["color"]["scale"] == {"domain": ["verified", "AI-only"],
                                     "range": [charts.VERIFIED_COLOUR, charts.AI_COLOUR]}
    assert enc["order"]["field"] == "order"


def test_one_species_activity_is_24_bars_several_are_a_line_each():
    counts = [0] * 24
    counts[6], counts[7], counts[18] = 3, 6, 9
    one = PLOTS["activity"].spec(insights(activity={"Zebra": counts}))
    assert one["mark"]["type"] == "bar"
    assert [r["detections"] for r in rows(one)] == counts
    assert one["encoding"]["x"]["scale"]["domain"] == list(range(24))
    assert one["encoding"]["x"]["axis"]["title"] == "hour of day (Africa/Nairobi)"
    many = PLOTS["activity"].spec(insights(activity={f"S{n}": [n] * 24 for n in range(1, 11)}))
    assert many["mark"]["type"] == "line"
    shown = list(dict.fromkeys(r["species"] for r in rows(many)))
    assert shown == [f"S{n}" for n in range(10, 2, -1)]  # MAX_SERIES, commonest first


def test_heat_map_cells_say_verified_plus_ai_in_an_ink_that_reads():
    spec = PLOTS["species-sites"].spec(insights())
    cells = {(r["species"], r["site"]): (r["text"], r["ink"]) for r in rows(spec)}
    white, ink = charts.WHITE, charts.INK
    assert cells == {("Zebra", "Kopje"): ("10+2", white), ("Zebra", "River"): ("4", ink),
                     ("Lion", "Kopje"): ("5", ink), ("Lion", "River"): ("0+3", ink)}
    rect, text = spec["layer"]
    assert rect["encoding"]["color"]["scale"] == {"scheme": "greens", "zero": True}
    assert text["encoding"]["color"] == {"field": "ink", "scale": None, "type": "nominal"}
    rate = PLOTS["detection-rate"].spec(insights())
    assert {(r["site"], r["species"]): r["text"] for r in rows(rate)} == {
        ("All sites", "Lion"): "18.2", ("All sites", "Zebra"): "63.6",
        ("Kopje", "Lion"): "18.2", ("Kopje", "Zebra"): "45.5"}


def test_operation_spans_and_gaps_on_a_zoomable_date_axis_in_the_survey_zone():
    spec = PLOTS["operation"].spec(insights())
    jan = datetime(2024, 1, 1).timestamp() * 1000 - datetime(1970, 1, 1).timestamp() * 1000
    working = [(r["start"], r["end"]) for r in rows(spec, "working")]
    assert working == [(jan, jan + 5 * DAY), (jan + 14 * DAY, jan + 20 * DAY)]  # 1-5, 15-20
    (gap,) = rows(spec, "gaps")
    # 12:00 UTC is 15:00 in Nairobi: the gap from the 5th to the 15th at 15:00 local.
    assert (gap["start"], gap["end"]) == (jan + 4 * DAY + 15 * DAY // 24,
                                          jan + 14 * DAY + 15 * DAY // 24)
    assert (gap["from"], gap["days"]) == ("2024-01-05 15:00", 10.0)
    first, second = spec["layer"]
    assert first["encoding"]["x"]["scale"] == {"type": "utc"}
    assert first["mark"]["height"] == {"band": 0.7} and second["mark"]["height"] == {"band": 0.3}
    assert spec["params"][0]["name"] == "zoom" and spec["params"][0]["bind"] == "scales"
    assert spec["params"][0]["select"]["encodings"] == ["x"]


def test_map_fits_a_mercator_projection_to_the_sites_over_country_outlines():
    spec = PLOTS["map"].spec(insights())
    assert rows(spec) == [
        {"site": "Kopje", "latitude": -2.45, "longitude": 34.83, "detections": 7,
         "label": "Kopje (7)", "fill": charts.VERIFIED_COLOUR},
        {"site": "River", "latitude": -2.52, "longitude": 34.91, "detections": 2,
         "label": "River (2)", "fill": charts.VERIFIED_COLOUR}]
    projection = spec["projection"]
    assert projection["type"] == "mercator"
    (west, south), (east, north) = projection["fit"]["geometry"]["coordinates"]
    assert west < 34.83 < 34.91 < east and south < -2.52 < -2.45 < north
    outlines, grid, discs, _labels = spec["layer"]
    assert outlines["data"]["format"] == {"type": "topojson", "feature": "countries"}
    assert discs["encoding"]["size"]["scale"] == {"range": [20, 600], "zero": True}


# --- the task page -------------------------------------------------------------------------
def test_progress_steps_up_at_each_hour_end_to_the_clusters_labelled():
    spec = TASK_PLOTS["progress"].spec(task_insights())
    steps = [(datetime.fromtimestamp(r["time"] / 1000, UTC).strftime("%d %H:%M"), r["done"])
             for r in rows(spec)]
    # H0 is 06:00 UTC, 09:00 in Nairobi (wall clock); hours 0, 1 and 5 labelled 2, 3, 5.
    assert steps == [("02 09:00", 0), ("02 10:00", 2), ("02 11:00", 5), ("02 15:00", 10)]
    assert rows(spec, "total") == [{"total": 20, "series": "task clusters (20)"}]
    line, rule = spec["layer"]
    assert line["mark"]["interpolate"] == "step-after" and rule["mark"]["type"] == "rule"
    assert line["encoding"]["x"]["axis"]["title"] == "time (Africa/Nairobi)"
    by = line["encoding"]["tooltip"][0]
    assert by["timeUnit"].startswith("utc") and by["type"] == "temporal"  # the wall clock


def test_per_hour_fills_every_hour_quiet_ones_at_zero():
    spec = TASK_PLOTS["per-hour"].spec(task_insights())
    # A point where the count changes (the quiet hours 2-4 are one), and the last's end.
    assert [r["clusters"] for r in rows(spec)] == [2, 3, 0, 5, 5]
    hours = [(r["time"] - rows(spec)[0]["time"]) // 3_600_000 for r in rows(spec)]
    assert hours == [0, 1, 2, 5, 6]
    assert spec["mark"]["type"] == "area" and spec["mark"]["interpolate"] == "step-after"


def test_annotator_bars_carry_speeds_and_notes_with_room_for_them():
    spec = TASK_PLOTS["annotators"].spec(task_insights())
    assert [(r["name"], r["value"], r["note"]) for r in rows(spec)] == [
        ("alice", 30.0, "30 clusters, median 12.0 s"), ("bob", 10.0, "10 clusters, median 8.5 s"),
        (XSS, 0, "5 clusters, median –")]
    assert rows(spec, "room") == [{"value": pytest.approx(30 * 1.45)}]


def test_agreement_and_kept_are_shares_of_those_that_count():
    agreement = TASK_PLOTS["agreement"].spec(task_insights())
    assert [(r["name"], r["value"], r["note"]) for r in rows(agreement)] == [
        ("alice", 75.0, "15/20"), (XSS, 25.0, "1/4")]  # bob had no suggestion
    kept = TASK_PLOTS["kept"].spec(task_insights(annotators=[
        person("alice", 30, checked=8, kept=6), person("bob", 10),
        person(XSS, 5, checked=4, kept=1)]))
    assert [(r["name"], r["value"]) for r in rows(kept)] == [("alice", 75.0), (XSS, 25.0)]
    assert rows(kept, "room") == [{"value": 115}]


# --- the classifier page ---------------------------------------------------------------------
def test_precision_and_recall_bars_per_class():
    spec = CLASSIFIER_PLOTS["precision-recall"].spec(classifier_insights())
    got = {(r["class"], r["measure"]): round(r["percent"], 3) for r in rows(spec)}
    # Lion: 5 answered at 0.5, 3 agreed of 6 labelled; Zebra: 10 answered, 6 of 8.
    assert got == {(f"{XSS} (4)", "precision"): 0, (f"{XSS} (4)", "recall"): 0,
                   ("Lion (6)", "precision"): 60, ("Lion (6)", "recall"): 50,
                   ("Zebra (8)", "precision"): 60, ("Zebra (8)", "recall"): 75}
    assert spec["encoding"]["yOffset"]["field"] == "measure"
    assert spec["encoding"]["x"]["scale"] == {"domain": [0, 100]}


def test_confusion_counts_where_they_belong_and_agreements_outlined():
    spec = CLASSIFIER_PLOTS["confusion"].spec(classifier_insights())
    counts = {(r["human"], r["answer"]): r["clusters"] for r in rows(spec) if r["clusters"]}
    # Lion's no answers: one Zebra suggestion scoring 0.3 and two Lion ones 0.2.
    assert counts == {(XSS, "Zebra"): 4, ("Lion", "Lion"): 3, ("Lion", "(no answer)"): 3,
                      ("Zebra", "Lion"): 2, ("Zebra", "Zebra"): 6}
    assert [(r["human"], r["answer"]) for r in rows(spec, "agreed")] == [
        ("Lion", "Lion"), ("Zebra", "Zebra")]
    white = {r["text"] for r in rows(spec) if r["ink"] == charts.WHITE}
    assert white == {"4", "6"}  # over half the largest count
    outline = spec["layer"][2]
    assert outline["mark"]["filled"] is False and outline["mark"]["stroke"] == charts.AI_COLOUR
    assert spec["layer"][0]["encoding"]["x"]["axis"]["title"] == "AI answer at threshold 0.5"


def test_threshold_curves_a_line_a_class_with_gaps_where_nothing_is_answered():
    spec = CLASSIFIER_PLOTS["threshold"].spec(classifier_insights())
    precision = rows(spec, "precision")
    # Precision needs an answer: none scores over 0.9 (Zebra) or over 0.8 (Lion).
    assert sum(r["percent"] is None for r in precision if r["class"] == "Zebra") == 1
    assert sum(r["percent"] is None for r in precision if r["class"] == "Lion") == 3
    assert precision[0]["class"] == "Zebra"  # labelled most: first colour
    assert rows(spec, "threshold") == [{"threshold": 0.5}]
    left, right = spec["hconcat"]
    assert left["layer"][0]["mark"]["invalid"] == "break-paths-filter-domains"
    assert left["layer"][1]["mark"]["strokeDash"] == [1.5, 2.5]
    assert right["layer"][0]["data"] == {"name": "recall"}


def test_a_30_class_matrix_keeps_its_largest_rows_and_columns():
    counts = Counter({(f"C{a}", f"C{b}", 0.9): 1 + a + b for a in range(30) for b in range(30)})
    clusters = Counter()
    for (_l, s, score), n in counts.items():
        clusters[(s, score)] += n
    wide = ClassifierInsights(task=None, classifier=None, classes=[], threshold=0.3,
                              label_rows=counts, cluster_rows=clusters)
    spec = CLASSIFIER_PLOTS["confusion"].spec(wide)
    assert len({r["human"] for r in rows(spec)}) == MAX_CELLS < 30
    assert len(rows(spec, "agreed")) == MAX_CELLS


@pytest.mark.parametrize("zone", ["Europe/London", "Asia/Kolkata", "America/St_Johns", "UTC"])
def test_many_wall_clock_times_match_one_by_one_across_clock_changes(zone):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    hours = [datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=30 * n) for n in range(24 * 80)]
    seconds = [h.timestamp() for h in hours]
    assert charts.wall_ms_many(seconds, tz) == [charts.wall_ms(h, tz) for h in hours]
