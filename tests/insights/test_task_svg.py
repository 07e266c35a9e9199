"""The task page's and the classifier page's plots as written by insights.services.svg.

Built from hand-made TaskInsights and ClassifierInsights (no database): every plot must
parse as XML, escape user text (annotator, label and class names), and put its shapes
where the numbers say.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from insights.services import svg
from insights.services.classifier_aggregates import ClassifierInsights
from insights.services.classifier_plots import CLASSIFIER_PLOTS, MAX_CELLS
from insights.services.plotting import AI_COLOUR, VERIFIED_COLOUR, render
from insights.services.task_aggregates import AnnotatorRow, TaskInsights
from insights.services.task_plots import TASK_PLOTS
from tests.insights.svg_checks import (
    NASTY,
    NS,
    XSS,
    axes_box,
    boxes,
    moves,
    parse,
    placed_texts,
    start,
    texts,
)

H0 = datetime(2024, 5, 2, 6, tzinfo=UTC)


def person(name, clusters, measured=0, seconds=0.0, median=None, suggested=0, agreed=0,
           checked=0, kept=0):
    return AnnotatorRow(None, name, clusters, measured, seconds, median, H0, H0, suggested,
                        agreed, checked, kept)


def task_insights(hourly=((0, 2), (1, 3), (5, 5)), total=20, annotators=None) -> TaskInsights:
    """Clusters labelled in hours 0, 1 and 5 after H0 (2, 3 and 5 of them) of 20."""
    if annotators is None:
        annotators = [person("alice", 30, 30, 3600.0, 12.0, suggested=20, agreed=15),
                      person("bob", 10, 10, 3600.0, 8.5),
                      person(XSS, 5, suggested=4, agreed=1, checked=2, kept=1)]
    return TaskInsights(task=None, tz=ZoneInfo("Africa/Nairobi"), total=total,
                        labelled=sum(n for _h, n in hourly),
                        hourly=[(H0 + timedelta(hours=h), n) for h, n in hourly],
                        annotators=annotators)


def classifier_insights(threshold=0.5, other=XSS) -> ClassifierInsights:
    """Zebra and Lion clusters, and four of ``other``: a class the AI never answers."""
    label_rows = Counter({("Zebra", "Zebra", 0.9): 6, ("Zebra", "Lion", 0.7): 2,
                          ("Lion", "Lion", 0.8): 3, ("Lion", "Zebra", 0.3): 1,
                          ("Lion", "Lion", 0.2): 2, (other, "Zebra", 0.6): 4})
    cluster_rows = Counter()
    for (_label, suggestion, score), n in label_rows.items():
        cluster_rows[(suggestion, score)] += n
    return ClassifierInsights(task=None, classifier="Savanna", classes=["Zebra", "Lion", other],
                              threshold=threshold, label_rows=label_rows,
                              cluster_rows=cluster_rows)


def path_of(root, **attrs):
    """The d of the one path with these attributes (``dash`` for stroke-dasharray) that
    starts inside the axes' box (not a legend's line)."""
    left, top, right, bottom = axes_box(root)
    wanted = {k.replace("dash", "stroke-dasharray"): v for k, v in attrs.items()}
    found = [p.get("d") for p in root.iterfind(".//s:path", NS)
             if all(p.get(k) == v for k, v in wanted.items())]
    inside = [d for d in found
              if left <= start(d)[0] <= right and top <= start(d)[1] <= bottom]
    assert len(inside) == 1, found
    return inside[0]


# --- every plot ----------------------------------------------------------------------------
@pytest.mark.parametrize("plots,make", [(TASK_PLOTS, task_insights),
                                        (CLASSIFIER_PLOTS, classifier_insights)])
def test_every_plot_is_valid_svg_and_escapes_user_names(plots, make):
    ins = make()
    for slug, plot in plots.items():
        page = plot.svg(ins).svg("insight-plot")
        assert page.startswith('<svg class="insight-plot" ') and "<?xml" not in page, slug
        assert "<script" not in page and " id=" not in page, slug
        document, content_type = render(plot, ins, "svg")
        assert content_type == "image/svg+xml" and document.startswith(b"<?xml"), slug
        shown = texts(parse(document.decode()))
        if slug not in ("progress", "per-hour", "threshold"):  # no names on these
            assert any(XSS in t for t in shown), (slug, shown)


def test_names_with_quotes_and_control_characters_stay_text():
    ins = task_insights(annotators=[person(NASTY, 3, 3, 60.0, 20.0, 2, 1)])
    for slug in ("annotators", "agreement"):
        assert NASTY.replace("\x07", "") in texts(parse(TASK_PLOTS[slug].svg(ins).document()))
    shown = texts(parse(CLASSIFIER_PLOTS["confusion"].svg(
        classifier_insights(other=NASTY)).document()))
    assert NASTY.replace("\x07", "") in shown


def test_empty_insights_say_why():
    ins = task_insights(hourly=(), annotators=[])
    empty = ClassifierInsights(task=None, classifier=None, classes=[], threshold=0.0,
                               label_rows=Counter(), cluster_rows=Counter())
    for plots, made in ((TASK_PLOTS, ins), (CLASSIFIER_PLOTS, empty)):
        for slug, plot in plots.items():
            root = parse(plot.svg(made).document())
            shown = texts(root)
            assert len(shown) == 1 and shown[0].startswith(("No ", "Nobody ")), slug
            assert float(root.get("height").removesuffix("pt")) <= 0.8 * 72, slug


# --- the task page -------------------------------------------------------------------------
def test_progress_climbs_at_each_hour_end_to_the_clusters_labelled():
    root = parse(TASK_PLOTS["progress"].svg(task_insights()).document())
    left, _top, right, _bottom = axes_box(root)
    line = moves(path_of(root, stroke=VERIFIED_COLOUR, fill="none"))
    _x, twenty = start(path_of(root, stroke=AI_COLOUR, dash="5 2"))  # the task's clusters
    (_m, x0), (_m2, base) = line[:2]
    assert x0 == pytest.approx(left)  # from the first hour's start, at 0
    # By the ends of hours 0, 1 and 5: 2, 5 and 10 labelled; the axis runs six hours.
    assert [c for c, _v in line[2:]] == ["H", "V", "H", "V", "H", "V"]
    hour = (right - left) / 6
    assert [v for c, v in line[2:] if c == "H"] == pytest.approx(
        [left + hour, left + 2 * hour, right], abs=0.02)
    assert [(base - v) / (base - twenty) * 20 for c, v in line[2:] if c == "V"] == \
        pytest.approx([2, 5, 10], abs=0.01)
    assert "task clusters (20)" in texts(root)


def test_per_hour_fills_every_hour_quiet_ones_at_zero():
    root = parse(TASK_PLOTS["per-hour"].svg(task_insights()).document())
    left, _top, right, bottom = axes_box(root)
    area = path_of(root, fill=VERIFIED_COLOUR)
    assert area.endswith("Z")
    outline = moves(area)
    assert outline[:2] == [("M", pytest.approx(left)), ("M", pytest.approx(bottom))]
    hour = (right - left) / 6
    # Hours 0-5 hold 2, 3, 0, 0, 0, 5: the quiet run is one move along the baseline.
    assert [v for c, v in outline if c == "H"] == pytest.approx(
        [left + hour, left + 2 * hour, left + 5 * hour, right], abs=0.02)
    heights = [bottom - v for c, v in outline if c == "V"]
    assert [h / heights[0] * 2 for h in heights] == pytest.approx([2, 3, 0, 5, 0], abs=0.01)


def test_time_axis_is_in_the_task_zone():
    shown = texts(parse(TASK_PLOTS["per-hour"].svg(task_insights()).document()))
    assert "02 May 09:00" in shown  # 06:00 UTC is 09:00 in Nairobi
    assert "time (Africa/Nairobi)" in shown


def test_annotator_bars_are_as_long_as_their_speeds_with_their_notes():
    root = parse(TASK_PLOTS["annotators"].svg(task_insights()).document())
    bars = sorted(boxes(root, VERIFIED_COLOUR), key=lambda b: b[1])
    assert len(bars) == 2  # the third annotator has no measured time: no bar
    alice, bob = bars
    assert alice[2] == pytest.approx(3 * bob[2], rel=0.01)  # 30 against 10 an hour
    notes = [(x, y, t) for x, y, t in placed_texts(root) if "clusters, median" in t]
    assert [t for _x, _y, t in notes] == ["30 clusters, median 12.0 s",
                                          "10 clusters, median 8.5 s",
                                          "5 clusters, median –"]
    assert notes[0][0] == pytest.approx(alice[0] + alice[2] + 3, abs=0.02)  # at its end
    assert [t for t in texts(root) if t in ("alice", "bob", XSS)] == ["alice", "bob", XSS]


def test_agreement_bars_are_shares_of_suggested_clusters():
    root = parse(TASK_PLOTS["agreement"].svg(task_insights()).document())
    left, _top, right, _bottom = axes_box(root)
    bars = sorted(boxes(root, VERIFIED_COLOUR), key=lambda b: b[1])
    assert len(bars) == 2  # bob had no suggestion: not shown
    per_cent = (right - left) / 115
    assert [b[2] / per_cent for b in bars] == pytest.approx([75, 25], abs=0.05)
    shown = texts(root)
    assert "15/20" in shown and "1/4" in shown and "bob" not in shown


def test_kept_bars_are_shares_of_clusters_another_person_checked():
    rows = [person("alice", 30, checked=8, kept=6), person("bob", 10),
            person(XSS, 5, checked=4, kept=1)]
    root = parse(TASK_PLOTS["kept"].svg(task_insights(annotators=rows)).document())
    left, _top, right, _bottom = axes_box(root)
    bars = sorted(boxes(root, VERIFIED_COLOUR), key=lambda b: b[1])
    assert len(bars) == 2  # nobody checked bob's clusters: not shown
    per_cent = (right - left) / 115
    assert [b[2] / per_cent for b in bars] == pytest.approx([75, 25], abs=0.05)
    shown = texts(root)
    assert "6/8" in shown and "1/4" in shown and XSS in shown and "bob" not in shown


# --- the classifier page ---------------------------------------------------------------------
def test_precision_and_recall_bars_per_class():
    root = parse(CLASSIFIER_PLOTS["precision-recall"].svg(classifier_insights()).document())
    left, _top, right, _bottom = axes_box(root)
    width = right - left  # 0 to 100 %
    # Rows from the top: the XSS class (support 4, never answered: no bars), Lion, Zebra.
    precision = sorted((b for b in boxes(root, VERIFIED_COLOUR) if b[3] > 8),
                       key=lambda b: b[1])
    recall = sorted((b for b in boxes(root, AI_COLOUR) if b[3] > 8), key=lambda b: b[1])
    # Lion: 5 answered at 0.5, 3 agreed of 6 labelled; Zebra: 10 answered, 6 of 8.
    assert [b[2] / width for b in precision] == pytest.approx([0.6, 0.6], abs=0.001)
    assert [b[2] / width for b in recall] == pytest.approx([0.5, 0.75], abs=0.001)
    assert all(p[1] < r[1] for p, r in zip(precision, recall, strict=True))  # precision over
    names = [t for t in texts(root) if t.endswith(")") and not t.startswith("%")]
    assert names == [f"{XSS} (4)", "Lion (6)", "Zebra (8)"]


def test_confusion_cells_say_their_counts_where_they_belong():
    root = parse(CLASSIFIER_PLOTS["confusion"].svg(classifier_insights()).document())
    left, top, right, bottom = axes_box(root)
    cells = [p for p in root.iterfind(".//s:path", NS)
             if p.get("fill", "").startswith("#") and p.get("d").count("h") == 2]
    big = [p for p in cells if float(p.get("d").split("h")[1].split("v")[0]) > 20]
    assert len(big) == 9  # 3 human labels x 3 answers (Lion, Zebra, no answer)
    # Each count in its cell: rows XSS, Lion, Zebra; columns Lion, Zebra, (no answer).
    cw, ch = (right - left) / 3, (bottom - top) / 3
    counts = {(round((y - top) / ch - 0.5), round((x - left) / cw - 0.5)): t
              for x, y, t in placed_texts(root)
              if left < x < right and top < y < bottom}
    # Lion's no answers: one Zebra suggestion scoring 0.3 and two Lion ones 0.2.
    assert counts == {(0, 1): "4", (1, 0): "3", (1, 2): "3", (2, 0): "2", (2, 1): "6"}
    white = {t.text for t in root.iterfind(".//s:text", NS) if t.get("fill") == "#ffffff"}
    assert white == {"4", "6"}  # over half the largest count
    outlined = [p.get("d") for p in root.iterfind(".//s:path", NS)
                if p.get("stroke") == AI_COLOUR]
    assert len(outlined) == 2  # Lion answered Lion, Zebra answered Zebra
    corners = [v for d in sorted(outlined, key=start) for v in start(d)]
    assert corners == pytest.approx([left, top + ch, left + cw, top + 2 * ch], abs=0.02)
    shown = texts(root)
    assert "(no answer)" in shown and "human label" in shown
    assert "AI answer at threshold 0.5" in shown


def test_threshold_curves_a_line_a_class_with_gaps_where_nothing_is_answered():
    root = parse(CLASSIFIER_PLOTS["threshold"].svg(classifier_insights()).document())
    zebra, lion = svg.CYCLE[:2]  # Zebra is labelled most (8 clusters)

    def dots(colour):
        return [p for p in root.iterfind(".//s:path", NS)
                if p.get("fill") == colour and "a" in p.get("d")]

    # Precision needs an answer: none scores over 0.9 (Zebra) or over 0.8 (Lion).
    assert len(dots(zebra)) == 19 + 20 + 1  # precision, recall, the legend's
    assert len(dots(lion)) == 17 + 20 + 1
    dotted = [p.get("d") for p in root.iterfind(".//s:path", NS)
              if p.get("stroke-dasharray") == "1.5 2.5"]
    assert len(dotted) == 2  # the chosen threshold, on both panels
    assert {"precision (%)", "recall (%)", "Zebra", "Lion"} <= set(texts(root))


def test_months_of_hours_and_a_30_class_matrix_are_drawn_whole():
    """Large inputs (speed is the benchmark's job): valid SVG, and of a 30 x 30 confusion
    matrix the largest MAX_CELLS rows and columns drawn, each agreement outlined."""
    big = task_insights(hourly=[(h, 1 + h % 7) for h in range(0, 24 * 120, 1)], total=10**5,
                        annotators=[person(f"p{n}", 100 + n, 50, 3600.0, 9.0, 20, 10)
                                    for n in range(30)])
    rows = Counter({(f"C{a}", f"C{b}", 0.9): 1 + a + b for a in range(30) for b in range(30)})
    clusters = Counter()
    for (_l, s, score), n in rows.items():
        clusters[(s, score)] += n
    wide = ClassifierInsights(task=None, classifier=None, classes=[], threshold=0.3,
                              label_rows=rows, cluster_rows=clusters)
    for plots, ins in ((TASK_PLOTS, big), (CLASSIFIER_PLOTS, wide)):
        for plot in plots.values():
            parse(plot.svg(ins).document())
    root = parse(CLASSIFIER_PLOTS["confusion"].svg(wide).document())
    outlined = [p for p in root.iterfind(".//s:path", NS) if p.get("stroke") == AI_COLOUR]
    assert len(outlined) == MAX_CELLS < 30
