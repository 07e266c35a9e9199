"""What a training run learned, measured on the held-out locations.

Everything here is numpy on the held-out predictions (top-1 class and its
score per crop, as inference stores them): per-class precision/recall and
accuracy, the confusion matrix, and the per-class thresholds.

Thresholds: for each class, the lowest score t such that, of the held-out
crops predicted as that class with a score ≥ t, at least ``target`` are truly
that class. A class that never reaches the target (no held-out crop predicted
as it, or too many mistakes at every score) gets a threshold of 1.0 and is
listed as ``unreached``: its suggestions are in effect switched off until a
person lowers the threshold in the admin. We chose 1.0 over leaving the class
at the classifier's default threshold because an unmeasured class should not
silently label clusters.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

UNREACHED = 1.0


@dataclass
class Evaluation:
    """Held-out results: true class, predicted class and its score per crop."""

    classes: list[str]
    truth: np.ndarray
    predicted: np.ndarray
    scores: np.ndarray


def choose_threshold(is_right: np.ndarray, scores: np.ndarray, target: float) -> float | None:
    """The lowest score threshold whose precision reaches ``target`` (None: none does).

    ``is_right``/``scores``: the crops predicted as one class, whether each was
    truly that class and its score. Thresholds are floored to 4 decimals (the
    stored score's precision) so the crop at the threshold still counts.
    """
    if len(scores) == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    right = np.cumsum(is_right[order])
    kept = np.arange(1, len(order) + 1)
    precision = right / kept
    sorted_scores = scores[order]
    best = None
    for i in range(len(order)):
        # Ties: a threshold keeps every crop of the same score, so judge at the last of them.
        if i + 1 < len(order) and sorted_scores[i + 1] == sorted_scores[i]:
            continue
        if precision[i] >= target:
            best = float(sorted_scores[i])
    return None if best is None else math.floor(best * 10_000) / 10_000


def class_thresholds(evaluation: Evaluation, target: float) -> tuple[dict[str, float], list[str]]:
    """Per-class thresholds for ``target`` precision, and the classes that never reach it."""
    thresholds, unreached = {}, []
    for i, name in enumerate(evaluation.classes):
        mine = evaluation.predicted == i
        chosen = choose_threshold(evaluation.truth[mine] == i, evaluation.scores[mine], target)
        if chosen is None:
            unreached.append(name)
            chosen = UNREACHED
        thresholds[name] = chosen
    return thresholds, unreached


def confusion(evaluation: Evaluation) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    n = len(evaluation.classes)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (evaluation.truth, evaluation.predicted), 1)
    return matrix


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def per_class(evaluation: Evaluation, thresholds: dict[str, float]) -> list[dict]:
    """A row per class: support, precision/recall at top-1, and at its threshold."""
    matrix = confusion(evaluation)
    rows = []
    for i, name in enumerate(evaluation.classes):
        tp, predicted, support = matrix[i, i], matrix[:, i].sum(), matrix[i].sum()
        kept = (evaluation.predicted == i) & (evaluation.scores >= thresholds[name])
        kept_right = int((kept & (evaluation.truth == i)).sum())
        rows.append({
            "class": name, "held_out": int(support), "accuracy": _ratio(tp, support),
            "precision": _ratio(tp, predicted), "recall": _ratio(tp, support),
            "threshold": thresholds[name],
            "precision_at_threshold": _ratio(kept_right, int(kept.sum())),
            "recall_at_threshold": _ratio(kept_right, support)})
    return rows


@dataclass
class Report:
    summary: dict
    classes: list[dict]
    confusion: list[list[int]]
    history: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"summary": self.summary, "classes": self.classes,
                "confusion": self.confusion, "history": self.history}


def build_report(evaluation: Evaluation, target: float, summary: dict,
                 history: list[dict]) -> tuple[Report, dict[str, float]]:
    """The report and the chosen thresholds. ``summary``: what the caller knows (split…)."""
    thresholds, unreached = class_thresholds(evaluation, target)
    right = int((evaluation.truth == evaluation.predicted).sum())
    total = len(evaluation.truth)
    present = np.bincount(evaluation.truth, minlength=len(evaluation.classes))
    # Chance: guessing the held-out's commonest class every time (≥ 1 / classes).
    chance = float(present.max() / total) if total else 0.0
    accuracy = right / total if total else 0.0
    summary = {**summary, "held_out_crops": total, "held_out_accuracy": round(accuracy, 4),
               "chance_accuracy": round(chance, 4), "beats_chance": accuracy > chance,
               "target_precision": target, "unreached_classes": unreached}
    return Report(summary, per_class(evaluation, thresholds),
                  confusion(evaluation).tolist(), history), thresholds


def write_report(report: Report, folder: Path) -> list[Path]:
    """report.json, report.md, per_class.csv and confusion.png in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report.as_dict(), indent=1,
                                                   ensure_ascii=False), encoding="utf-8")
    columns = list(report.classes[0]) if report.classes else ["class"]
    with (folder / "per_class.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(report.classes)
    (folder / "report.md").write_text(markdown(report), encoding="utf-8")
    plot_confusion(report, folder / "confusion.png")
    return [folder / n for n in ("report.json", "report.md", "per_class.csv", "confusion.png")]


def _cell(value) -> str:
    return "—" if value is None else str(value)


def markdown(report: Report) -> str:
    s = report.summary
    lines = [f"# {s.get('name', 'Trained classifier')} {s.get('version', '')}".rstrip(), "",
             f"Held-out accuracy {s['held_out_accuracy']:.1%} on {s['held_out_crops']} crops "
             f"from {len(s.get('held_out_locations', []))} location(s) never seen in "
             f"training; chance (always the commonest class) {s['chance_accuracy']:.1%}: "
             + ("beats chance." if s["beats_chance"] else "does NOT beat chance."), "",
             f"Thresholds for {s['target_precision']:.0%} precision on the held-out split.", ""]
    if s["unreached_classes"]:
        lines += ["Never reaching that precision (threshold 1.0, suggestions off): "
                  + ", ".join(s["unreached_classes"]) + ".", ""]
    header = list(report.classes[0]) if report.classes else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in header) + " |" for row in report.classes]
    return "\n".join(lines) + "\n"


