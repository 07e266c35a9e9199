"""Plots of a task's classifier page: precision/recall, confusion matrix, threshold curves.

Each is a plotting.Plot: ``svg`` draws the page and the SVG download
(insights.services.svg), ``draw`` the PNG download (matplotlib).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from . import svg
from .classifier_aggregates import CURVE_THRESHOLDS, NO_ANSWER, ClassifierInsights
from .plotting import (
    AI_COLOUR,
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
    ratio_cell,
    short,
)
from .svg import Canvas, Entry

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_CELLS = 25  # rows and columns of the confusion matrix drawn; the CSV has them all
NOTHING_COMPARED = "No labelled cluster to compare with a suggestion"
NO_SUGGESTION = "No labelled cluster carries a suggestion"
THRESHOLD_COLOUR, DOTTED = "#777777", "1.5 2.5"
CURVE_SIZE = (8.0, 3.6)


def metrics_table(ins: ClassifierInsights):
    return (["class", "in_classifier", "human_clusters", "ai_clusters", "agreed_clusters",
             "precision", "recall", "threshold"],
            [(m.name, "yes" if m.in_classifier else "no", m.support, m.answered, m.agreed,
              ratio_cell(m.precision), ratio_cell(m.recall), ins.threshold) for m in ins.metrics()])


def metrics_figure(ins: ClassifierInsights) -> Figure:
    rows = _compared_classes(ins)
    fig = figure(len(rows), per_row=0.45)
    if not rows:
        return empty(fig, NOTHING_COMPARED)
    ax = fig.add_subplot()
    names = [label(f"{m.name} ({m.support})") for m in rows]
    y = range(len(rows))
    ax.barh([i - 0.2 for i in y], [100 * (m.precision or 0) for m in rows], height=0.4,
            color=VERIFIED_COLOUR, label="precision")
    ax.barh([i + 0.2 for i in y], [100 * (m.recall or 0) for m in rows], height=0.4,
            color=AI_COLOUR, label="recall")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(_metrics_axis(ins))
    fit(fig, names)
    ax.legend(loc="lower right", fontsize=7)
    return fig


def _compared_classes(ins: ClassifierInsights):
    return [m for m in ins.metrics() if m.support or m.answered]


def _metrics_axis(ins: ClassifierInsights) -> str:
    return f"% at threshold {ins.threshold:g} (class (clusters labelled with it))"


def metrics_svg(ins: ClassifierInsights) -> Canvas:
    """Two bars a class, precision over recall, the classes from the top."""
    rows = _compared_classes(ins)
    size = (WIDTH, height(len(rows), per_row=0.45))
    if not rows:
        return svg.empty(*size, NOTHING_COMPARED)
    names = [short(f"{m.name} ({m.support})") for m in rows]
    legend, room = svg.legend_above([Entry(VERIFIED_COLOUR, "precision"),
                                     Entry(AI_COLOUR, "recall")], WIDTH)
    c, f = svg.chart(*size, left=names, top=room)
    f.x1, f.y0, f.y1 = 100.0, len(rows) - 0.5, -0.5
    for what, colour, offset in (("precision", VERIFIED_COLOUR, -0.2),
                                 ("recall", AI_COLOUR, 0.2)):
        svg.hbars(c, f, [100 * (getattr(m, what) or 0) for m in rows], colour,
                  thickness=0.4, offset=offset)
    svg.spines(c, f)
    svg.x_axis(c, f, svg.number_ticks(0, 100, room=f.width), label=_metrics_axis(ins))
    svg.y_axis(c, f, list(enumerate(names)))
    svg.legend(c, f.left, f.top - room, legend)
    return c


def _shown(ins: ClassifierInsights, k: str) -> str:
    return ins.names().get(k, k) if k else NO_ANSWER


def confusion_table(ins: ClassifierInsights):
    rows = [(_shown(ins, h), _shown(ins, a), n, ins.threshold)
            for (h, a), n in ins.confusion().items()]
    rows.sort(key=lambda r: (r[0].casefold(), r[1] == NO_ANSWER, r[1].casefold()))
    return ["human_label", "ai_answer", "clusters", "threshold"], rows


def _largest(counts: Counter, keep_last: str | None = None) -> list[str]:
    keys = [k for k, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:MAX_CELLS]
    keys.sort(key=lambda k: (k == keep_last, k))
    return keys


def _matrix(ins: ClassifierInsights) -> tuple[Counter, list[str], list[str]]:
    """The confusion counts and the rows (human labels) and columns (answers) drawn: the
    largest ``MAX_CELLS`` of each, "no answer" last."""
    grid = ins.confusion()
    by_row, by_col = Counter(), Counter()
    for (h, a), n in grid.items():
        by_row[h] += n
        by_col[a] += n
    return grid, _largest(by_row), _largest(by_col, keep_last="")


def _confusion_axis(ins: ClassifierInsights) -> str:
    return f"AI answer at threshold {ins.threshold:g}"


def confusion_figure(ins: ClassifierInsights) -> Figure:
    grid, rows, cols = _matrix(ins)
    fig = figure(len(rows), per_row=0.35)
    if not rows:
        return empty(fig, NOTHING_COMPARED)
    ax = fig.add_subplot()
    values = [[grid[(h, a)] for a in cols] for h in rows]
    image = ax.imshow(values, aspect="auto", cmap="Greens")
    dark = max(max(r) for r in values) / 2
    rectangle = mpl().Rectangle
    for i, h in enumerate(rows):
        for j, a in enumerate(cols):
            if h == a:  # the AI's answer is the human label
                ax.add_patch(rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, linewidth=1.5,
                                       edgecolor=AI_COLOUR))
            if grid[(h, a)]:
                ax.text(j, i, str(grid[(h, a)]), ha="center", va="center", fontsize=7,
                        color="white" if grid[(h, a)] > dark else "black")
    row_names = [label(_shown(ins, h)) for h in rows]
    col_names = [label(_shown(ins, a)) for a in cols]
    ax.set_yticks(range(len(rows)), row_names)
    ax.set_xticks(range(len(cols)), col_names, rotation=45, ha="right")
    ax.set_ylabel("human label")
    ax.set_xlabel(_confusion_axis(ins))
    fit(fig, row_names, col_names, ylabel=True)
    fig.colorbar(image, ax=ax, label="clusters")
    return fig


def confusion_svg(ins: ClassifierInsights) -> Canvas:
    """Cells darkening with their counts, each count written; agreements outlined."""
    grid, rows, cols = _matrix(ins)
    size = (WIDTH, height(len(rows), per_row=0.35))
    if not rows:
        return svg.empty(*size, NOTHING_COMPARED)
    values = [[grid[(h, a)] for a in cols] for h in rows]
    row_names = [short(_shown(ins, h)) for h in rows]
    col_names = [short(_shown(ins, a)) for a in cols]
    dark = max(max(r) for r in values) / 2

    def texts(i, j, _share):
        n = values[i][j]
        return (str(n), "#ffffff" if n > dark else svg.INK) if n else None

    def agreements(c, f):  # outlined: the AI's answer is the human label
        for i, h in enumerate(rows):
            if h in cols:
                j = cols.index(h)
                c.rect(f.x(j - 0.5), f.y(i - 0.5), f.x(j + 0.5) - f.x(j - 0.5),
                       f.y(i + 0.5) - f.y(i - 0.5), "none", stroke=AI_COLOUR, width=1.5)

    return svg.heatmap_chart(size, values, row_names, col_names, svg.GREENS, texts, "clusters",
                             xlabel=_confusion_axis(ins), ylabel="human label",
                             marks=agreements)


def curve_table(ins: ClassifierInsights):
    return (["class", "threshold", "human_clusters", "ai_clusters", "agreed_clusters",
             "precision", "recall"],
            [(name, t, m.support, m.answered, m.agreed, ratio_cell(m.precision),
              ratio_cell(m.recall))
             for name, points in ins.curve().items()
             for t, m in zip(CURVE_THRESHOLDS, points, strict=True)])


def curve_figure(ins: ClassifierInsights) -> Figure:
    ranked = _ranked_curves(ins)
    fig = mpl().Figure(figsize=CURVE_SIZE)
    if not ranked:
        return empty(fig, NO_SUGGESTION)
    axes = fig.subplots(1, 2, sharey=True)
    for name, points in ranked:
        for ax, what in zip(axes, ("precision", "recall"), strict=True):
            ys = [getattr(m, what) for m in points]
            ax.plot(CURVE_THRESHOLDS, [None if v is None else 100 * v for v in ys],
                    marker="o", markersize=2, label=label(name))
    for ax, what in zip(axes, ("precision", "recall"), strict=True):
        ax.axvline(ins.threshold, color="#777777", linestyle=":")
        ax.set_xlabel("score threshold")
        ax.set_title(f"{what} (%)", fontsize=9)
        ax.set_ylim(-3, 103)
    fit(fig, title=True)
    fig.subplots_adjust(wspace=0.08)
    axes[1].legend(fontsize=7)
    return fig


def _ranked_curves(ins: ClassifierInsights) -> list:
    """The curves drawn: the ``MAX_SERIES`` classes most often labelled."""
    curves = ins.curve()
    return sorted(curves.items(), key=lambda kv: (-kv[1][0].support,
                                                  kv[0].casefold()))[:MAX_SERIES]


def curve_svg(ins: ClassifierInsights) -> Canvas:
    """Precision (left) and recall (right) against the threshold, a line a class, sharing
    the y axis; the chosen threshold dotted."""
    ranked = _ranked_curves(ins)
    if not ranked:
        return svg.empty(*CURVE_SIZE, NO_SUGGESTION)
    entries = [Entry(svg.CYCLE[k], short(name), "line") for k, (name, _p) in enumerate(ranked)]
    legend, room = svg.legend_above(entries, CURVE_SIZE[0])
    c, whole = svg.chart(*CURVE_SIZE, title=True, top=room, ylabel=True)
    gap = 0.08 * (whole.width / 2)
    panel = (whole.width - gap) / 2
    ticks = svg.number_ticks(0, 100)
    for k, what in enumerate(("precision", "recall")):
        f = svg.Frame(whole.left + k * (panel + gap), whole.top, panel, whole.height,
                      x0=-0.0475, x1=max(0.9975, ins.threshold), y0=-3, y1=103)
        for entry, (_name, points) in zip(entries, ranked, strict=True):
            ys = [getattr(m, what) for m in points]
            svg.series(c, [(f.x(t), None if v is None else f.y(100 * v))
                           for t, v in zip(CURVE_THRESHOLDS, ys, strict=True)],
                       entry.colour, width=1.2, marker=1.0)
        c.line([(f.x(ins.threshold), f.top), (f.x(ins.threshold), f.bottom)],
               stroke=THRESHOLD_COLOUR, dash=DOTTED)
        svg.spines(c, f)
        svg.x_axis(c, f, svg.number_ticks(0, 0.95, room=f.width), label="score threshold")
        svg.y_axis(c, f, ticks if k == 0 else [(v, "") for v, _t in ticks])  # shared
        c.text(f.left + f.width / 2, f.top - 8, f"{what} (%)", anchor="middle", middle=False)
    svg.legend(c, whole.left, whole.top - room - 18, legend)
    return c


CLASSIFIER_PLOTS = plot_dict(
    Plot("precision-recall", "Precision and recall per class",
         "Precision: of the clusters the AI answered with a class, the share a person "
         "labelled with it. Recall: of the clusters a person labelled with a class, the share "
         "the AI answered with it. At the chosen threshold.", metrics_table, metrics_figure,
         metrics_svg),
    Plot("confusion", "Confusion matrix",
         "Human label (rows) against the AI's answer (columns) at the chosen threshold; "
         "outlined cells are agreements. A cluster with two labels is in two rows.",
         confusion_table, confusion_figure, confusion_svg),
    Plot("threshold", "Precision and recall by threshold",
         "Each suggested class's precision and recall if answers scoring under the threshold "
         "were dropped (dotted line: the chosen threshold), for the classes most often "
         "labelled.", curve_table, curve_figure, curve_svg),
)
