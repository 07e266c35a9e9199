"""The survey insights page's charts: a Vega-Lite spec each (see insights.services.charts).

Each is a ``Chart``: a title, a note saying what is counted, ``table`` (the CSV's columns
and rows) and ``spec``, both from one ``SurveyInsights``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from .aggregates import ALL_SITES, SurveyInsights
from .charts import (
    AI_COLOUR,
    DATA,
    GAP_COLOUR,
    GREY,
    INK,
    MAX_SERIES,
    ROW,
    VERIFIED_COLOUR,
    WHITE,
    WIDTH,
    Chart,
    alt,
    chart,
    chart_dict,
    day_ms,
    empty,
    finish,
    heatmap,
    legend_top,
    names,
    template,
    tip,
    utc_time,
    wall_ms,
    world_url,
    zoom_x,
)

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


def species_spec(ins: SurveyInsights) -> dict:
    """A bar per species, verified then AI-only stacked after it; the first species on top."""
    _cols, rows = species_table(ins)
    overall = [r for r in rows if r[0] == ALL_SITES]
    if not overall:
        return empty(NO_DETECTIONS)
    data = [{"species": s, "kind": kind, "order": k, "detections": n}
            for _all, s, verified, ai in overall
            for k, (kind, n) in enumerate((("verified", verified), ("AI-only", ai)))]
    return finish(_species(), **{DATA: data})


@template
def _species():
    a = alt()
    return chart().mark_bar().encode(
        x=a.X("detections", type="quantitative", stack="zero",
              axis=a.Axis(title="detections (clusters)", tickMinStep=1)),
        y=a.Y("species", type="nominal", sort=None, axis=names()),
        color=a.Color("kind", type="nominal", legend=legend_top(),
                      scale=a.Scale(domain=["verified", "AI-only"],
                                    range=[VERIFIED_COLOUR, AI_COLOUR])),
        order=a.Order("order", type="quantitative"),
        tooltip=[tip("species"), tip("kind"), tip("detections", "quantitative")],
    ).properties(width=WIDTH, height=a.Step(ROW))


def species_sites_spec(ins: SurveyInsights) -> dict:
    """Verified detections per species (rows) and site (columns); cells say "v+a"."""
    sites = [(sid, name) for sid, (name, _a, _b) in ins.sites.items()
             if any(ins.verified[(sid, s)] or ins.ai_only[(sid, s)] for s in ins.species)]
    if not sites or not ins.species:
        return empty(NO_DETECTIONS)
    darkest = max(ins.verified[(sid, s)] for sid, _n in sites for s in ins.species)
    data = []
    for species in ins.species:
        for sid, site in sites:
            v, a = ins.verified[(sid, species)], ins.ai_only[(sid, species)]
            data.append({"species": species, "site": site, "verified": v, "ai_only": a,
                         "text": (f"{v}" + (f"+{a}" if a else "")) if v or a else "",
                         "ink": WHITE if v > darkest / 2 else INK})
    return finish(_species_sites(), **{DATA: data})


@template
def _species_sites():
    return heatmap("site", "species", "verified", "greens",
                   "verified detections (cell: verified+AI-only)")


# --- activity ------------------------------------------------------------------------------
def activity_table(ins: SurveyInsights):
    rows = [(species, hour, counts[hour])
            for species, counts in sorted(ins.activity.items(), key=lambda kv: kv[0].casefold())
            for hour in range(24)]
    return ["species", "hour", "independent_detections"], rows


def activity_spec(ins: SurveyInsights) -> dict:
    """Detections by hour: bars for one species, a line each for the commonest others."""
    if not ins.activity:
        return empty("No timed detections for these filters")
    ranked = sorted(ins.activity.items(), key=lambda kv: (-sum(kv[1]), kv[0].casefold()))
    shown = ranked[:MAX_SERIES]
    data = [{"species": s, "hour": h, "detections": n} for s, counts in shown
            for h, n in enumerate(counts)]
    return finish(_activity(str(ins.survey.timezone), len(shown) == 1), **{DATA: data})


@template
def _activity(timezone: str, bars: bool):
    """Bars for one species; else a line each, coloured in the rows' order (commonest first)."""
    a = alt()
    mark = chart().mark_bar(color=VERIFIED_COLOUR) if bars else chart().mark_line(point=True)
    colour = a.Color("species", type="nominal", sort=None, legend=legend_top(),
                     scale=a.Scale(range=[VERIFIED_COLOUR]) if bars
                     else a.Scale(scheme="tableau10"))
    return mark.encode(
        x=a.X("hour", type="ordinal", sort=None, scale=a.Scale(domain=list(range(24))),
              axis=a.Axis(title=f"hour of day ({timezone})", labelAngle=0)),
        y=a.Y("detections", type="quantitative",
              axis=a.Axis(title="independent detections", tickMinStep=1)),
        color=colour,
        tooltip=[tip("species"), tip("hour", "ordinal"), tip("detections", "quantitative")],
    ).properties(width=WIDTH, height=220)


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


