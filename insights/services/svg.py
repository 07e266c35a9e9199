"""A small SVG writer for the insights pages: bars, lines, cells, spans and points.

matplotlib's figure machinery (artists, transforms, text layout, its SVG backend) costs
50-500 ms a plot, and a page draws all of its plots (six on a survey's, five on a task's,
three on its classifier's) on its first view after the data changed. The plots are simple
shapes on plain axes, which this module writes directly as SVG text, in about a
millisecond each. matplotlib still draws the PNG downloads.

Coordinates are points (1/72 inch), origin top-left, as in matplotlib's SVG, so the plots
keep their size. Text stays text. Every string reaches the SVG through ``esc`` (XML
escaping, minus the control characters XML forbids): species, site, camera, label and
user names are user input. Text widths are estimated (``text_width``), never measured.
Times on an axis are POSIX seconds, their ticks on round times of the zone the caller
gives (``time_ticks``).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

PT = 72.0  # points per inch
FONT = "DejaVu Sans, Bitstream Vera Sans, Arial, Helvetica, sans-serif"
FONT_SIZE = 9.0
CHAR_EM = 0.6  # a character's average width, in ems (DejaVu Sans is wide)
INK, GRID = "#000000", "#b0b0b0"
# matplotlib's default colour cycle (tab10)
CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
         "#7f7f7f", "#bcbd22", "#17becf")
# ColorBrewer's 9-class sequences, which matplotlib's Greens and YlOrBr interpolate.
GREENS = ("#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45",
          "#006d2c", "#00441b")
YLORBR = ("#ffffe5", "#fff7bc", "#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02",
          "#993404", "#662506")
SVG_NS = "http://www.w3.org/2000/svg"
PROLOG = '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(value) -> str:
    """``value`` as XML text or attribute content: escaped, without forbidden characters."""
    return html.escape(_FORBIDDEN.sub("", str(value)), quote=True)


def num(value: float) -> str:
    """A coordinate, to 1/100 point."""
    text = f"{value:.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """An estimate of ``text``'s width in points (layout only: margins, legend columns)."""
    return len(text) * CHAR_EM * size


class Canvas:
    """SVG elements written as text, in drawing order."""

    def __init__(self, width: float, height: float):
        self.width, self.height = width, height
        self.parts: list[str] = []

    # --- shapes ---------------------------------------------------------------------
    def path(self, d: str, *, fill: str = "none", stroke: str | None = None,
             width: float | None = None, opacity: float | None = None,
             dash: str | None = None) -> None:
        """``dash``: a stroke-dasharray ("5 2": 5 points drawn, 2 left out)."""
        attrs = f' fill="{fill}"'
        if stroke:
            attrs += f' stroke="{stroke}" stroke-width="{num(width or 0.8)}"'
        if stroke and dash:
            attrs += f' stroke-dasharray="{dash}"'
        if opacity is not None:
            attrs += f' fill-opacity="{num(opacity)}"'
        self.parts.append(f'<path d="{d}"{attrs}/>')

    def rect(self, x: float, y: float, w: float, h: float, fill: str, **kw) -> None:
        """A filled rectangle (as a path: the shapes a plot is made of are paths)."""
        if w < 0:
            x, w = x + w, -w
        if h < 0:
            y, h = y + h, -h
        self.path(f"M{num(x)} {num(y)}h{num(w)}v{num(h)}h{num(-w)}Z", fill=fill, **kw)

    def line(self, points: Sequence[tuple[float, float]], stroke: str = INK,
             width: float = 0.8, dash: str | None = None) -> None:
        d = "M" + "L".join(f"{num(x)} {num(y)}" for x, y in points)
        self.path(d, stroke=stroke, width=width, dash=dash)

    def steps(self, xs: Sequence[float], ys: Sequence[float], *, fill: str = "none",
              stroke: str | None = None, width: float | None = None) -> None:
        """A staircase: ``ys[i]`` held from ``xs[i]`` to ``xs[i + 1]`` (matplotlib's
        ``step(where="post")``), as horizontal and vertical moves only, a run of equal
        values one move; closed when filled (give the baseline as the first and last y)."""
        parts = [f"M{num(xs[0])} {num(ys[0])}"]
        x_at, y_at = num(xs[0]), num(ys[0])
        for x, y in zip(xs[1:], ys[1:], strict=True):
            x, y = num(x), num(y)
            if y != y_at:
                if x != x_at:
                    parts.append(f"H{x}")
                parts.append(f"V{y}")
                x_at, y_at = x, y
        if x_at != num(xs[-1]):
            parts.append(f"H{num(xs[-1])}")
        self.path("".join(parts) + ("Z" if fill != "none" else ""), fill=fill,
                  stroke=stroke, width=width)

    def circle(self, cx: float, cy: float, r: float, fill: str, *,
               stroke: str | None = None, width: float | None = None,
               opacity: float | None = None) -> None:
        """A disc, as two arcs."""
        d = (f"M{num(cx - r)} {num(cy)}a{num(r)} {num(r)} 0 1 0 {num(2 * r)} 0"
             f"a{num(r)} {num(r)} 0 1 0 {num(-2 * r)} 0Z")
        self.path(d, fill=fill, stroke=stroke, width=width, opacity=opacity)

    # --- text -----------------------------------------------------------------------
    def text(self, x: float, y: float, text: str, *, size: float = FONT_SIZE,
             anchor: str = "start", middle: bool = True, rotate: float = 0,
             fill: str = INK) -> None:
        """``text`` at (x, y); ``middle``: y is its middle, else its baseline."""
        attrs = f'x="{num(x)}" y="{num(y)}"'
        if middle:
            attrs += ' dy="0.35em"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if size != FONT_SIZE:
            attrs += f' font-size="{num(size)}"'
        if fill != INK:
            attrs += f' fill="{fill}"'
        if rotate:
            attrs += f' transform="rotate({num(rotate)} {num(x)} {num(y)})"'
        self.parts.append(f"<text {attrs}>{esc(text)}</text>")

    # --- output ---------------------------------------------------------------------
    def svg(self, css_class: str = "") -> str:
        """One ``<svg>`` element, for an HTML page (no prolog, no ids)."""
        w, h = num(self.width), num(self.height)
        klass = f' class="{esc(css_class)}"' if css_class else ""
        return (f'<svg{klass} xmlns="{SVG_NS}" width="{w}pt" height="{h}pt" '
                f'viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="{num(FONT_SIZE)}" '
                f'role="img">'
                f'<rect width="100%" height="100%" fill="#ffffff"/>'
                + "".join(self.parts) + "</svg>")

    def document(self) -> str:
        """A standalone SVG file."""
        return PROLOG + self.svg() + "\n"


