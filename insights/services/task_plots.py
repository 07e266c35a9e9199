"""Plots of a task's annotation page and of its classifier page (see plotting.Plot)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plotting import (
    AI_COLOUR,
    VERIFIED_COLOUR,
    Plot,
    empty,
    figure,
    fit,
    label,
    mpl,
    plot_dict,
    ratio_cell,
)
from .task_aggregates import TaskInsights

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
        return empty(fig, "No cluster of this task is labelled yet")
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


def hourly_table(ins: TaskInsights):
    return (["hour_start", "clusters_labelled"],
            [(hour.astimezone(ins.tz).isoformat(), n) for hour, n in ins.hourly])


def hourly_figure(ins: TaskInsights) -> Figure:
    """One filled outline over every hour from the first to the last (quiet hours at 0):
    a bar per hour would be thousands of shapes for a task labelled over months."""
    fig = figure(minimum=3.2)
    if not ins.hourly:
        return empty(fig, "No cluster of this task is labelled yet")
    ax = fig.add_subplot()
    first = ins.hourly[0][0]
    counts = [0] * (int((ins.hourly[-1][0] - first).total_seconds()) // 3600 + 1)
    for hour, n in ins.hourly:
        counts[int((hour - first).total_seconds()) // 3600] = n
    start = _days(first)
    ax.stairs(counts, [start + i / 24 for i in range(len(counts) + 1)], fill=True,
              color=VERIFIED_COLOUR)
    ax.yaxis.set_major_locator(mpl().MaxNLocator(integer=True))
    ax.set_ylabel("clusters labelled in the hour")
    _time_axis(ax, ins.tz)
    fit(fig, ylabel=True)
    return fig


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
        return empty(fig, "Nobody has labelled a cluster of this task yet")
    ax = fig.add_subplot()
    names = [label(r.name) for r in rows]
    speeds = [r.clusters_per_hour or 0 for r in rows]
    ax.barh(range(len(rows)), speeds, color=VERIFIED_COLOUR)
    for y, r in enumerate(rows):
        median = "–" if r.median_seconds is None else f"{r.median_seconds:.1f} s"
        ax.text(speeds[y], y, f" {r.clusters} clusters, median {median}", va="center",
                fontsize=7)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, max(max(speeds), 1) * 1.45)
    ax.set_xlabel("clusters per hour of measured labelling time")
    fit(fig, names)
    return fig


def agreement_table(ins: TaskInsights):
    return (["annotator", "clusters_labelled", "clusters_with_ai_suggestion",
             "agreed_with_suggestion", "agreement"],
            [(r.name, r.clusters, r.suggested, r.agreed, ratio_cell(r.agreement))
             for r in ins.annotators])


def agreement_figure(ins: TaskInsights) -> Figure:
    rows = [r for r in ins.annotators if r.suggested]
    fig = figure(len(rows), per_row=0.4)
    if not rows:
        return empty(fig, "No labelled cluster of this task carried an AI suggestion")
    ax = fig.add_subplot()
    names = [label(r.name) for r in rows]
    shares = [100 * r.agreement for r in rows]
    ax.barh(range(len(rows)), shares, color=VERIFIED_COLOUR)
    for y, r in enumerate(rows):
        ax.text(shares[y], y, f" {r.agreed}/{r.suggested}", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xlabel("% of clusters with an AI suggestion where the annotator gave that label")
    fit(fig, names)
    return fig


TASK_PLOTS = plot_dict(
    Plot("progress", "Progress",
         "Clusters labelled by the end of each hour, against the task's clusters.",
         progress_table, progress_figure),
    Plot("per-hour", "Clusters per hour",
         "Clusters labelled in each clock hour (all annotators together).",
         hourly_table, hourly_figure),
    Plot("annotators", "Throughput per annotator",
         "Clusters per hour of measured time (from a cluster being shown to its label being "
         "saved; pauses between clusters are not counted), clusters labelled and the median "
         "seconds per cluster.", annotators_table, annotators_figure),
    Plot("agreement", "Agreement with the AI",
         "Of each annotator's clusters that carried a classifier suggestion, the share where "
         "the annotator gave the suggested label. Each cluster has one person's labels per "
         "task, so this compares people with the machine, not with each other.",
         agreement_table, agreement_figure),
)
