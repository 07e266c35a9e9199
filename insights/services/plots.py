"""The survey insights page's plots, drawn on the server.

Each plot is a ``Plot`` (insights.services.plotting): a title, a note saying what is
counted, ``table`` (the CSV's columns and rows), ``draw`` (the matplotlib figure: the
PNG download) and ``svg`` (the same plot written by insights.services.svg: the page and
the SVG download), all from one ``SurveyInsights``. The page's first view after the data
changed draws all six, so they are written directly, not through matplotlib.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from . import svg
from .aggregates import ALL_SITES, SurveyInsights
from .plotting import (
    AI_COLOUR,
    GAP_COLOUR,
    MAX_SERIES,
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
    short,
)
from .svg import Canvas, Entry

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NO_DETECTIONS = "No species detections for these filters"


def _site_name(ins: SurveyInsights, site_id) -> str:
    return ins.sites.get(site_id, ("?",))[0]


# --- species counts ----------------------------------------------------------------------
def species_table(ins: SurveyInsights):
    rows = []
    verified, ai = Counter(), Counter()
    for (_site, species), n in ins.verified.items():
        verified[species] += n
    for (_site, species), n in ins.ai_only.items():
        ai[species] += n
    for species in ins.species:
        rows.append((ALL_SITES, species, verified[species], ai[species]))
    for site_id, (name, _lat, _lon) in ins.sites.items():
        for species in ins.species:
            v, a = ins.verified[(site_id, species)], ins.ai_only[(site_id, species)]
            if v or a:
                rows.append((name, species, v, a))
    return ["site", "species", "verified_detections", "ai_only_detections"], rows


def species_figure(ins: SurveyInsights) -> Figure:
    _cols, rows = species_table(ins)
    overall = [r for r in rows if r[0] == ALL_SITES]
    fig = figure(len(overall))
    if not overall:
        return empty(fig, "No species detections for these filters")
    ax = fig.add_subplot()
    names = [label(r[1]) for r in overall][::-1]
    verified = [r[2] for r in overall][::-1]
    ai = [r[3] for r in overall][::-1]
    y = range(len(names))
    ax.barh(y, verified, color=VERIFIED_COLOUR, label="verified")
    ax.barh(y, ai, left=verified, color=AI_COLOUR, label="AI-only")
    ax.set_yticks(list(y), names)
    fit(fig, names)
    ax.set_xlabel("detections (clusters)")
    ax.legend(loc="lower right")
    return fig


def species_svg(ins: SurveyInsights) -> Canvas:
    _cols, rows = species_table(ins)
    overall = [r for r in rows if r[0] == ALL_SITES]
    size = (WIDTH, height(len(overall)))
    if not overall:
        return svg.empty(*size, NO_DETECTIONS)
    names = [short(r[1]) for r in overall]
    legend, room = svg.legend_above([Entry(VERIFIED_COLOUR, "verified"),
                                     Entry(AI_COLOUR, "AI-only")], WIDTH)
    c, f = svg.chart(*size, left=names, top=room)
    f.x1 = 1.05 * max(r[2] + r[3] for r in overall) or 1.0
    f.y0, f.y1 = len(names) - 0.5, -0.5  # the first species on top
    verified = [r[2] for r in overall]
    svg.hbars(c, f, verified, VERIFIED_COLOUR)
    svg.hbars(c, f, [r[3] for r in overall], AI_COLOUR, starts=verified)
    svg.spines(c, f)
    svg.x_axis(c, f, svg.number_ticks(0, f.x1, integer=True, room=f.width),
               label="detections (clusters)")
    svg.y_axis(c, f, list(enumerate(names)))
    svg.legend(c, f.left, f.top - room, legend)
    return c


def species_sites_figure(ins: SurveyInsights) -> Figure:
    sites = [(sid, name) for sid, (name, _a, _b) in ins.sites.items()
             if any(ins.verified[(sid, s)] or ins.ai_only[(sid, s)] for s in ins.species)]
    species = ins.species
    fig = figure(len(species), per_row=0.35)
    if not sites or not species:
        return empty(fig, "No species detections for these filters")
    ax = fig.add_subplot()
    grid = [[ins.verified[(sid, s)] for sid, _n in sites] for s in species]
    image = ax.imshow(grid, aspect="auto", cmap="Greens")
    dark = max(max(row) for row in grid) / 2
    for i, s in enumerate(species):
        for j, (sid, _n) in enumerate(sites):
            v, a = ins.verified[(sid, s)], ins.ai_only[(sid, s)]
            if v or a:
                ax.text(j, i, f"{v}" + (f"+{a}" if a else ""), ha="center", va="center",
                        fontsize=7, color="white" if v > dark else "black")
    ax.set_yticks(range(len(species)), [label(s) for s in species])
    ax.set_xticks(range(len(sites)), [label(n) for _sid, n in sites], rotation=45, ha="right")
    fit(fig, [label(s) for s in species], [label(n) for _sid, n in sites])
    fig.colorbar(image, ax=ax, label="verified detections (cell: verified+AI-only)")
    return fig


def species_sites_svg(ins: SurveyInsights) -> Canvas:
    sites = [(sid, name) for sid, (name, _a, _b) in ins.sites.items()
             if any(ins.verified[(sid, s)] or ins.ai_only[(sid, s)] for s in ins.species)]
    species = ins.species
    size = (WIDTH, height(len(species), per_row=0.35))
    if not sites or not species:
        return svg.empty(*size, NO_DETECTIONS)
    grid = [[ins.verified[(sid, s)] for sid, _n in sites] for s in species]
    names, site_names = [short(s) for s in species], [short(n) for _sid, n in sites]

    def texts(i, j, share):
        v, a = grid[i][j], ins.ai_only[(sites[j][0], species[i])]
        if v or a:
            return f"{v}" + (f"+{a}" if a else ""), "#ffffff" if share > 0.5 else svg.INK
        return None

    return svg.heatmap_chart(size, grid, names, site_names, svg.GREENS, texts,
                             "verified detections (cell: verified+AI-only)")


# --- activity ------------------------------------------------------------------------------
def activity_table(ins: SurveyInsights):
    rows = [(species, hour, counts[hour])
            for species, counts in sorted(ins.activity.items(), key=lambda kv: kv[0].casefold())
            for hour in range(24)]
    return ["species", "hour", "independent_detections"], rows


def activity_figure(ins: SurveyInsights) -> Figure:
    fig = figure(minimum=3.2)
    if not ins.activity:
        return empty(fig, "No timed detections for these filters")
    ax = fig.add_subplot()
    ranked = sorted(ins.activity.items(), key=lambda kv: (-sum(kv[1]), kv[0].casefold()))
    if len(ranked) == 1:
        species, counts = ranked[0]
        ax.bar(range(24), counts, width=0.9, color=VERIFIED_COLOUR, label=label(species))
    else:
        for species, counts in ranked[:MAX_SERIES]:
            ax.plot(range(24), counts, marker="o", markersize=3, label=label(species))
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlim(-0.5, 23.5)
    ax.set_xlabel(f"hour of day ({ins.survey.timezone})")
    ax.set_ylabel("independent detections")
    fit(fig, ylabel=True)
    ax.legend(fontsize=7, ncols=2)
    return fig


def activity_svg(ins: SurveyInsights) -> Canvas:
    size = (WIDTH, height(minimum=3.2))
    if not ins.activity:
        return svg.empty(*size, "No timed detections for these filters")
    ranked = sorted(ins.activity.items(), key=lambda kv: (-sum(kv[1]), kv[0].casefold()))
    shown = ranked[:1] if len(ranked) == 1 else ranked[:MAX_SERIES]
    bars = len(shown) == 1
    entries = [Entry(VERIFIED_COLOUR if bars else svg.CYCLE[k], short(species),
                     "bar" if bars else "line") for k, (species, _c) in enumerate(shown)]
    legend, room = svg.legend_above(entries, WIDTH)
    c, f = svg.chart(*size, ylabel=True, top=room)
    f.x0, f.x1 = -0.5, 23.5
    f.y1 = 1.05 * max(max(counts) for _s, counts in shown) or 1.0
    for entry, (_species, counts) in zip(entries, shown, strict=True):
        if bars:
            for hour, n in enumerate(counts):
                if n:
                    c.rect(f.x(hour - 0.45), f.y(n), f.x(hour + 0.45) - f.x(hour - 0.45),
                           f.y(0) - f.y(n), entry.colour)
            continue
        svg.series(c, [(f.x(hour), f.y(n)) for hour, n in enumerate(counts)], entry.colour)
    svg.spines(c, f)
    svg.x_axis(c, f, [(h, str(h)) for h in range(0, 24, 2)],
               label=f"hour of day ({ins.survey.timezone})")
    svg.y_axis(c, f, svg.number_ticks(0, f.y1, integer=True), label="independent detections")
    svg.legend(c, f.left, f.top - room, legend)
    return c


# --- detection rate -------------------------------------------------------------------------
def rate(detections: int, trap_nights: int) -> float | None:
    """Independent detections per 100 trap-nights (None without effort)."""
    return round(100 * detections / trap_nights, 3) if trap_nights else None


def detection_rate_table(ins: SurveyInsights):
    rows = []
    total_nights = sum(ins.trap_nights.values())
    species = sorted({s for _site, s in ins.independent}, key=str.casefold)
    for s in species:
        n = sum(v for (_site, sp), v in ins.independent.items() if sp == s)
        rows.append((ALL_SITES, s, n, total_nights, rate(n, total_nights)))
    for site_id, (name, _lat, _lon) in ins.sites.items():
        nights = ins.trap_nights.get(site_id, 0)
        for s in species:
            n = ins.independent[(site_id, s)]
            rows.append((name, s, n, nights, rate(n, nights)))
    return ["site", "species", "independent_detections", "trap_nights",
            "per_100_trap_nights"], rows


def detection_rate_figure(ins: SurveyInsights) -> Figure:
    _cols, rows = detection_rate_table(ins)
    columns = [ALL_SITES] + [name for sid, (name, _a, _b) in ins.sites.items()
                             if ins.trap_nights.get(sid)]
    species = sorted({r[1] for r in rows}, key=str.casefold)
    fig = figure(len(species), per_row=0.35)
    if not species:
        return empty(fig, "No independent detections for these filters")
    values = {(r[0], r[1]): r[4] for r in rows}
    grid = [[values.get((c, s)) or 0.0 for c in columns] for s in species]
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap="YlOrBr")
    for i, s in enumerate(species):
        for j, c in enumerate(columns):
            if values.get((c, s)):
                ax.text(j, i, f"{values[(c, s)]:.3g}", ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(species)), [label(s) for s in species])
    ax.set_xticks(range(len(columns)), [label(c) for c in columns], rotation=45, ha="right")
    fit(fig, [label(s) for s in species], [label(c) for c in columns])
    fig.colorbar(image, ax=ax, label="independent detections per 100 trap-nights")
    return fig


def detection_rate_svg(ins: SurveyInsights) -> Canvas:
    _cols, rows = detection_rate_table(ins)
    columns = [ALL_SITES] + [name for sid, (name, _a, _b) in ins.sites.items()
                             if ins.trap_nights.get(sid)]
    species = sorted({r[1] for r in rows}, key=str.casefold)
    size = (WIDTH, height(len(species), per_row=0.35))
    if not species:
        return svg.empty(*size, "No independent detections for these filters")
    values = {(r[0], r[1]): r[4] for r in rows}
    grid = [[values.get((col, s)) or 0.0 for col in columns] for s in species]
    names, column_names = [short(s) for s in species], [short(col) for col in columns]

    def texts(i, j, _share):
        value = values.get((columns[j], species[i]))
        return (f"{value:.3g}", svg.INK) if value else None

    return svg.heatmap_chart(size, grid, names, column_names, svg.YLORBR, texts,
                             "independent detections per 100 trap-nights")


# --- camera operation ----------------------------------------------------------------------
def _spans(days) -> list[tuple]:
    """Consecutive runs of days as (first, last)."""
    runs = []
    for day in sorted(days):
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [tuple(r) for r in runs]


def operation_table(ins: SurveyInsights):
    rows = []
    for cam in ins.cameras:
        site = _site_name(ins, cam.site_id)
        for first, last in _spans(cam.days):
            rows.append((site, cam.path, "working", first.isoformat(), last.isoformat(),
                         (last - first).days + 1))
        for start, end in cam.gaps:
            rows.append((site, cam.path, "gap", start.astimezone(ins.tz).isoformat(),
                         end.astimezone(ins.tz).isoformat(),
                         round((end - start).total_seconds() / 86400, 2)))
    return ["site", "camera", "kind", "from", "to", "days"], rows


def operation_figure(ins: SurveyInsights) -> Figure:
    cameras = [c for c in ins.cameras if c.first is not None]
    fig = figure(len(cameras), per_row=0.3)
    if not cameras:
        return empty(fig, "No timed images for these filters")
    mdates = mpl().dates
    ax = fig.add_subplot()
    for y, cam in enumerate(cameras):
        working = [(mdates.date2num(a), (b - a).days + 1) for a, b in _spans(cam.days)]
        ax.broken_barh(working, (y - 0.35, 0.7), color=VERIFIED_COLOUR)
        gaps = [(mdates.date2num(s.astimezone(ins.tz)),
                 (e - s).total_seconds() / 86400) for s, e in cam.gaps]
        if gaps:
            ax.broken_barh(gaps, (y - 0.15, 0.3), color=GAP_COLOUR)
    ax.set_yticks(range(len(cameras)), [label(c.path) for c in cameras])
    fit(fig, [label(c.path) for c in cameras], title=True)
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.set_title(f"working days (green); gaps over {ins.gap_days:g} days flagged (red)",
                 fontsize=9)
    return fig


def _local_day(moment, tz) -> float:
    """A moment as a day ordinal with the fraction of its local day (the date axis)."""
    local = moment.astimezone(tz)
    return local.toordinal() + (local.hour * 3600 + local.minute * 60 + local.second) / 86400


def operation_svg(ins: SurveyInsights) -> Canvas:
    cameras = [c for c in ins.cameras if c.first is not None]
    size = (WIDTH, height(len(cameras), per_row=0.3))
    if not cameras:
        return svg.empty(*size, "No timed images for these filters")
    names = [short(cam.path) for cam in cameras]
    c, f = svg.chart(*size, left=names, title=True)
    first = min(cam.first.astimezone(ins.tz).date() for cam in cameras)
    last = max(cam.last.astimezone(ins.tz).date() for cam in cameras)
    pad = 0.05 * (last.toordinal() + 1 - first.toordinal())
    f.x0, f.x1 = first.toordinal() - pad, last.toordinal() + 1 + pad
    f.y0, f.y1 = len(cameras) - 0.5, -0.5  # the first camera on top
    for y, cam in enumerate(cameras):
        for a, b in _spans(cam.days):
            c.rect(f.x(a.toordinal()), f.y(y - 0.35), f.x(b.toordinal() + 1) - f.x(a.toordinal()),
                   f.y(y + 0.35) - f.y(y - 0.35), VERIFIED_COLOUR)
        for start, end in cam.gaps:
            x0, x1 = f.x(_local_day(start, ins.tz)), f.x(_local_day(end, ins.tz))
            c.rect(x0, f.y(y - 0.15), x1 - x0, f.y(y + 0.15) - f.y(y - 0.15), GAP_COLOUR)
    svg.spines(c, f)
    svg.x_axis(c, f, svg.date_ticks(first, last))
    svg.y_axis(c, f, list(enumerate(names)))
    c.text(f.left + f.width / 2, f.top - 8, f"working days (green); gaps over {ins.gap_days:g} "
           "days flagged (red)", anchor="middle", middle=False)
    return c


# --- site map ----------------------------------------------------------------------------
def map_table(ins: SurveyInsights):
    counts = Counter()
    for (site_id, _species), n in ins.independent.items():
        counts[site_id] += n
    rows = [(name, lat, lon, counts[sid]) for sid, (name, lat, lon) in ins.sites.items()]
    return ["site", "latitude", "longitude", "independent_detections"], rows


def map_figure(ins: SurveyInsights) -> Figure:
    _cols, rows = map_table(ins)
    placed = [r for r in rows if r[1] is not None and r[2] is not None]
    fig = mpl().Figure(figsize=(WIDTH, 5.5))
    if not placed:
        return empty(fig, "No site has coordinates yet")
    ax = fig.add_subplot()
    # Equirectangular projection at the sites' mean latitude: distances look right
    # at survey scale, and nothing (no tiles, no scripts) is fetched.
    ax.set_aspect(1 / max(0.05, math.cos(math.radians(sum(r[1] for r in placed) / len(placed)))))
    biggest = max(r[3] for r in placed) or 1
    sizes = [20 + 580 * r[3] / biggest for r in placed]
    ax.scatter([r[2] for r in placed], [r[1] for r in placed], s=sizes,
               c=[VERIFIED_COLOUR if r[3] else "#999999" for r in placed], alpha=0.6,
               edgecolors="black", linewidths=0.5)
    for name, lat, lon, n in placed:
        ax.annotate(f"{label(name)} ({n})", (lon, lat), xytext=(5, 5),
                    textcoords="offset points", fontsize=7)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fit(fig, ["-00.00"], title=True, ylabel=True)
    what = ins.filters.species or "all species"
    ax.set_title(label(f"independent detections of {what} (marker area)"), fontsize=9)
    ax.margins(0.15)
    return fig


def _padded(values: list[float], share: float = 0.15) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = share * (hi - lo) if hi > lo else 0.01
    return lo - pad, hi + pad


def map_svg(ins: SurveyInsights) -> Canvas:
    _cols, rows = map_table(ins)
    placed = [r for r in rows if r[1] is not None and r[2] is not None]
    if not placed:
        return svg.empty(WIDTH, 5.5, "No site has coordinates yet")
    c, f = svg.chart(WIDTH, 5.5, left=["-00.00"], title=True, ylabel=True)
    # Equirectangular projection at the sites' mean latitude (as map_figure): the box
    # shrinks, centred, until a degree of latitude is 1/cos(latitude) degrees of longitude.
    stretch = 1 / max(0.05, math.cos(math.radians(sum(r[1] for r in placed) / len(placed))))
    f.x0, f.x1 = _padded([r[2] for r in placed])
    f.y0, f.y1 = _padded([r[1] for r in placed])
    scale = min(f.width / (f.x1 - f.x0), f.height / ((f.y1 - f.y0) * stretch))
    width, tall = scale * (f.x1 - f.x0), scale * (f.y1 - f.y0) * stretch
    f.left, f.top = f.left + (f.width - width) / 2, f.top + (f.height - tall) / 2
    f.width, f.height = width, tall
    biggest = max(r[3] for r in placed) or 1
    for _name, lat, lon, n in placed:
        radius = math.sqrt(20 + 580 * n / biggest) / 2  # matplotlib's s: area in pt²
        c.circle(f.x(lon), f.y(lat), radius, VERIFIED_COLOUR if n else "#999999",
                 stroke=svg.INK, width=0.5, opacity=0.6)
    for name, lat, lon, n in placed:
        c.text(f.x(lon) + 5, f.y(lat) - 5, f"{short(name)} ({n})", size=7, middle=False)
    svg.spines(c, f)
    svg.x_axis(c, f, svg.number_ticks(f.x0, f.x1, room=f.width), label="longitude")
    svg.y_axis(c, f, svg.number_ticks(f.y0, f.y1), label="latitude")
    what = ins.filters.species or "all species"
    c.text(c.width / 2, f.top - 8, f"independent detections of {short(what)} (marker area)",
           anchor="middle", middle=False)
    return c


PLOTS = plot_dict(
    Plot("species", "Species counts",
         "Detections (clusters) per species over the whole survey; verified labels and "
         "AI-only suggestions (clusters nobody has labelled) apart.", species_table,
         species_figure, species_svg),
    Plot("species-sites", "Species per site",
         "Verified detections per species and site; the cells also give AI-only ones (+n).",
         species_table, species_sites_figure, species_sites_svg),
    Plot("activity", "Activity by hour",
         "Independent detections by hour of the day, in the survey's time zone.",
         activity_table, activity_figure, activity_svg),
    Plot("detection-rate", "Detection rate",
         "Independent detections per 100 trap-nights, per species and site.",
         detection_rate_table, detection_rate_figure,
         detection_rate_svg),
    Plot("operation", "Camera operation",
         "Each camera from its first to its last image; long silences flagged as gaps.",
         operation_table, operation_figure, operation_svg),
    Plot("map", "Site map",
         "Sites at their coordinates (plain projection, no map tiles); marker area by "
         "independent detections of the chosen species.", map_table, map_figure, map_svg),
)
