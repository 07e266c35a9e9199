"""Plots of a task's classifier page: precision/recall, confusion matrix, threshold curves."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from .classifier_aggregates import CURVE_THRESHOLDS, NO_ANSWER, ClassifierInsights
from .plotting import (
    AI_COLOUR,
    MAX_SERIES,
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

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_CELLS = 25  # rows and columns of the confusion matrix drawn; the CSV has them all


def metrics_table(ins: ClassifierInsights):
    return (["class", "in_classifier", "human_clusters", "ai_clusters", "agreed_clusters",
             "precision", "recall", "threshold"],
            [(m.name, "yes" if m.in_classifier else "no", m.support, m.answered, m.agreed,
              ratio_cell(m.precision), ratio_cell(m.recall), ins.threshold) for m in ins.metrics()])


def metrics_figure(ins: ClassifierInsights) -> Figure:
    rows = [m for m in ins.metrics() if m.support or m.answered]
    fig = figure(len(rows), per_row=0.45)
    if not rows:
        return empty(fig, "No labelled cluster to compare with a suggestion")
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
    ax.set_xlabel(f"% at threshold {ins.threshold:g} (class (clusters labelled with it))")
    fit(fig, names)
    ax.legend(loc="lower right", fontsize=7)
    return fig


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


def confusion_figure(ins: ClassifierInsights) -> Figure:
    grid = ins.confusion()
    by_row, by_col = Counter(), Counter()
    for (h, a), n in grid.items():
        by_row[h] += n
        by_col[a] += n
    rows, cols = _largest(by_row), _largest(by_col, keep_last="")
    fig = figure(len(rows), per_row=0.35)
    if not rows:
        return empty(fig, "No labelled cluster to compare with a suggestion")
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
    ax.set_xlabel(f"AI answer at threshold {ins.threshold:g}")
    fit(fig, row_names, col_names, ylabel=True)
    fig.colorbar(image, ax=ax, label="clusters")
    return fig


def curve_table(ins: ClassifierInsights):
    return (["class", "threshold", "human_clusters", "ai_clusters", "agreed_clusters",
             "precision", "recall"],
            [(name, t, m.support, m.answered, m.agreed, ratio_cell(m.precision),
              ratio_cell(m.recall))
             for name, points in ins.curve().items()
             for t, m in zip(CURVE_THRESHOLDS, points, strict=True)])


def curve_figure(ins: ClassifierInsights) -> Figure:
    curves = ins.curve()
    fig = mpl().Figure(figsize=(8.0, 3.6))
    if not curves:
        return empty(fig, "No labelled cluster carries a suggestion")
    ranked = sorted(curves.items(), key=lambda kv: (-kv[1][0].support, kv[0].casefold()))
    axes = fig.subplots(1, 2, sharey=True)
    for name, points in ranked[:MAX_SERIES]:
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


CLASSIFIER_PLOTS = plot_dict(
    Plot("precision-recall", "Precision and recall per class",
         "Precision: of the clusters the AI answered with a class, the share a person "
         "labelled with it. Recall: of the clusters a person labelled with a class, the share "
         "the AI answered with it. At the chosen threshold.", metrics_table, metrics_figure),
    Plot("confusion", "Confusion matrix",
         "Human label (rows) against the AI's answer (columns) at the chosen threshold; "
         "outlined cells are agreements. A cluster with two labels is in two rows.",
         confusion_table, confusion_figure),
    Plot("threshold", "Precision and recall by threshold",
         "Each suggested class's precision and recall if answers scoring under the threshold "
         "were dropped (dotted line: the chosen threshold), for the classes most often "
         "labelled.", curve_table, curve_figure),
)
