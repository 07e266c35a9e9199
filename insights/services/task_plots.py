"""Plots of a task's annotation page (see plotting.Plot): ``svg`` draws the page and the
SVG download (insights.services.svg), ``draw`` the PNG download (matplotlib)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from . import svg
from .plotting import (
    AI_COLOUR,
    VERIFIED_COLOUR,
    WIDTH,
    Plot,
    empty,
    figure,
    fit,
    height,
    label,
    mpl,
    plot_dict,
    ratio_cell,
    short,
)
from .svg import Canvas, Entry
from .task_aggregates import TaskInsights

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NOTHING_LABELLED = "No cluster of this task is labelled yet"
HOUR = timedelta(hours=1)
DASHED = "5 2"
NO_ANNOTATORS = "Nobody has labelled a cluster of this task yet"
NO_SUGGESTIONS = "No labelled cluster of this task carried an AI suggestion"
SPEED_AXIS = "clusters per hour of measured labelling time"
AGREEMENT_AXIS = "% of clusters with an AI suggestion where the annotator gave that label"
NO_CHECKS = ("No labelled cluster of this task was checked by another person (launch the "
             "task at the AI check level)")
KEPT_AXIS = "% of clusters another person checked where the annotator's labels were kept"


def _time_axis(ax, tz) -> None:
    mdates = mpl().dates
    ax.xaxis_date(tz)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator(), tz=tz))


# --- progress ---------------------------------------------------------------------------
def progress_table(ins: TaskInsights):
    return (["hour_start", "labelled_in_hour", "labelled_by_hour_end", "task_clusters"],
            [(hour.astimezone(ins.tz).isoformat(), n, done, ins.total)
             for hour, n, done in ins.progress])


def _days(moment) -> float:
    """matplotlib's date number of an aware datetime (days since 1970, its default epoch),
    computed here: matplotlib converting thousands of datetimes one by one is slow."""
    return moment.timestamp() / 86400


def progress_figure(ins: TaskInsights) -> Figure:
    fig = figure(minimum=3.2)
    rows = ins.progress
    if not rows:
        return empty(fig, NOTHING_LABELLED)
    ax = fig.add_subplot()
    ends = [_days(hour) + 1 / 24 for hour, _n, _done in rows]
    ax.step([_days(rows[0][0]), *ends], [0, *[done for _h, _n, done in rows]], where="post",
            color=VERIFIED_COLOUR, label="labelled")
    ax.axhline(ins.total, color=AI_COLOUR, linestyle="--", label=f"task clusters ({ins.total})")
    ax.set_ylim(0, max(ins.total, rows[-1][2]) * 1.05 or 1)
    ax.yaxis.set_major_locator(mpl().MaxNLocator(integer=True))
    ax.set_ylabel("clusters labelled")
    _time_axis(ax, ins.tz)
    fit(fig, ylabel=True)
    ax.legend(loc="lower right")
    return fig


def _time_chart(ins: TaskInsights, top: float = 0.0) -> tuple[Canvas, svg.Frame]:
    """A plot over the task's labelling hours, x axis drawn: from the first hour's start
    to the last one's end (POSIX seconds), ticks on round times of the task's zone."""
    c, f = svg.chart(WIDTH, height(minimum=3.2), ylabel=True, top=top)
    first, last = ins.hourly[0][0], ins.hourly[-1][0] + HOUR
    f.x0, f.x1 = first.timestamp(), last.timestamp()
    svg.x_axis(c, f, svg.time_ticks(first, last, ins.tz), label=f"time ({ins.tz})")
    return c, f


def progress_svg(ins: TaskInsights) -> Canvas:
    rows = ins.progress
    size = (WIDTH, height(minimum=3.2))
    if not rows:
        return svg.empty(*size, NOTHING_LABELLED)
    legend, room = svg.legend_above(
        [Entry(VERIFIED_COLOUR, "labelled", "rule"),
         Entry(AI_COLOUR, f"task clusters ({ins.total})", "rule", DASHED)], WIDTH)
    c, f = _time_chart(ins, room)
    f.y1 = max(ins.total, rows[-1][2]) * 1.05 or 1.0
    # Clusters labelled by the end of each hour: 0 until the first hour's end.
    xs = [f.x(rows[0][0].timestamp())] + [f.x((hour + HOUR).timestamp()) for hour, _n, _d in rows]
    c.steps(xs, [f.y(0)] + [f.y(done) for _h, _n, done in rows], stroke=VERIFIED_COLOUR,
            width=1.5)
    c.line([(f.left, f.y(ins.total)), (f.right, f.y(ins.total))], stroke=AI_COLOUR,
           width=1.5, dash=DASHED)
    svg.spines(c, f)
    svg.y_axis(c, f, svg.number_ticks(0, f.y1, integer=True), label="clusters labelled")
    svg.legend(c, f.left, f.top - room, legend)
    return c


def hourly_table(ins: TaskInsights):
    return (["hour_start", "clusters_labelled"],
            [(hour.astimezone(ins.tz).isoformat(), n) for hour, n in ins.hourly])


def _hour_counts(ins: TaskInsights) -> list[int]:
    """Clusters labelled in every hour from the first to the last (quiet hours 0)."""
    first = ins.hourly[0][0]
    counts = [0] * (int((ins.hourly[-1][0] - first).total_seconds()) // 3600 + 1)
    for hour, n in ins.hourly:
        counts[int((hour - first).total_seconds()) // 3600] = n
    return counts


def hourly_figure(ins: TaskInsights) -> Figure:
    """One filled outline over every hour from the first to the last (quiet hours at 0):
    a bar per hour would be thousands of shapes for a task labelled over months."""
    fig = figure(minimum=3.2)
    if not ins.hourly:
        return empty(fig, NOTHING_LABELLED)
    ax = fig.add_subplot()
    counts = _hour_counts(ins)
    start = _days(ins.hourly[0][0])
    ax.stairs(counts, [start + i / 24 for i in range(len(counts) + 1)], fill=True,
              color=VERIFIED_COLOUR)
    ax.yaxis.set_major_locator(mpl().MaxNLocator(integer=True))
    ax.set_ylabel("clusters labelled in the hour")
    _time_axis(ax, ins.tz)
    fit(fig, ylabel=True)
    return fig


def hourly_svg(ins: TaskInsights) -> Canvas:
    """One filled staircase over every hour, as ``hourly_figure``."""
    if not ins.hourly:
        return svg.empty(WIDTH, height(minimum=3.2), NOTHING_LABELLED)
    counts = _hour_counts(ins)
    c, f = _time_chart(ins)
    f.y1 = 1.05 * max(counts) or 1.0
    edges = [f.x(f.x0 + 3600 * i) for i in range(len(counts) + 1)]
    c.steps([edges[0], *edges], [f.y(0), *map(f.y, counts), f.y(0)], fill=VERIFIED_COLOUR)
    svg.spines(c, f)
    svg.y_axis(c, f, svg.number_ticks(0, f.y1, integer=True),
               label="clusters labelled in the hour")
    return c


# --- annotators ---------------------------------------------------------------------------
def annotators_table(ins: TaskInsights):
    return (["annotator", "clusters_labelled", "measured_clusters", "measured_hours",
             "clusters_per_hour", "median_seconds_per_cluster", "first_label", "last_label"],
            [(r.name, r.clusters, r.measured, round(r.seconds / 3600, 3),
              "" if r.clusters_per_hour is None else r.clusters_per_hour,
              "" if r.median_seconds is None else round(r.median_seconds, 1),
              r.first.astimezone(ins.tz).isoformat() if r.first else "",
              r.last.astimezone(ins.tz).isoformat() if r.last else "")
             for r in ins.annotators])


def annotators_figure(ins: TaskInsights) -> Figure:
    rows = ins.annotators
    fig = figure(len(rows), per_row=0.4)
    if not rows:
        return empty(fig, NO_ANNOTATORS)
    ax = fig.add_subplot()
    names = [label(r.name) for r in rows]
    speeds = [r.clusters_per_hour or 0 for r in rows]
    ax.barh(range(len(rows)), speeds, color=VERIFIED_COLOUR)
    for y, r in enumerate(rows):
        ax.text(speeds[y], y, f" {r.clusters} clusters, median {_median_text(r)}",
                va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(speeds), 1) * 1.45)
    ax.set_xlabel(SPEED_AXIS)
    fit(fig, names)
    return fig


def _noted_bars(names: list[str], values: list[float], notes: list[str], x1: float,
                xlabel: str) -> Canvas:
    """A bar per name (the first on top), each with a note at its end."""
    c, f = svg.chart(WIDTH, height(len(names), per_row=0.4), left=names)
    f.x1, f.y0, f.y1 = x1, len(names) - 0.5, -0.5
    svg.hbars(c, f, values, VERIFIED_COLOUR)
    for i, (value, note) in enumerate(zip(values, notes, strict=True)):
        c.text(f.x(value) + 3, f.y(i), note, size=7)
    svg.spines(c, f)
    svg.x_axis(c, f, svg.number_ticks(0, x1, room=f.width), label=xlabel)
    svg.y_axis(c, f, list(enumerate(names)))
    return c


def _median_text(row) -> str:
    return "–" if row.median_seconds is None else f"{row.median_seconds:.1f} s"


def annotators_svg(ins: TaskInsights) -> Canvas:
    rows = ins.annotators
    if not rows:
        return svg.empty(WIDTH, height(per_row=0.4), NO_ANNOTATORS)
    speeds = [r.clusters_per_hour or 0 for r in rows]
    return _noted_bars([short(r.name) for r in rows], speeds,
                       [f"{r.clusters} clusters, median {_median_text(r)}" for r in rows],
                       max(max(speeds), 1) * 1.45, SPEED_AXIS)


def agreement_table(ins: TaskInsights):
    return (["annotator", "clusters_labelled", "clusters_with_ai_suggestion",
             "agreed_with_suggestion", "agreement"],
            [(r.name, r.clusters, r.suggested, r.agreed, ratio_cell(r.agreement))
             for r in ins.annotators])


def _share_figure(rows, part: str, whole: str, xlabel: str, nothing: str) -> Figure:
    """A bar per annotator: ``part`` of ``whole`` (AnnotatorRow counts) as a share."""
    rows = [r for r in rows if getattr(r, whole)]
    fig = figure(len(rows), per_row=0.4)
    if not rows:
        return empty(fig, nothing)
    ax = fig.add_subplot()
    names = [label(r.name) for r in rows]
    shares = [100 * getattr(r, part) / getattr(r, whole) for r in rows]
    ax.barh(range(len(rows)), shares, color=VERIFIED_COLOUR)
    for y, r in enumerate(rows):
        ax.text(shares[y], y, f" {getattr(r, part)}/{getattr(r, whole)}", va="center",
                fontsize=7)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xlabel(xlabel)
    fit(fig, names)
    return fig


def _share_svg(rows, part: str, whole: str, xlabel: str, nothing: str) -> Canvas:
    rows = [r for r in rows if getattr(r, whole)]
    if not rows:
        return svg.empty(WIDTH, height(per_row=0.4), nothing)
    return _noted_bars([short(r.name) for r in rows],
                       [100 * getattr(r, part) / getattr(r, whole) for r in rows],
                       [f"{getattr(r, part)}/{getattr(r, whole)}" for r in rows], 115, xlabel)


def agreement_figure(ins: TaskInsights) -> Figure:
    return _share_figure(ins.annotators, "agreed", "suggested", AGREEMENT_AXIS, NO_SUGGESTIONS)


def agreement_svg(ins: TaskInsights) -> Canvas:
    return _share_svg(ins.annotators, "agreed", "suggested", AGREEMENT_AXIS, NO_SUGGESTIONS)


def kept_table(ins: TaskInsights):
    return (["annotator", "clusters_labelled", "checked_by_another_person",
             "labels_kept_on_check", "kept_share"],
            [(r.name, r.clusters, r.checked, r.kept, ratio_cell(r.kept_share))
             for r in ins.annotators])


def kept_figure(ins: TaskInsights) -> Figure:
    return _share_figure(ins.annotators, "kept", "checked", KEPT_AXIS, NO_CHECKS)


def kept_svg(ins: TaskInsights) -> Canvas:
    return _share_svg(ins.annotators, "kept", "checked", KEPT_AXIS, NO_CHECKS)


TASK_PLOTS = plot_dict(
    Plot("progress", "Progress",
         "Clusters labelled by the end of each hour, against the task's clusters.",
         progress_table, progress_figure, progress_svg),
    Plot("per-hour", "Clusters per hour",
         "Clusters labelled in each clock hour (all annotators together).",
         hourly_table, hourly_figure, hourly_svg),
    Plot("annotators", "Throughput per annotator",
         "Clusters per hour of measured time (from a cluster being shown to its label being "
         "saved; pauses between clusters are not counted), clusters labelled and the median "
         "seconds per cluster.", annotators_table, annotators_figure, annotators_svg),
    Plot("agreement", "Agreement with the AI",
         "Of each annotator's clusters that carried a classifier suggestion, the share where "
         "the annotator gave the suggested label (a cluster queued for the AI check counts "
         "as a disagreement, whatever the check did to its labels).",
         agreement_table, agreement_figure, agreement_svg),
    Plot("kept", "Kept on check",
         "Of each annotator's clusters that another person checked at the AI check level, "
         "the share where the checker kept the annotator's labels (rejected the AI) rather "
         "than accepting the AI's label or giving others. Only clusters where the annotator "
         "and the AI disagreed are checked, so this is agreement between people on the hard "
         "cases, not on a random sample.", kept_table, kept_figure, kept_svg),
)
