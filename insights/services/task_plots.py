"""Charts of a task's annotation page: a Vega-Lite spec each (see insights.services.charts)."""

from __future__ import annotations

from .charts import (
    AI_COLOUR,
    DATA,
    ROW,
    VERIFIED_COLOUR,
    WIDTH,
    Chart,
    alt,
    chart,
    chart_dict,
    empty,
    finish,
    legend_top,
    names,
    ratio_cell,
    template,
    time_tip,
    tip,
    utc_time,
    wall_ms_many,
    zoom_x,
)
from .task_aggregates import TaskInsights

NOTHING_LABELLED = "No cluster of this task is labelled yet"
NO_ANNOTATORS = "Nobody has labelled a cluster of this task yet"
NO_SUGGESTIONS = "No labelled cluster of this task carried an AI suggestion"
SPEED_AXIS = "clusters per hour of measured labelling time"
AGREEMENT_AXIS = "% of clusters with an AI suggestion where the annotator gave that label"
NO_CHECKS = ("No labelled cluster of this task was checked by another person (launch the "
             "task at the AI check level)")
KEPT_AXIS = "% of clusters another person checked where the annotator's labels were kept"
# --- progress ---------------------------------------------------------------------------
def progress_table(ins: TaskInsights):
    return (["hour_start", "labelled_in_hour", "labelled_by_hour_end", "task_clusters"],
            [(hour.astimezone(ins.tz).isoformat(), n, done, ins.total)
             for hour, n, done in ins.progress])


def progress_spec(ins: TaskInsights) -> dict:
    """Clusters labelled by the end of each hour (a staircase from 0 at the first hour's
    start), against the task's clusters (dashed)."""
    rows = ins.progress
    if not rows:
        return empty(NOTHING_LABELLED)
    start = rows[0][0].timestamp()
    times = wall_ms_many([start] + [hour.timestamp() + 3600 for hour, _n, _d in rows], ins.tz)
    data = [{"time": t, "done": done}
            for t, done in zip(times, [0] + [done for _h, _n, done in rows], strict=True)]
    total = [{"total": ins.total, "series": f"task clusters ({ins.total})"}]
    return finish(_progress(str(ins.tz)), **{DATA: data, "total": total})


@template
def _progress(tz: str):
    a = alt()
    scale = a.Scale(range=[VERIFIED_COLOUR, AI_COLOUR])
    colour = a.Color("series", type="nominal", legend=legend_top(), scale=scale)
    # The rows carry no series name: it is added here, once, in the browser.
    steps = chart().transform_calculate(series="'labelled'").mark_line(
        interpolate="step-after", strokeWidth=1.5).encode(
        x=utc_time(f"time ({tz})", field="time"),
        y=a.Y("done", type="quantitative", axis=a.Axis(title="clusters labelled",
                                                       tickMinStep=1)),
        color=colour, tooltip=[time_tip("time", "by"),
                              tip("done", "quantitative", title="clusters labelled")],
    ).add_params(zoom_x())
    target = chart("total").mark_rule(strokeDash=[5, 2], strokeWidth=1.5).encode(
        y=a.Y("total", type="quantitative"), color=colour,
        tooltip=[tip("total", "quantitative", title="task clusters")])
    return a.layer(steps, target).properties(width=WIDTH, height=220)


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


def hourly_spec(ins: TaskInsights) -> dict:
    """One filled staircase over every hour from the first to the last (quiet hours at 0):
    a bar per hour would be thousands of shapes for a task labelled over months."""
    if not ins.hourly:
        return empty(NOTHING_LABELLED)
    counts = _hour_counts(ins)
    first = ins.hourly[0][0]
    # A point where the count changes (a step holds until the next): quiet stretches are
    # one point, not one an hour.
    changes = [i for i, n in enumerate(counts) if i == 0 or n != counts[i - 1]]
    changes.append(len(counts))  # the last hour's end: its step is drawn whole
    times = wall_ms_many([first.timestamp() + 3600 * i for i in changes], ins.tz)
    data = [{"time": t, "clusters": counts[min(i, len(counts) - 1)]}
            for t, i in zip(times, changes, strict=True)]
    return finish(_hourly(str(ins.tz)), **{DATA: data})


@template
def _hourly(tz: str):
    a = alt()
    return chart().mark_area(interpolate="step-after", color=VERIFIED_COLOUR).encode(
        x=utc_time(f"time ({tz})", field="time"),
        y=a.Y("clusters", type="quantitative",
              axis=a.Axis(title="clusters labelled in the hour", tickMinStep=1)),
        tooltip=[time_tip("time", "hour from"), tip("clusters", "quantitative")],
    ).add_params(zoom_x()).properties(width=WIDTH, height=220)


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


