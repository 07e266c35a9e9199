"""The page's SVG writer (insights.services.svg) and the survey plots drawn with it.

The plots are built from a hand-made SurveyInsights (no database): every one must parse as
XML, escape user text, and put its shapes where the numbers say.
"""

import math
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from insights.services import svg
from insights.services.aggregates import CameraOperation, Filters, SurveyInsights
from insights.services.plots import PLOTS
from insights.services.plotting import AI_COLOUR, GAP_COLOUR, VERIFIED_COLOUR, render
from tests.insights.svg_checks import NASTY, NS, XSS, boxes, moves, parse, texts


def insights(species=("Zebra", "Lion"), site_name="Kopje", verified=None, ai=None,
             activity=None, cameras=None, filters=None) -> SurveyInsights:
    tz = ZoneInfo("Africa/Nairobi")
    sites = {1: (site_name, -2.45, 34.83), 2: ("River", -2.52, 34.91)}
    verified = Counter(verified if verified is not None
                       else {(1, species[0]): 10, (2, species[0]): 4, (1, species[1]): 5})
    ai = Counter(ai if ai is not None else {(1, species[0]): 2, (2, species[1]): 3})
    independent = Counter({key: max(1, n // 2) for key, n in verified.items()})
    if cameras is None:
        cam = CameraOperation(7, f"{site_name}/CAM1", 1,
                              first=datetime(2024, 1, 1, 6, tzinfo=UTC),
                              last=datetime(2024, 1, 20, 18, tzinfo=UTC))
        cam.gaps = [(datetime(2024, 1, 5, 12, tzinfo=UTC), datetime(2024, 1, 15, 12, tzinfo=UTC))]
        cam.days = {date(2024, 1, d) for d in (1, 2, 3, 4, 5, 15, 16, 17, 18, 19, 20)}
        cameras = [cam]
    return SurveyInsights(
        survey=SimpleNamespace(timezone="Africa/Nairobi"), filters=filters or Filters(),
        task=None, tz=tz, sites=sites, headline={}, verified=verified, ai_only=ai,
        activity=activity if activity is not None else {
            species[0]: [n % 5 for n in range(24)], species[1]: [1] * 24},
        independent=independent, trap_nights={1: 11, 2: 0}, cameras=cameras, gap_days=7.0)


# --- the writer ------------------------------------------------------------------------
def test_text_is_escaped_and_forbidden_characters_dropped():
    c = svg.Canvas(100, 50)
    c.text(10, 10, NASTY)
    c.text(10, 30, XSS, anchor="middle")
    out = c.document()
    assert "<script>" not in out and "<b>" not in out and "\x07" not in out
    root = parse(out.replace('width="100pt" height="50pt"', 'width="300pt" height="150pt"'))
    assert texts(root) == ["Zebra & \"Grévy's\" <b>", XSS]


def test_steps_hold_each_value_until_the_next_x_and_merge_equal_runs():
    c = svg.Canvas(300, 150)
    c.steps([0, 10, 20, 30, 40], [5, 5, 7, 7, 9], stroke=svg.INK)
    c.steps([0, 0, 10, 20, 30], [50, 40, 40, 45, 50], fill="#00ff00")
    line, area = [p.get("d") for p in parse(c.document()).iterfind(".//s:path", NS)]
    assert moves(line) == [("M", 0), ("M", 5), ("H", 20), ("V", 7), ("H", 40), ("V", 9)]
    assert area.endswith("Z")
    assert moves(area) == [("M", 0), ("M", 50), ("V", 40), ("H", 20), ("V", 45), ("H", 30),
                           ("V", 50)]


def test_series_leave_a_gap_for_missing_values():
    c = svg.Canvas(300, 150)
    svg.series(c, [(0, 1), (10, 2), (20, None), (30, 4), (40, 5), (50, None), (60, 7)], "#123456")
    paths = list(parse(c.document()).iterfind(".//s:path", NS))
    lines = [p.get("d") for p in paths if p.get("stroke") == "#123456"]
    dots = [p for p in paths if p.get("fill") == "#123456"]
    assert lines == ["M0 1L10 2", "M30 4L40 5"]  # the lone last point is a dot only
    assert len(dots) == 5


def test_dashed_lines_and_tick_marks_without_labels():
    c = svg.Canvas(300, 150)
    c.line([(0, 0), (10, 0)], dash="5 2")
    f = svg.Frame(40, 10, 200, 100, y1=10)
    svg.y_axis(c, f, [(0, ""), (5, ""), (10, "")])
    root = parse(c.document())
    assert root.find(".//s:path", NS).get("stroke-dasharray") == "5 2"
    assert texts(root) == []  # three marks, no labels
    assert root.findall(".//s:path", NS)[1].get("d").count("h") == 3


def test_every_plot_is_valid_svg_and_escapes_user_names():
    ins = insights(species=(XSS, NASTY), site_name=XSS)
    for slug, plot in PLOTS.items():
        page = plot.svg(ins).svg("insight-plot")
        assert page.startswith('<svg class="insight-plot" ') and "<?xml" not in page, slug
        assert "<script" not in page and " id=" not in page, slug
        document, content_type = render(plot, ins, "svg")
        assert content_type == "image/svg+xml"
        assert document.startswith(b"<?xml")
        root = parse(document.decode())
        shown = texts(root)
        assert len(shown) > 3, slug
        if slug != "activity":  # activity's legend names species, its axes do not
            assert any(XSS in t for t in shown), (slug, shown)


def test_species_bars_are_as_long_as_their_counts():
    ins = insights(verified={(1, "Zebra"): 12, (1, "Lion"): 4}, ai={(2, "Zebra"): 6})
    root = parse(PLOTS["species"].svg(ins).document())
    bars = [b for b in boxes(root, VERIFIED_COLOUR) + boxes(root, AI_COLOUR) if b[3] > 8]
    green = [b for b in boxes(root, VERIFIED_COLOUR) if b in bars]  # not the legend's swatch
    amber = [b for b in boxes(root, AI_COLOUR) if b in bars]
    assert len(green) == 2 and len(amber) == 1  # Lion has no AI-only detections
    lion, zebra = sorted(green, key=lambda b: b[1])  # Lion (first alphabetically) on top
    assert zebra[2] == pytest.approx(3 * lion[2], rel=0.01)  # 12 against 4
    assert amber[0][2] == pytest.approx(zebra[2] / 2, rel=0.01)  # 6 against 12
    assert amber[0][0] == pytest.approx(zebra[0] + zebra[2], abs=0.02)  # stacked after it
    assert [t for t in texts(root) if t in ("Lion", "Zebra")] == ["Lion", "Zebra"]


def test_one_species_activity_is_24_bars_as_tall_as_their_counts():
    counts = [0] * 24
    counts[6], counts[7], counts[18] = 3, 6, 9
    root = parse(PLOTS["activity"].svg(insights(activity={"Zebra": counts})).document())
    bars = sorted(boxes(root, VERIFIED_COLOUR), key=lambda b: b[0])
    assert len(bars) == 4  # three hours and the legend's swatch
    swatch, *hours = sorted(bars, key=lambda b: b[3])
    six, seven, eighteen = sorted(hours, key=lambda b: b[0])
    assert seven[3] == pytest.approx(2 * six[3], rel=0.01)
    assert eighteen[3] == pytest.approx(3 * six[3], rel=0.01)
    # The bars stand on one baseline, an hour apart per hour.
    assert six[1] + six[3] == pytest.approx(eighteen[1] + eighteen[3], abs=0.02)
    assert (eighteen[0] - six[0]) == pytest.approx(12 * (seven[0] - six[0]), rel=0.01)


def test_several_species_activity_is_one_line_each():
    ins = insights(activity={f"S{n}": [n] * 24 for n in range(1, 11)})
    root = parse(PLOTS["activity"].svg(ins).document())
    lines = [p for p in root.iterfind(".//s:path", NS)
             if p.get("fill") == "none" and p.get("d").count("L") == 23]
    assert len(lines) == 8  # MAX_SERIES; the CSV has all ten
    assert len({p.get("stroke") for p in lines}) == 8


def test_operation_spans_and_gaps_are_where_the_days_are():
    root = parse(PLOTS["operation"].svg(insights()).document())
    working = sorted(boxes(root, VERIFIED_COLOUR), key=lambda b: b[0])
    (gap,) = boxes(root, GAP_COLOUR)
    assert len(working) == 2  # 1-5 and 15-20 January
    day = working[0][2] / 5
    assert working[1][2] == pytest.approx(6 * day, rel=0.01)
    assert working[1][0] - working[0][0] == pytest.approx(14 * day, rel=0.01)
    # The gap runs from 15:00 local on the 5th to 15:00 on the 15th: ten days.
    assert gap[2] == pytest.approx(10 * day, rel=0.01)
    assert gap[0] == pytest.approx(working[0][0] + (4 + 15 / 24) * day, rel=0.01)


def test_heat_map_cells_darken_with_their_counts_and_say_them():
    root = parse(PLOTS["species-sites"].svg(insights()).document())
    shown = texts(root)
    assert "10+2" in shown and "4" in shown and "5" in shown and "0+3" in shown
    darkest, lightest = svg.colour(svg.GREENS, 1.0), svg.colour(svg.GREENS, 0.0)
    fills = [p.get("fill") for p in root.iterfind(".//s:path", NS)]
    assert darkest in fills and lightest in fills


def test_map_markers_grow_with_detections_and_keep_the_aspect():
    root = parse(PLOTS["map"].svg(insights()).document())
    discs = [p for p in root.iterfind(".//s:path", NS) if p.get("fill-opacity") == "0.6"]
    shapes = [re.match(r"M([-\d.]+) ([-\d.]+)a([\d.]+) ", p.get("d")).groups() for p in discs]
    x, y, radii = ([float(v[k]) for v in shapes] for k in range(3))
    assert len(radii) == 2 and radii[0] > radii[1]  # Kopje (7 independent) over River (2)
    assert "Kopje (7)" in texts(root)
    # A degree of latitude is drawn 1/cos(latitude) times as long as one of longitude.
    dx = (x[1] + radii[1]) - (x[0] + radii[0])  # between the centres
    dy = y[1] - y[0]
    assert (dy / 0.07) / (dx / 0.08) == pytest.approx(1 / math.cos(math.radians(-2.485)),
                                                      rel=0.01)


def test_empty_insights_say_why():
    ins = insights(verified={}, ai={}, activity={}, cameras=[])
    ins.sites = {}
    for slug, plot in PLOTS.items():
        root = parse(plot.svg(ins).document())
        assert len(texts(root)) == 1 and texts(root)[0].startswith("No "), slug
        assert float(root.get("height").removesuffix("pt")) <= 0.8 * 72, slug  # one line


# --- scales ------------------------------------------------------------------------------
@pytest.mark.parametrize("lo,hi,most,expected", [
    (0, 10, 6, [0, 2, 4, 6, 8, 10]),
    (0, 3150, 6, [0, 1000, 2000, 3000]),
    (0, 1, 5, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0, 1, 3, [0, 0.5, 1.0]),
    (34.79, 34.91, 5, [34.8, 34.825, 34.85, 34.875, 34.9]),
    (0, 0.7, 6, [0, 0.2, 0.4, 0.6]),
])
def test_nice_ticks(lo, hi, most, expected):
    assert svg.nice_ticks(lo, hi, most) == pytest.approx(expected)


def test_integer_ticks_never_step_under_one_and_labels_fit_the_step():
    assert svg.nice_ticks(0, 2.1, 6, integer=True) == [0, 1, 2]
    ticks = svg.nice_ticks(-2.6, -2.4, 4)
    assert [svg.tick_label(v, ticks) for v in ticks] == ["\u22122.6", "\u22122.55", "\u22122.5",
                                                        "\u22122.45", "\u22122.4"]
    assert svg.tick_label(2000.0, [0, 1000]) == "2000"


def test_number_ticks_thin_out_to_fit_their_room():
    crowded = svg.number_ticks(34.79, 34.91, 6)
    fitted = svg.number_ticks(34.79, 34.91, 6, room=100)
    assert len(fitted) < len(crowded)
    widest = max(svg.text_width(t) for _v, t in fitted)
    assert (widest + 6) * len(fitted) <= 100


def test_date_ticks_from_days_to_months():
    week = svg.date_ticks(date(2024, 1, 1), date(2024, 1, 5))
    assert [t for _o, t in week] == ["01 Jan 2024", "02 Jan", "03 Jan", "04 Jan", "05 Jan"]
    quarter = svg.date_ticks(date(2024, 1, 1), date(2024, 3, 31))
    assert all(date.fromordinal(o).weekday() == 0 for o, _t in quarter)  # Mondays
    year = svg.date_ticks(date(2023, 11, 15), date(2024, 10, 1))
    # Every other month, on the first, the year named in January.
    assert [t for _o, t in year] == ["Jan 2024", "Mar", "May", "Jul", "Sep"]
    assert all(date.fromordinal(o).day == 1 for o, _t in year)


NAIROBI = ZoneInfo("Africa/Nairobi")


def _labels(first, hours, tz=NAIROBI):
    return [t for _m, t in svg.time_ticks(first, first + timedelta(hours=hours), tz)]


def test_time_ticks_on_round_local_hours_then_on_midnights():
    six = datetime(2024, 1, 1, 3, tzinfo=UTC)  # 06:00 in Nairobi
    assert _labels(six, 5) == ["01 Jan 06:00", "07:00", "08:00", "09:00", "10:00", "11:00"]
    assert _labels(six, 20) == ["01 Jan 06:00", "09:00", "12:00", "15:00", "18:00", "21:00",
                                "02 Jan"]
    ticks = svg.time_ticks(six, six + timedelta(hours=20), NAIROBI)
    assert ticks[1][0] - ticks[0][0] == 3 * 3600  # POSIX seconds
    # Over days: local midnights (none before the first moment), the year named first.
    assert _labels(six, 24 * 6) == ["02 Jan 2024", "03 Jan", "04 Jan", "05 Jan", "06 Jan",
                                    "07 Jan"]
    days = svg.time_ticks(six, six + timedelta(days=6), NAIROBI)
    assert all(datetime.fromtimestamp(m, NAIROBI).hour == 0 for m, _t in days)
    assert _labels(six, 24 * 400)[:2] == ["Mar 2024", "May"]


def test_time_ticks_in_zones_off_the_hour_and_across_a_clock_change():
    ticks = svg.time_ticks(datetime(2024, 1, 1, 3, tzinfo=UTC),
                           datetime(2024, 1, 1, 9, tzinfo=UTC), ZoneInfo("Asia/Kolkata"))
    assert [t for _m, t in ticks][:3] == ["01 Jan 09:00", "10:00", "11:00"]  # UTC+5:30
    # London's clocks go forward at 01:00 on 31 March 2024: no 01:00, two hours to 03:00.
    london = _labels(datetime(2024, 3, 30, 20, tzinfo=UTC), 20, ZoneInfo("Europe/London"))
    assert london[:3] == ["30 Mar 21:00", "31 Mar", "03:00"]


def test_colour_map_ends_and_middle():
    assert svg.colour(svg.GREENS, 0) == svg.GREENS[0]
    assert svg.colour(svg.GREENS, 1) == svg.GREENS[-1]
    assert svg.colour(svg.GREENS, 0.5) == svg.GREENS[4]
    assert svg.colour(svg.GREENS, 2) == svg.GREENS[-1]  # clipped


def test_writer_draws_fast():
    """The reason the writer exists: all six plots of a large survey well under 50 ms."""
    import time

    ins = insights(verified={(s, f"Species {k}"): 10 * k for s in (1, 2) for k in range(30)},
                   cameras=[CameraOperation(n, f"S/CAM{n}", 1,
                                            first=datetime(2024, 1, 1, tzinfo=UTC),
                                            last=datetime(2024, 12, 31, tzinfo=UTC),
                                            days={date(2024, 1, 1) + timedelta(days=d)
                                                  for d in range(0, 366, 2)})
                            for n in range(40)])
    start = time.perf_counter()
    for plot in PLOTS.values():
        parse(plot.svg(ins).document())
    assert time.perf_counter() - start < 0.5  # matplotlib: several seconds