def plot_confusion(report: Report, path: Path) -> None:
    """The confusion matrix as a PNG, rendered by vl-convert (no browser, no network)."""
    import vl_convert

    path.write_bytes(vl_convert.vegalite_to_png(confusion_spec(report), scale=2,
                                                allowed_base_urls=[]))


def confusion_spec(report: Report) -> dict:
    """The confusion matrix as a Vega-Lite heat map (rows true, columns predicted; counts
    in the cells). Plain JSON: one chart, written once per training run, needs no Altair.
    Class names come from the training data's own export (no control characters)."""
    names = [row["class"] for row in report.classes]
    top = max((v for row in report.confusion for v in row), default=0)
    cells = [{"true": t, "predicted": p, "count": report.confusion[i][j],
              "ink": "white" if report.confusion[i][j] > top / 2 else "black"}
             for i, t in enumerate(names) for j, p in enumerate(names)]
    axes = {"x": {"field": "predicted", "type": "nominal", "sort": names,
                  "axis": {"labelAngle": -45, "title": "predicted"}},
            "y": {"field": "true", "type": "nominal", "sort": names,
                  "axis": {"title": "true (held-out)"}}}
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v6.json",
            "data": {"values": cells}, "width": {"step": 40}, "height": {"step": 40},
            "layer": [
                {"mark": "rect", "encoding": {**axes, "color": {
                    "field": "count", "type": "quantitative",
                    "scale": {"scheme": "blues"}, "title": "crops"}}},
                {"mark": "text", "encoding": {**axes, "text": {"field": "count"},
                                              "color": {"field": "ink", "scale": None}}}],
            "resolve": {"scale": {"color": "independent"}}}
    return spec