def detection_rate_spec(ins: SurveyInsights) -> dict:
    """Detections per 100 trap-nights per species (rows) and site (columns, all first)."""
    _cols, rows = detection_rate_table(ins)
    columns = [ALL_SITES] + [name for sid, (name, _a, _b) in ins.sites.items()
                             if ins.trap_nights.get(sid)]
    species = sorted({r[1] for r in rows}, key=str.casefold)
    if not species:
        return empty("No independent detections for these filters")
    values = {(r[0], r[1]): r for r in rows}
    data = []
    for s in species:
        for column in columns:
            _site, _s, n, nights, per_100 = values.get((column, s), (0, 0, 0, 0, None))
            data.append({"species": s, "site": column, "rate": per_100 or 0.0,
                         "detections": n, "trap_nights": nights,
                         "text": f"{per_100:.3g}" if per_100 else "", "ink": INK})
    return finish(_detection_rate(), **{DATA: data})


@template
def _detection_rate():
    return heatmap("site", "species", "rate", "yelloworangebrown",
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


def operation_spec(ins: SurveyInsights) -> dict:
    """A row per camera: working days as wide green bars, gaps as narrow red ones, on a
    date axis in the survey's zone (zoomable)."""
    cameras = [c for c in ins.cameras if c.first is not None]
    if not cameras:
        return empty("No timed images for these filters")
    working = [{"camera": cam.path, "start": day_ms(first),
                "end": day_ms(last + timedelta(days=1)), "from": first.isoformat(),
                "to": last.isoformat(), "days": (last - first).days + 1}
               for cam in cameras for first, last in _spans(cam.days)]
    gaps = [{"camera": cam.path, "start": wall_ms(s, ins.tz), "end": wall_ms(e, ins.tz),
             "from": s.astimezone(ins.tz).strftime("%Y-%m-%d %H:%M"),
             "to": e.astimezone(ins.tz).strftime("%Y-%m-%d %H:%M"),
             "days": round((e - s).total_seconds() / 86400, 2)}
            for cam in cameras for s, e in cam.gaps]
    return finish(_operation(f"{ins.gap_days:g}"), working=working, gaps=gaps)


@template
def _operation(gap_days: str):
    """Cameras in the working rows' order (every shown camera has working days)."""
    a = alt()
    y = a.Y("camera", type="nominal", sort=None, axis=names())
    tips = [tip("camera"), tip("from"), tip("to"), tip("days", "quantitative")]

    def layer(name: str, colour: str, band: float):
        return chart(name).mark_bar(color=colour, height={"band": band}).encode(
            x=utc_time(field="start"), x2=a.X2("end"), y=y, tooltip=tips)

    return a.layer(layer("working", VERIFIED_COLOUR, 0.7).add_params(zoom_x()),
                   layer("gaps", GAP_COLOUR, 0.3)).properties(
        width=WIDTH, height=a.Step(ROW),
        title=a.Title(f"working days (green); gaps over {gap_days} days flagged (red)",
                      fontSize=11, fontWeight="normal"))


# --- site map ----------------------------------------------------------------------------
def map_table(ins: SurveyInsights):
    counts = Counter()
    for (site_id, _species), n in ins.independent.items():
        counts[site_id] += n
    rows = [(name, lat, lon, counts[sid]) for sid, (name, lat, lon) in ins.sites.items()]
    return ["site", "latitude", "longitude", "independent_detections"], rows


def _padded(values: list[float], share: float = 0.15) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = share * (hi - lo) if hi > lo else 0.01
    return lo - pad, hi + pad


def map_spec(ins: SurveyInsights) -> dict:
    """Sites as discs (area by independent detections) and named, on a Mercator
    projection fitted to the sites, over the countries' outlines (a static file)."""
    _cols, rows = map_table(ins)
    placed = [r for r in rows if r[1] is not None and r[2] is not None]
    if not placed:
        return empty("No site has coordinates yet")
    west, east = _padded([r[2] for r in placed])
    south, north = _padded([r[1] for r in placed])
    data = [{"site": name, "latitude": lat, "longitude": lon, "detections": n,
             "label": f"{name} ({n})", "fill": VERIFIED_COLOUR if n else GREY}
            for name, lat, lon, n in placed]
    what = ins.filters.species or "all species"
    box = tuple(round(v, 6) for v in (west, south, east, north))
    return finish(_map(what, box, _grid_step(east - west, north - south), world_url()),
                  **{DATA: data})


def _grid_step(width: float, height: float) -> float:
    """A round step in degrees giving the grid 3 to 8 lines across the wider side."""
    span = max(width, height)
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30):
        if span / step <= 8:
            return step
    return 45