# --- scales ---------------------------------------------------------------------------
@dataclass
class Frame:
    """The axes' box on the canvas and the data range it shows (y grows upwards;
    give y0 > y1 for rows counted from the top)."""

    left: float
    top: float
    width: float
    height: float
    x0: float = 0.0
    x1: float = 1.0
    y0: float = 0.0
    y1: float = 1.0

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / ((self.x1 - self.x0) or 1) * self.width

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / ((self.y1 - self.y0) or 1) * self.height


def nice_step(span: float, most: int) -> float:
    """The smallest step of 1, 2, 2.5 or 5 times a power of ten giving at most ``most``
    intervals over ``span``."""
    raw = span / max(1, most)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * magnitude >= raw * (1 - 1e-9):
            return m * magnitude
    return 10 * magnitude


def nice_ticks(lo: float, hi: float, most: int = 6, *, integer: bool = False) -> list[float]:
    """Round tick values within [lo, hi] (counts: ``integer``, no step under 1)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        return [lo]
    step = nice_step(hi - lo, most)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [n * step for n in range(first, last + 1)]


def tick_label(value: float, ticks: Sequence[float] = ()) -> str:
    """A tick's number with as many decimals as the ticks' step needs (none for counts)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(1.0, step):
        decimals += 1
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text.replace("-", "\u2212")


def date_ticks(first: date, last: date, most: int = 8) -> list[tuple[int, str]]:
    """Tick days (as ordinals) and labels for a date axis from ``first`` to ``last``:
    days, weeks, months or years, whichever gives at most ``most`` ticks."""
    days = (last - first).days
    for step in (1, 2, 7, 14):
        if days / step < most:
            start = first.toordinal() + (-first.toordinal() % step if step == 7 else 0)
            out = [(o, date.fromordinal(o).strftime("%d %b"))
                   for o in range(start, last.toordinal() + 1, step)]
            if out:
                out[0] = (out[0][0], date.fromordinal(out[0][0]).strftime("%d %b %Y"))
            return out
    for months in (1, 2, 3, 6, 12, 24, 60):
        if days / (30.4 * months) < most:
            break
    out, year, month = [], first.year, first.month
    if first.day != 1:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while (month - 1) % months:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while (day := date(year, month, 1)) <= last:
        label = day.strftime("%Y") if months >= 12 else (
            day.strftime("%b %Y") if not out or month == 1 else day.strftime("%b"))
        out.append((day.toordinal(), label))
        month += months
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return out