def _median_text(row) -> str:
    return "–" if row.median_seconds is None else f"{row.median_seconds:.1f} s"


def _noted_bars(rows: list[dict], room: float, xlabel: str) -> dict:
    """A bar per name (``rows``: name, value, note; the first on top), each noted at its
    end; ``room``: where the x axis ends (past the longest bar, for its note)."""
    return finish(_bars(xlabel), **{DATA: rows, "room": [{"value": room}]})


@template
def _bars(xlabel: str):
    a = alt()
    y = a.Y("name", type="nominal", sort=None, axis=names())
    x = a.X("value", type="quantitative", axis=a.Axis(title=xlabel))
    bars = chart().mark_bar(color=VERIFIED_COLOUR).encode(
        x=x, y=y, tooltip=[tip("name"), tip("value", "quantitative", title=xlabel,
                                             format=".3~f"), tip("note")])
    notes = chart().mark_text(align="left", dx=3, fontSize=10).encode(
        x=x, y=y, text=a.Text("note", type="nominal"))
    room = chart("room").mark_point(opacity=0).encode(x=x)  # the axis' end
    return a.layer(bars, notes, room).properties(width=WIDTH, height=a.Step(ROW + 4))


def annotators_spec(ins: TaskInsights) -> dict:
    rows = ins.annotators
    if not rows:
        return empty(NO_ANNOTATORS)
    speeds = [r.clusters_per_hour or 0 for r in rows]
    return _noted_bars([{"name": r.name, "value": speed,
                         "note": f"{r.clusters} clusters, median {_median_text(r)}"}
                        for r, speed in zip(rows, speeds, strict=True)],
                       max(max(speeds), 1) * 1.45, SPEED_AXIS)


def agreement_table(ins: TaskInsights):
    return (["annotator", "clusters_labelled", "clusters_with_ai_suggestion",
             "agreed_with_suggestion", "agreement"],
            [(r.name, r.clusters, r.suggested, r.agreed, ratio_cell(r.agreement))
             for r in ins.annotators])


def _shares(rows, part: str, whole: str, xlabel: str, nothing: str) -> dict:
    """A bar per annotator: ``part`` of ``whole`` (AnnotatorRow counts) as a share."""
    rows = [r for r in rows if getattr(r, whole)]
    if not rows:
        return empty(nothing)
    return _noted_bars([{"name": r.name, "value": 100 * getattr(r, part) / getattr(r, whole),
                         "note": f"{getattr(r, part)}/{getattr(r, whole)}"} for r in rows],
                       115, xlabel)


def agreement_spec(ins: TaskInsights) -> dict:
    return _shares(ins.annotators, "agreed", "suggested", AGREEMENT_AXIS, NO_SUGGESTIONS)


def kept_table(ins: TaskInsights):
    return (["annotator", "clusters_labelled", "checked_by_another_person",
             "labels_kept_on_check", "kept_share"],
            [(r.name, r.clusters, r.checked, r.kept, ratio_cell(r.kept_share))
             for r in ins.annotators])


def kept_spec(ins: TaskInsights) -> dict:
    return _shares(ins.annotators, "kept", "checked", KEPT_AXIS, NO_CHECKS)


TASK_PLOTS = chart_dict(
    Chart("progress", "Progress",
          "Clusters labelled by the end of each hour, against the task's clusters. Drag or "
          "scroll on the chart to move or zoom in time.", progress_table, progress_spec),
    Chart("per-hour", "Clusters per hour",
          "Clusters labelled in each clock hour (all annotators together).",
          hourly_table, hourly_spec),
    Chart("annotators", "Throughput per annotator",
          "Clusters per hour of measured time (from a cluster being shown to its label being "
          "saved; pauses between clusters are not counted), clusters labelled and the median "
          "seconds per cluster.", annotators_table, annotators_spec),
    Chart("agreement", "Agreement with the AI",
          "Of each annotator's clusters that carried a classifier suggestion, the share where "
          "the annotator gave the suggested label (a cluster queued for the AI check counts "
          "as a disagreement, whatever the check did to its labels).",
          agreement_table, agreement_spec),
    Chart("kept", "Kept on check",
          "Of each annotator's clusters that another person checked at the AI check level, "
          "the share where the checker kept the annotator's labels (rejected the AI) rather "
          "than accepting the AI's label or giving others. Only clusters where the annotator "
          "and the AI disagreed are checked, so this is agreement between people on the hard "
          "cases, not on a random sample.", kept_table, kept_spec),
)