@template
def _map(what: str, box: tuple, step: float, outlines_url: str):
    a = alt()
    west, south, east, north = box
    outlines = a.Chart(a.UrlData(url=outlines_url, format=a.TopoDataFormat(
        type="topojson", feature="countries"))).mark_geoshape(
        fill="#f2f2ee", stroke="#b8b8b0", strokeWidth=0.7)
    # Grid lines around the sites only (a 0.01° grid of the whole sphere is millions of
    # segments): the box widened by its span each way covers whatever the fit shows.
    span = max(east - west, north - south)
    extent = [[west - span, max(-89.9, south - span)], [east + span, min(89.9, north + span)]]
    grid = a.Chart(a.GraticuleGenerator(graticule={
        "step": [step, step], "extentMinor": extent, "stepMajor": [360, 360]})).mark_geoshape(
        filled=False, stroke="#d8d8d8", strokeWidth=0.5)
    where = {"longitude": a.Longitude("longitude", type="quantitative"),
             "latitude": a.Latitude("latitude", type="quantitative")}
    discs = chart().mark_circle(opacity=0.6, stroke=INK, strokeWidth=0.5).encode(
        **where,
        size=a.Size("detections", type="quantitative", legend=None,
                    scale=a.Scale(range=[20, 600], zero=True)),
        color=a.Color("fill", type="nominal", scale=None),
        tooltip=[tip("site"), tip("detections", "quantitative", title="independent detections"),
                 tip("latitude", "quantitative"), tip("longitude", "quantitative")])
    labels = chart().mark_text(align="left", dx=6, dy=-6, fontSize=10).encode(
        **where, text=a.Text("label", type="nominal"))
    corners = {"type": "Feature", "properties": {},
               "geometry": {"type": "MultiPoint", "coordinates": [[west, south], [east, north]]}}
    height = 380
    return a.layer(outlines, grid, discs, labels).project(
        type="mercator", fit=corners, clipExtent=[[0, 0], [WIDTH, height]]).properties(
        width=WIDTH, height=height,
        title=a.Title(f"independent detections of {what} (marker area); grid every {step:g}°",
                      fontSize=11, fontWeight="normal", limit=WIDTH))


PLOTS = chart_dict(
    Chart("species", "Species counts",
          "Detections (clusters) per species over the whole survey; verified labels and "
          "AI-only suggestions (clusters nobody has labelled) apart.", species_table,
          species_spec),
    Chart("species-sites", "Species per site",
          "Verified detections per species and site; the cells also give AI-only ones (+n).",
          species_table, species_sites_spec),
    Chart("activity", "Activity by hour",
          "Independent detections by hour of the day, in the survey's time zone.",
          activity_table, activity_spec),
    Chart("detection-rate", "Detection rate",
          "Independent detections per 100 trap-nights, per species and site.",
          detection_rate_table, detection_rate_spec),
    Chart("operation", "Camera operation",
          "Each camera from its first to its last image; long silences flagged as gaps. "
          "Drag or scroll on the chart to move or zoom in time.",
          operation_table, operation_spec),
    Chart("map", "Site map",
          "Sites at their coordinates (Mercator projection over country outlines, no map "
          "tiles); marker area by independent detections of the chosen species.",
          map_table, map_spec),
)