HOUR_STEPS = (1, 2, 3, 6, 12)


def time_ticks(first: datetime, last: datetime, tz: tzinfo,
               most: int = 7) -> list[tuple[float, str]]:
    """Tick moments (POSIX seconds) and labels for a time axis from ``first`` to ``last``
    (aware), on round local times of ``tz``: whole hours (1-12 apart; the date at the first
    tick and at midnight), else local midnights as ``date_ticks`` spaces them."""
    start, end = first.timestamp(), last.timestamp()
    hours = (end - start) / 3600
    step = next((h for h in HOUR_STEPS if hours / h < most), None)
    if step is None:
        local = first.astimezone(tz)
        day = local.date() + timedelta(days=local.time() != time())  # the first midnight
        moments = [(datetime.combine(date.fromordinal(o), time(), tz).timestamp(), text)
                   for o, text in date_ticks(day, last.astimezone(tz).date(), most)]
        return [(m, text) for m, text in moments if start <= m <= end]
    # Every quarter hour, so that zones 30 or 45 minutes off UTC's hours get ticks too;
    # stepped in UTC (aware arithmetic in ``tz`` would step wall time across a DST change).
    moment = datetime.fromtimestamp(start - start % 900, UTC)
    out = []
    while (stamp := moment.timestamp()) <= end:
        local = moment.astimezone(tz)
        if stamp >= start and local.minute == 0 and local.hour % step == 0:
            fmt = "%d %b %H:%M" if not out else ("%d %b" if local.hour == 0 else "%H:%M")
            out.append((stamp, local.strftime(fmt)))
        moment += timedelta(minutes=15)
    return out


def colour(stops: Sequence[str], t: float) -> str:
    """The colour at ``t`` (0-1, clipped) of the linear map through ``stops``."""
    t = min(1.0, max(0.0, t)) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    a, b = stops[i], stops[i + 1]
    return "#" + "".join(
        f"{round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f):02x}"
        for k in (1, 3, 5))


# --- axes -------------------------------------------------------------------------------
TICK = 3.5  # tick length, points


def spines(c: Canvas, f: Frame) -> None:
    c.path(f"M{num(f.left)} {num(f.top)}H{num(f.right)}V{num(f.bottom)}H{num(f.left)}Z",
           stroke=INK, width=0.8)


def x_axis(c: Canvas, f: Frame, ticks: Iterable[tuple[float, str]], *,
           rotate: bool = False, label: str = "") -> None:
    """Ticks and their labels under the box; ``rotate``: labels at 45 degrees. A tick
    labelled "" is a mark alone (an axis shared with the plot beside)."""
    marks = []
    for value, text in ticks:
        x = f.x(value)
        marks.append(f"M{num(x)} {num(f.bottom)}v{num(TICK)}")
        if not text:
            continue
        if rotate:
            c.text(x + 2, f.bottom + TICK + 4, text, anchor="end", rotate=-45)
        else:
            c.text(x, f.bottom + TICK + 8, text, anchor="middle")
    if marks:
        c.path("".join(marks), stroke=INK, width=0.8)
    if label:
        c.text(f.left + f.width / 2, c.height - 8, label, anchor="middle", middle=False)


def y_axis(c: Canvas, f: Frame, ticks: Iterable[tuple[float, str]], *,
           label: str = "") -> None:
    marks = []
    for value, text in ticks:
        y = f.y(value)
        marks.append(f"M{num(f.left)} {num(y)}h{num(-TICK)}")
        if text:
            c.text(f.left - TICK - 2, y, text, anchor="end")
    if marks:
        c.path("".join(marks), stroke=INK, width=0.8)
    if label:
        c.text(10, f.top + f.height / 2, label, anchor="middle", rotate=-90)


def number_ticks(lo: float, hi: float, most: int = 6, *, integer: bool = False,
                 room: float | None = None) -> list[tuple[float, str]]:
    """Ticks and labels over [lo, hi]; ``room``: the points they share side by side
    (an x axis), so that labels never overlap."""
    values = nice_ticks(lo, hi, most, integer=integer)
    while room is not None and len(values) > 2 and most > 1:
        widest = max(text_width(tick_label(v, values)) for v in values)
        if (widest + 6) * len(values) <= room:
            break
        most -= 1
        values = nice_ticks(lo, hi, most, integer=integer)
    return [(v, tick_label(v, values)) for v in values]


