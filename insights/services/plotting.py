"""What every insights plot shares: matplotlib set-up, layout helpers and the downloads.

Only matplotlib's object-oriented API (``Figure``), never pyplot: pyplot keeps global
state and picks a GUI backend, neither of which a web server wants. SVG and PNG come
from the figure's own canvases (SVG writer, Agg), so nothing depends on a display.

Each plot is a ``Plot``: a title, a note saying what is counted, ``table`` (the CSV's
columns and rows) and ``draw`` (the matplotlib figure), both from one insights object (a
survey's, a task's or a classifier's); optionally ``svg``, the same plot written directly
as SVG by insights.services.svg (a millisecond, where matplotlib takes 50-500 ms). A plot
with ``svg`` shows that on the page and in its SVG download; its PNG is matplotlib's.
A page is a dict of plots by slug; ``render`` turns one of them into a download,
``sections`` into what the page template shows.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from django.core.cache import cache

from results.services.results import safe_cell

from . import svg as svg_writer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = {"svg": "image/svg+xml", "png": "image/png", "csv": "text/csv; charset=utf-8"}
FORMAT_NAMES = {"svg": "SVG", "png": "PNG", "csv": "data (CSV)"}

VERIFIED_COLOUR, AI_COLOUR = "#2b6f3e", "#e0a030"
GAP_COLOUR = "#c0392b"
MAX_SERIES = 8  # series drawn as lines in one plot; the CSV has them all
WIDTH = 8.0
LONGEST_LABEL = 40  # characters of a name drawn on a plot (the CSV has them whole)
CHAR_INCHES = 0.075  # a 9-point character, on average


@functools.cache
def mpl():
    """matplotlib, imported and set up on the first plot, not when the URLs load.

    Text stays text in the SVG (smaller, searchable, escaped by matplotlib's XML writer)
    and ids are reproducible. Processes that never draw (workers, the tagging page's
    websockets) never pay for the import.
    """
    import matplotlib
    from matplotlib import dates, patches, ticker
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "traptagger-insights"
    matplotlib.rcParams["font.size"] = 9
    return SimpleNamespace(Figure=Figure, dates=dates, Rectangle=patches.Rectangle,
                           MaxNLocator=ticker.MaxNLocator)


def short(text: str) -> str:
    """User text (species, site, camera) cut to what a plot shows (the CSV has it whole)."""
    text = str(text)
    if len(text) > LONGEST_LABEL:
        text = text[:LONGEST_LABEL - 1] + "…"
    return text


def label(text: str) -> str:
    """User text for matplotlib: never read as mathtext, not too long."""
    return short(text).replace("$", r"\$")


def ratio_cell(value: float | None) -> float | str:
    """A share for a CSV cell: four decimals, or empty when undefined (nothing to divide)."""
    return "" if value is None else round(value, 4)


def empty(fig: Figure, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    return fig


def height(rows: int = 0, per_row: float = 0.28, minimum: float = 3.0) -> float:
    """A plot's height in inches: room for ``rows`` rows (bars, cells, cameras)."""
    return max(minimum, min(14.0, 1.2 + rows * per_row))


def figure(rows: int = 0, per_row: float = 0.28, minimum: float = 3.0) -> Figure:
    return mpl().Figure(figsize=(WIDTH, height(rows, per_row, minimum)))


def fit(fig: Figure, left=(), rotated=(), *, title=False, ylabel=False) -> None:
    """Margins from the longest tick labels, in inches.

    A layout engine (constrained, tight) would measure every text and costs 2-3 times
    the drawing itself; a page draws several plots, so margins are estimated instead.
    """
    width, height = fig.get_size_inches()
    left_in = 0.35 + min(3.2, CHAR_INCHES * max((len(t) for t in left), default=3))
    bottom_in = 0.55 + min(2.5, 0.72 * CHAR_INCHES * max((len(t) for t in rotated), default=0))
    fig.subplots_adjust(left=(left_in + 0.25 * ylabel) / width,
                        right=1 - 0.25 / width,
                        bottom=min(0.6, bottom_in / height),
                        top=1 - (0.4 if title else 0.15) / height)


@dataclass(frozen=True)
class Plot:
    slug: str
    title: str
    note: str
    table: Callable  # insights -> (columns, rows)
    draw: Callable  # insights -> Figure (matplotlib: the PNG, and the SVG without ``svg``)
    svg: Callable | None = None  # insights -> svg.Canvas (the page and the SVG download)


def plot_dict(*plots: Plot) -> dict[str, Plot]:
    return {p.slug: p for p in plots}


# --- output ------------------------------------------------------------------------------
def svg_bytes(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def png_bytes(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=120, metadata={"Software": None})
    return out.getvalue()


_ID = re.compile(r'(\bid="|xlink:href="#|url\(#)')


def inline_svg(fig: Figure, prefix: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page.

    Drops the XML prolog and gives every id a per-plot prefix, so several plots on one
    page never share an id (matplotlib's clip-path and glyph ids can repeat).
    """
    text = svg_bytes(fig).decode()
    text = '<svg class="insight-plot" ' + text[text.index("<svg") + len("<svg "):]
    return _ID.sub(lambda m: f"{m.group(1)}{prefix}-", text)


def table_csv(plot: Plot, insights) -> bytes:
    """The plot's data as CSV; cells a spreadsheet would run as formulas are quoted."""
    columns, rows = plot.table(insights)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue().encode()


def render(plot: Plot, insights, fmt: str) -> tuple[bytes, str]:
    """One plot as SVG or PNG, or its data as CSV: (content, content type).

    The SVG is the page's own drawing when the plot has one; the PNG is matplotlib's.
    Raises KeyError for an unknown format (the views check it first and answer 404).
    """
    content_type = FORMATS[fmt]
    if fmt == "csv":
        return table_csv(plot, insights), content_type
    if fmt == "svg" and plot.svg is not None:
        return plot.svg(insights).document().encode(), content_type
    fig = plot.draw(insights)
    return (svg_bytes(fig) if fmt == "svg" else png_bytes(fig)), content_type


def page_svg(plot: Plot, insights) -> str:
    """The plot as an inline ``<svg>`` for the page: written directly, or matplotlib's."""
    if plot.svg is not None:
        return plot.svg(insights).svg("insight-plot")
    return inline_svg(plot.draw(insights), f"plot-{plot.slug}")


SVG_CACHE_SECONDS = 24 * 3600


def data_digest(insights) -> bytes | None:
    """A digest of the insights' numbers (pickled), once per page; None if unpicklable."""
    try:
        return hashlib.sha256(pickle.dumps(insights, protocol=5)).digest()
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


@functools.cache
def _source_digest(path: str) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def _content_key(plot: Plot, data: bytes | None) -> str | None:
    """A cache key naming exactly what the plot is drawn from: its data and its code.

    None when the data could not be pickled (then the plot is simply drawn).
    """
    if data is None:
        return None
    digest = hashlib.sha256(data)
    digest.update(plot.slug.encode())
    digest.update(plot.draw.__code__.co_code)
    if plot.svg is not None:  # its module and the writer: a change to either draws it again
        digest.update(_source_digest(plot.svg.__code__.co_filename))
        digest.update(_source_digest(svg_writer.__file__))
    return f"insights-svg:{digest.hexdigest()}"


def cached_svg(plot: Plot, insights, data: bytes | None = None) -> str:
    """The plot as inline SVG, drawn once per distinct data.

    The key is the data itself (``data``: its digest, from ``data_digest``), so a change
    to any number shown draws the plot again; nothing is ever stale.
    """
    key = _content_key(plot, data if data is not None else data_digest(insights))
    svg = cache.get(key) if key else None
    if svg is None:
        svg = page_svg(plot, insights)
        if key:
            cache.set(key, svg, SVG_CACHE_SECONDS)
    return svg


def sections(plots: dict[str, Plot], insights, link: Callable[[str, str], str]) -> list[dict]:
    """What the page template shows of each plot: title, note, inline SVG, download links.

    ``link(slug, fmt)`` is the download's URL (the view knows its route and filters).
    The insights are pickled and hashed once for the page, not once per plot.
    """
    data = data_digest(insights)
    return [{"slug": p.slug, "title": p.title, "note": p.note,
             "svg": cached_svg(p, insights, data),
             "links": [(FORMAT_NAMES[fmt], link(p.slug, fmt)) for fmt in FORMATS]}
            for p in plots.values()]
