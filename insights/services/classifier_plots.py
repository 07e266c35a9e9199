"""Charts of a task's classifier page: precision/recall, confusion matrix, threshold curves.

Each is a charts.Chart: a Vega-Lite spec (see insights.services.charts) and its CSV.
"""

from __future__ import annotations

from collections import Counter

from .charts import (
    AI_COLOUR,
    DATA,
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
    empty,
    finish,
    heatmap,
    legend_top,
    names,
    ratio_cell,
    template,
    tip,
)
from .classifier_aggregates import CURVE_THRESHOLDS, NO_ANSWER, ClassifierInsights

MAX_CELLS = 25  # rows and columns of the confusion matrix drawn; the CSV has them all
NOTHING_COMPARED = "No labelled cluster to compare with a suggestion"
NO_SUGGESTION = "No labelled cluster carries a suggestion"


def metrics_table(ins: ClassifierInsights):
    return (["class", "in_classifier", "human_clusters", "ai_clusters", "agreed_clusters",
             "precision", "recall", "threshold"],
            [(m.name, "yes" if m.in_classifier else "no", m.support, m.answered, m.agreed,
              ratio_cell(m.precision), ratio_cell(m.recall), ins.threshold) for m in ins.metrics()])


def _compared_classes(ins: ClassifierInsights):
    return [m for m in ins.metrics() if m.support or m.answered]


def _metrics_axis(ins: ClassifierInsights) -> str:
    return f"% at threshold {ins.threshold:g} (class (clusters labelled with it))"


def metrics_spec(ins: ClassifierInsights) -> dict:
    """Two bars a class, precision over recall, the classes from the top."""
    rows = _compared_classes(ins)
    if not rows:
        return empty(NOTHING_COMPARED)
    data = [{"class": f"{m.name} ({m.support})", "measure": what,
             "percent": 100 * (getattr(m, what) or 0),
             "of": f"{m.agreed}/{m.answered if what == 'precision' else m.support}"}
            for m in rows for what in ("precision", "recall")]
    return finish(_metrics(_metrics_axis(ins)), **{DATA: data})


@template
def _metrics(xlabel: str):
    a = alt()
    return chart().mark_bar().encode(
        x=a.X("percent", type="quantitative", scale=a.Scale(domain=[0, 100]),
              axis=a.Axis(title=xlabel)),
        y=a.Y("class", type="nominal", sort=None, axis=names()),
        yOffset=a.YOffset("measure", type="nominal", sort=None),
        color=a.Color("measure", type="nominal", sort=None, legend=legend_top(),
                      scale=a.Scale(range=[VERIFIED_COLOUR, AI_COLOUR])),
        tooltip=[tip("class"), tip("measure"), tip("percent", "quantitative", format=".1f"),
                 tip("of", title="clusters")],
    ).properties(width=WIDTH, height=a.Step(ROW + 12, **{"for": "position"}))


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


def confusion_spec(ins: ClassifierInsights) -> dict:
    """Cells darkening with their counts, each count written; agreements outlined."""
    grid, rows, cols = _matrix(ins)
    if not rows:
        return empty(NOTHING_COMPARED)
    dark = max(grid[(h, a)] for h in rows for a in cols) / 2
    data = [{"human": _shown(ins, h), "answer": _shown(ins, a), "clusters": grid[(h, a)],
             "text": str(grid[(h, a)]) if grid[(h, a)] else "",
             "ink": WHITE if grid[(h, a)] > dark else INK, "agree": h == a}
            for h in rows for a in cols]
    agreed = [d for d in data if d["agree"]]
    return finish(_confusion(_confusion_axis(ins)), **{DATA: data, "agreed": agreed})


@template
def _confusion(xlabel: str):
    a = alt()
    outline = chart("agreed").mark_rect(filled=False, stroke=AI_COLOUR, strokeWidth=1.5).encode(
        x=a.X("answer", type="nominal", sort=None), y=a.Y("human", type="nominal", sort=None))
    made = heatmap("answer", "human", "clusters", "greens", "clusters", xtitle=xlabel,
                   ytitle="human label", extra=(outline,))
    return made


def curve_table(ins: ClassifierInsights):
    return (["class", "threshold", "human_clusters", "ai_clusters", "agreed_clusters",
             "precision", "recall"],
            [(name, t, m.support, m.answered, m.agreed, ratio_cell(m.precision),
              ratio_cell(m.recall))
             for name, points in ins.curve().items()
             for t, m in zip(CURVE_THRESHOLDS, points, strict=True)])


def _ranked_curves(ins: ClassifierInsights) -> list:
    """The curves drawn: the ``MAX_SERIES`` classes most often labelled."""
    curves = ins.curve()
    return sorted(curves.items(), key=lambda kv: (-kv[1][0].support,
                                                  kv[0].casefold()))[:MAX_SERIES]


def curve_spec(ins: ClassifierInsights) -> dict:
    """Precision (left) and recall (right) against the threshold, a line a class (the
    commonest first), sharing the y axis; the chosen threshold dotted. A threshold at
    which a class gets no answer leaves a gap in its precision line."""
    ranked = _ranked_curves(ins)
    if not ranked:
        return empty(NO_SUGGESTION)
    data = {what: [{"class": name, "threshold": t,
                    "percent": None if getattr(m, what) is None else 100 * getattr(m, what)}
                   for name, points in ranked
                   for t, m in zip(CURVE_THRESHOLDS, points, strict=True)]
            for what in ("precision", "recall")}
    return finish(_curves(), **data, threshold=[{"threshold": ins.threshold}])


@template
def _curves():
    a = alt()

    def panel(what: str):
        lines = chart(what).mark_line(point=True, strokeWidth=1.2,
                                      invalid="break-paths-filter-domains").encode(
            x=a.X("threshold", type="quantitative", scale=a.Scale(domain=[0, 1]),
                  axis=a.Axis(title="score threshold")),
            y=a.Y("percent", type="quantitative", scale=a.Scale(domain=[0, 100]),
                  axis=a.Axis(title=f"{what} (%)")),
            color=a.Color("class", type="nominal", sort=None, legend=legend_top(),
                          scale=a.Scale(scheme="tableau10")),
            tooltip=[tip("class"), tip("threshold", "quantitative"),
                     tip("percent", "quantitative", title=f"{what} (%)", format=".1f")])
        rule = chart("threshold").mark_rule(color=GREY, strokeDash=[1.5, 2.5]).encode(
            x=a.X("threshold", type="quantitative"))
        return a.layer(lines, rule).properties(width=WIDTH // 2 - 20, height=220)

    return a.hconcat(panel("precision"), panel("recall"))


CLASSIFIER_PLOTS = chart_dict(
    Chart("precision-recall", "Precision and recall per class",
         "Precision: of the clusters the AI answered with a class, the share a person "
         "labelled with it. Recall: of the clusters a person labelled with a class, the share "
         "the AI answered with it. At the chosen threshold.", metrics_table, metrics_spec),
    Chart("confusion", "Confusion matrix",
         "Human label (rows) against the AI's answer (columns) at the chosen threshold; "
         "outlined cells are agreements. A cluster with two labels is in two rows.",
         confusion_table, confusion_spec),
    Chart("threshold", "Precision and recall by threshold",
         "Each suggested class's precision and recall if answers scoring under the threshold "
         "were dropped (dotted line: the chosen threshold), for the classes most often "
         "labelled.", curve_table, curve_spec),
)