def extent(grid: Sequence[Sequence[float]]) -> tuple[float, float]:
    """The smallest and largest value of a grid (rows of numbers)."""
    values = [v for row in grid for v in row]
    return min(values), max(values)


def heatmap(c: Canvas, f: Frame, grid, stops: Sequence[str], texts) -> tuple[float, float]:
    """``grid`` (rows from the top) as cells filling the box, coloured by ``stops`` from
    its smallest to its largest value; ``texts(i, j, share)`` gives a cell's text and its
    colour, or None (``share``: the value's place, 0-1, in that range). Sets the frame's
    range to the cells (cell (i, j) centred on x=j, y=i). Returns the range."""
    lo, hi = extent(grid)
    rows, cols = len(grid), len(grid[0])
    f.x0, f.x1, f.y0, f.y1 = -0.5, cols - 0.5, rows - 0.5, -0.5
    cw, ch = f.width / cols, f.height / rows
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            share = (v - lo) / (hi - lo) if hi > lo else 0.0
            c.rect(f.left + j * cw, f.top + i * ch, cw, ch, colour(stops, share))
            text = texts(i, j, share)
            if text:
                c.text(f.left + (j + 0.5) * cw, f.top + (i + 0.5) * ch, text[0], size=7,
                       anchor="middle", fill=text[1])
    return lo, hi


def heatmap_chart(size: tuple[float, float], grid, rows: Sequence[str], cols: Sequence[str],
                  stops: Sequence[str], texts, scale_label: str, *, xlabel: str = "",
                  ylabel: str = "", marks=None) -> Canvas:
    """A chart of ``grid``'s cells (see ``heatmap``): ``rows`` named down the left, ``cols``
    slanted under it, a colour scale labelled ``scale_label`` on the right; ``marks(c, f)``
    draws over the cells, under the frame."""
    c, f = chart(*size, left=rows, rotated=cols, ylabel=bool(ylabel),
                 right=colorbar_room(*extent(grid)))
    lo, hi = heatmap(c, f, grid, stops, texts)
    if marks is not None:
        marks(c, f)
    spines(c, f)
    x_axis(c, f, list(enumerate(cols)), rotate=True, label=xlabel)
    y_axis(c, f, list(enumerate(rows)), label=ylabel)
    colorbar(c, f, stops, lo, hi, scale_label)
    return c


def hbars(c: Canvas, f: Frame, values: Sequence[float], fill: str, *,
          starts: Sequence[float] | None = None, thickness: float = 0.8,
          offset: float = 0.0) -> None:
    """A horizontal bar per row i (centred on y=i+``offset``) from ``starts[i]`` (0) to
    that plus ``values[i]``; rows of 0 draw nothing."""
    for i, value in enumerate(values):
        if not value:
            continue
        start = starts[i] if starts is not None else 0.0
        top, bottom = f.y(i + offset - thickness / 2), f.y(i + offset + thickness / 2)
        c.rect(f.x(start), top, f.x(start + value) - f.x(start), bottom - top, fill)


def series(c: Canvas, points: Sequence[tuple[float, float | None]], stroke: str, *,
           width: float = 1.5, marker: float = 1.5) -> None:
    """A line with a dot at each point (canvas coordinates); a point whose y is None
    breaks the line, as matplotlib leaves a gap for a missing value."""
    run: list[tuple[float, float]] = []
    for x, y in [*points, (0.0, None)]:
        if y is not None:
            run.append((x, y))
            continue
        if len(run) > 1:
            c.line(run, stroke=stroke, width=width)
        for px, py in run:
            c.circle(px, py, marker, stroke)
        run = []


@dataclass(frozen=True)
class Entry:
    """A legend entry: a colour and its label, drawn as a square ("bar"), a line with a
    dot ("line", as ``series``) or a plain line ("rule"; ``dash`` as ``Canvas.path``)."""

    colour: str
    label: str
    kind: str = "bar"
    dash: str | None = None


LEGEND_ROW = 12.0


def legend_rows(entries: Sequence[Entry], width: float, size: float = 8.0) -> list[list]:
    """Entries in rows that fit ``width``: [[(x offset, entry), ...], ...]."""
    rows, x = [[]], 0.0
    for entry in entries:
        w = 16 + text_width(entry.label, size) + 12
        if rows[-1] and x + w > width:
            rows.append([])
            x = 0.0
        rows[-1].append((x, entry))
        x += w
    return rows if rows[0] else []


