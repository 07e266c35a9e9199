"""What every insights chart shares: the Vega-Lite spec form, and the downloads made from it.

Each chart is a ``Chart``: a title, a note saying what is counted, ``table`` (the CSV's
columns and rows) and ``spec`` (a Vega-Lite spec, built with Altair), both from one
insights object (a survey's, a task's or a classifier's). The page embeds the spec as
JSON and the browser draws it with vega-embed (static/js/insights.js: tooltips, zoom on
time axes, an SVG/PNG menu); the SVG and PNG downloads are the same spec rendered on
the server by vl-convert (no browser, no network). One drawing per chart.

Altair takes 10-40 ms to write a spec (it copies and validates its objects), a page's
worth more than its queries; so a chart's spec is a *template* that depends only on a few
words and numbers (an axis title, the time zone, the threshold), written by Altair once per
process and distinct arguments (``template``), and every row the chart shows goes into
its ``datasets``, by name, per view (``finish``). Nothing data-dependent is in a template:
orders come from the rows' order, scale domains from the rows. Altair is imported on the
first chart (not when the URLs load); every channel is given its type (a shorthand such as
``"n:Q"`` is parsed and validated).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from results.services.results import safe_cell

if TYPE_CHECKING:
    import altair

FORMATS = {"svg": "image/svg+xml", "png": "image/png", "csv": "text/csv; charset=utf-8"}
FORMAT_NAMES = {"svg": "SVG", "png": "PNG", "csv": "data (CSV)"}

VERIFIED_COLOUR, AI_COLOUR = "#2b6f3e", "#e0a030"
GAP_COLOUR = "#c0392b"
GREY = "#999999"
WHITE, INK = "#ffffff", "#222222"
MAX_SERIES = 8  # series drawn as lines in one chart; the CSV has them all
WIDTH = 560  # px of a chart's plotting area (the page column is 60rem)
CELL = (44, 26)  # px of a heat map's cell
ROW = 20  # px a row (bar, cell, camera) of a chart with one row per name
LABEL_LIMIT = 220  # px of a name on an axis, cut with "…" (the tooltip and CSV have it whole)
PNG_SCALE = 2.0
# The site map's country outlines (world-atlas, Natural Earth 1:110m; see deploy/vendor-vega.sh).
WORLD_PATH = "vendor/world-atlas/countries-110m.json"
WORLD_NAME = "countries-110m"  # in the URL, hashed or not
DATA = "rows"  # the name of a chart's main dataset
EPOCH = datetime(1970, 1, 1)


@functools.cache
def alt():
    """Altair, imported on the first chart: processes that never draw (workers, the
    tagging page's websockets) never pay its 0.9 s import. Its debug mode (validating
    every object as it is made) is off: tests validate the finished specs instead."""
    import altair

    altair.utils.schemapi.disable_debug_mode()
    return altair


def template(build: Callable) -> Callable:
    """``build(*args)`` (an Altair chart) as a spec dict, memoised on its arguments, which
    must be hashable: words and numbers, never rows. Callers must not change the dict."""
    @functools.lru_cache(maxsize=512)
    def spec(*args) -> dict:
        made = build(*args).to_dict(validate=False)
        made.pop("config", None)  # Altair's default view size: every chart sets its own
        return made

    TEMPLATES.append(spec)
    return spec


TEMPLATES: list = []  # every template, for clear_templates


def clear_templates() -> None:
    """Forget every written template (the benchmark's cold view; tests)."""
    for spec in TEMPLATES:
        spec.cache_clear()


def tip(field: str, kind: str = "nominal", **kwargs):
    """A tooltip line (typed: see the module's docstring)."""
    return alt().Tooltip(field, type=kind, **kwargs)


def names(title: str | None = None, **kwargs):
    """An axis of names (species, sites, cameras, people): long ones cut with "…"."""
    return alt().Axis(title=title, labelLimit=LABEL_LIMIT, **kwargs)


def legend_top(title: str | None = None):
    return alt().Legend(title=title, orient="top")


def zoom_x():
    """Drag to pan and wheel to zoom the x axis (a time axis); double-click resets."""
    return alt().selection_interval(name="zoom", bind="scales", encodings=["x"])


def wall_ms(moment: datetime, tz) -> int:
    """A moment as milliseconds of its wall-clock time in ``tz`` counted as if UTC.

    Vega draws times in the viewer's zone or in UTC, never in a zone named by the
    data: time axes use UTC scales over these numbers, so they read in ``tz``.
    """
    local = moment.astimezone(tz).replace(tzinfo=None)
    return int((local - EPOCH).total_seconds() * 1000)


def wall_ms_many(seconds: list[float], tz) -> list[int]:
    """``wall_ms`` of many moments given as POSIX seconds (a task's hours: thousands),
    fast: POSIX time plus the zone's offset, looked up at the start and end of each UTC day
    the moments fall on and per moment only on a day whose two differ (a clock change: no
    zone changes its clocks twice in a day). Converting each moment as a datetime took
    most of the task page's chart time."""
    def offset(ts: float) -> float:
        return datetime.fromtimestamp(ts, tz).utcoffset().total_seconds()

    days: dict[int, float | None] = {}
    out = []
    for ts in seconds:
        day = int(ts // 86_400)
        if day not in days:
            start, end = offset(day * 86_400), offset(day * 86_400 + 86_399)
            days[day] = start if start == end else None
        shift = days[day]
        out.append(int((ts + (offset(ts) if shift is None else shift)) * 1000))
    return out


def day_ms(day: date) -> int:
    """A local day's start, as ``wall_ms``."""
    return (day - EPOCH.date()).days * 86_400_000


def utc_time(title: str | None = None, **kwargs):
    """A time axis over ``wall_ms`` numbers (see there)."""
    return alt().X(type="temporal", scale=alt().Scale(type="utc"),
                   axis=alt().Axis(title=title, labelOverlap=True), **kwargs)


def time_tip(field: str, title: str):
    """A tooltip line showing a ``wall_ms`` time as its wall clock (the rows carry no text)."""
    return alt().Tooltip(field, type="temporal", title=title, format="%Y-%m-%d %H:%M",
                         timeUnit="utcyearmonthdatehoursminutes")


def chart(data: str = DATA, **kwargs) -> altair.Chart:
    """A chart reading the named dataset ``data`` (given to ``finish``)."""
    return alt().Chart(alt().NamedData(name=data), **kwargs)


def finish(spec: dict, **datasets: list[dict]) -> dict:
    """A template's spec with the rows it shows (``datasets``: rows by name)."""
    return {**spec, "datasets": datasets}


def heatmap(x: str, y: str, value: str, scheme: str, legend: str,
             *, xtitle: str | None = None, ytitle: str | None = None, extra=()):
    """Cells coloured by ``value``, each with its ``text`` written in its ``ink`` (fields of
    the main dataset, in the order the axes show them: first row on top); ``extra``:
    layers drawn over them."""
    a = alt()
    base = chart().encode(
        x=a.X(x, type="nominal", sort=None, axis=names(xtitle, labelAngle=-45)),
        y=a.Y(y, type="nominal", sort=None, axis=names(ytitle)))
    cells = base.mark_rect().encode(
        color=a.Color(value, type="quantitative", scale=a.Scale(scheme=scheme, zero=True),
                      legend=a.Legend(title=legend, orient="top", gradientLength=160,
                                      titleLimit=WIDTH)),
        tooltip=[tip(y), tip(x), tip("text", title="cell")])
    texts = base.mark_text(fontSize=10).encode(
        text=a.Text("text", type="nominal"), color=a.Color("ink", type="nominal", scale=None))
    # Colour: the cells' scale and the texts' own inks (no scale) are apart.
    return a.layer(cells, texts, *extra).resolve_scale(color="independent").properties(
        width=a.Step(CELL[0]), height=a.Step(CELL[1]))


@template
def _message():
    return chart().mark_text(fontSize=13, align="left", x=0).encode(
        text=alt().Text("text", type="nominal")).properties(width=WIDTH, height=20)


def empty(message: str) -> dict:
    """A chart that says why there is nothing to draw (one line of text)."""
    return finish(_message(), **{DATA: [{"text": message}]})


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    note: str
    table: Callable  # insights -> (columns, rows): the CSV
    spec: Callable  # insights -> Vega-Lite spec (dict): the page, the SVG and the PNG


def chart_dict(*charts: Chart) -> dict[str, Chart]:
    return {c.slug: c for c in charts}


def ratio_cell(value: float | None) -> float | str:
    """A share for a CSV cell: four decimals, or empty when undefined (nothing to divide)."""
    return "" if value is None else round(value, 4)


# --- output ------------------------------------------------------------------------------
@functools.cache
def world() -> dict:
    """The country outlines (TopoJSON), read once."""
    return json.loads((Path(settings.BASE_DIR) / "static" / WORLD_PATH).read_text())


# Characters XML 1.0 forbids: vl-convert writes them into its SVG and then *aborts the
# process* (a Rust panic, not an exception) reading it back, so a species, site or
# annotator name holding one would kill the server's worker. Dropped from the server's
# copy of a spec only (the browser draws them as any text).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def offline(spec: dict) -> dict:
    """The spec as vl-convert is given it: every data URL (the map's outlines, a static file
    the browser loads) replaced by its values, since it is given no network and no files,
    and every character XML forbids dropped from the text."""
    def swap(node):
        if isinstance(node, dict):
            if WORLD_NAME in str(node.get("url", "")):
                return {**{k: v for k, v in node.items() if k != "url"}, "values": world()}
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        if isinstance(node, str):
            return _NOT_XML.sub("", node)
        return node
    return swap(spec)


def svg_bytes(spec: dict) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_svg(offline(spec), allowed_base_urls=[]).encode()


def png_bytes(spec: dict) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_png(offline(spec), scale=PNG_SCALE, allowed_base_urls=[])


def table_csv(made: Chart, insights) -> bytes:
    """The chart's data as CSV; cells a spreadsheet would run as formulas are quoted."""
    columns, rows = made.table(insights)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue().encode()


def render(made: Chart, insights, fmt: str) -> tuple[bytes, str]:
    """One chart as SVG or PNG (vl-convert), or its data as CSV: (content, content type).

    Raises KeyError for an unknown format (the views check it first and answer 404).
    """
    content_type = FORMATS[fmt]
    if fmt == "csv":
        return table_csv(made, insights), content_type
    spec = made.spec(insights)
    return (svg_bytes(spec) if fmt == "svg" else png_bytes(spec)), content_type


def world_url() -> str:
    from django.templatetags.static import static

    return static(WORLD_PATH)


# As django.utils.html.json_script: no "<", ">" or "&" in the element, so no text in the
# data can end it or start markup.
_SCRIPT_SAFE = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def spec_script(spec: dict, element_id: str) -> str:
    """The spec as a ``<script type="application/json">`` element (data, never run).

    Django's ``json_script`` writes ", " and ": " between items; a chart over months of
    hours has thousands of rows, so the JSON is written compact here.
    """
    text = json.dumps(spec, separators=(",", ":"), ensure_ascii=False).translate(_SCRIPT_SAFE)
    return format_html('<script id="{}" type="application/json">{}</script>', element_id,
                       mark_safe(text))  # noqa: S308 - escaped above, as json_script does


def sections(charts: dict[str, Chart], insights,
             link: Callable[[str, str], str]) -> list[dict]:
    """What the page template shows of each chart: title, note, spec, download links.

    ``link(slug, fmt)`` is the download's URL (the view knows its route and filters).
    """
    return [{"slug": c.slug, "title": c.title, "note": c.note,
             "script": spec_script(c.spec(insights), f"spec-{c.slug}"),
             "links": [(FORMAT_NAMES[fmt], link(c.slug, fmt)) for fmt in FORMATS]}
            for c in charts.values()]