def legend_above(entries: Sequence[Entry], width: float) -> tuple[list[list], float]:
    """A legend for above the axes of a ``width``-inch plot: its rows and the points
    they take (``chart``'s ``top``)."""
    rows = legend_rows(entries, (width - 1.5) * PT)
    return rows, len(rows) * LEGEND_ROW + 4


def legend(c: Canvas, left: float, top: float, rows: list[list], size: float = 8.0) -> None:
    """The legend's rows from (left, top), above the axes."""
    for n, row in enumerate(rows):
        y = top + n * LEGEND_ROW + LEGEND_ROW / 2
        for x, entry in row:
            if entry.kind == "bar":
                c.rect(left + x + 2, y - 4, 8, 8, entry.colour)
            else:
                c.line([(left + x, y), (left + x + 12, y)], stroke=entry.colour, width=1.5,
                       dash=entry.dash)
            if entry.kind == "line":
                c.circle(left + x + 6, y, 1.5, entry.colour)
            c.text(left + x + 16, y, entry.label, size=size)


def _scale_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    return number_ticks(lo, hi, 5, integer=hi - lo >= 5)


def colorbar_room(lo: float, hi: float) -> float:
    """Points a colour scale of ``lo``..``hi`` takes right of the box (see ``colorbar``)."""
    return 14 + 10 + TICK + 2 + max((text_width(t) for _v, t in _scale_ticks(lo, hi)),
                                    default=0) + 16


def colorbar(c: Canvas, f: Frame, stops: Sequence[str], lo: float, hi: float,
             label: str, steps: int = 48) -> None:
    """A vertical colour scale right of the box, with ticks and ``label`` (size 7)."""
    x, w = f.right + 14, 10.0
    step_h = f.height / steps
    for n in range(steps):
        c.rect(x, f.bottom - (n + 1) * step_h, w, step_h + 0.3,
               colour(stops, (n + 0.5) / steps))
    c.path(f"M{num(x)} {num(f.top)}h{num(w)}v{num(f.height)}h{num(-w)}Z",
           stroke=INK, width=0.8)
    scale = Frame(x, f.top, w, f.height, y0=lo, y1=hi if hi > lo else lo + 1)
    ticks = _scale_ticks(lo, hi)
    marks = []
    for value, text in ticks:
        y = scale.y(value)
        marks.append(f"M{num(x + w)} {num(y)}h{num(TICK)}")
        c.text(x + w + TICK + 2, y, text)
    if marks:
        c.path("".join(marks), stroke=INK, width=0.8)
    longest = max((text_width(t) for _v, t in ticks), default=0)
    c.text(x + w + TICK + 10 + longest, f.top + f.height / 2, label, anchor="middle",
           rotate=90, size=7)


EMPTY_HEIGHT = 0.8  # inches: a plot with nothing to show is a line, not a blank frame


def empty(width: float, height: float, message: str) -> Canvas:
    """A plot of ``width`` inches (and ``height``, at most EMPTY_HEIGHT) with nothing to
    show: the reason, centred. A new survey's page is then short, not a column of blanks."""
    c = Canvas(width * PT, min(height, EMPTY_HEIGHT) * PT)
    c.text(c.width / 2, c.height / 2, message, anchor="middle")
    return c


def chart(width: float, height: float, *, left: Sequence[str] = (), rotated: Sequence[str] = (),
          title: bool = False, ylabel: bool = False, top: float = 0.0,
          right: float = 0.0) -> tuple[Canvas, Frame]:
    """A canvas of ``width`` x ``height`` inches and its axes' box, with margins for the
    longest tick labels (``left``; ``rotated`` under the box), a title, a y label, and
    ``top``/``right`` more points (a legend, a colour scale)."""
    w, h = width * PT, height * PT
    left_pt = (0.35 * PT + min(3.2 * PT, max(map(text_width, left), default=text_width("000")))
               + (0.25 * PT if ylabel else 0))
    bottom_pt = 0.55 * PT + min(2.5 * PT, 0.72 * max(map(text_width, rotated), default=0))
    top_pt = (0.4 if title else 0.15) * PT + top
    right_pt = 0.25 * PT + right
    return Canvas(w, h), Frame(left_pt, top_pt, max(40.0, w - left_pt - right_pt),
                               max(30.0, h - top_pt - bottom_pt))
