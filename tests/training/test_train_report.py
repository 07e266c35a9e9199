"""The training report's confusion matrix: a Vega-Lite spec rendered by vl-convert."""

import sys

import numpy as np
from PIL import Image

from training.services.train_report import (
    Evaluation,
    build_report,
    confusion_spec,
    plot_confusion,
)


def report(classes=("A", "B", "C")):
    table = [(0, 0, 0.9), (0, 0, 0.8), (1, 0, 0.6), (1, 1, 0.7), (1, 1, 0.95), (0, 1, 0.5),
             (2, 0, 0.99)]
    truth, predicted, scores = (np.array(col) for col in zip(*table, strict=True))
    made, _thresholds = build_report(Evaluation(list(classes), truth, predicted, scores), 0.9,
                                     {}, [])
    return made


def test_confusion_cells_are_the_counts_true_by_predicted():
    spec = confusion_spec(report())
    cells = {(c["true"], c["predicted"]): c["count"] for c in spec["data"]["values"]}
    assert cells == {("A", "A"): 2, ("A", "B"): 1, ("A", "C"): 0, ("B", "A"): 1, ("B", "B"): 2,
                     ("B", "C"): 0, ("C", "A"): 1, ("C", "B"): 0, ("C", "C"): 0}
    inks = {c["ink"] for c in spec["data"]["values"] if c["count"] == 2}
    assert inks == {"white"}  # over half the largest count: white on the dark cells
    rect, text = spec["layer"]
    assert rect["encoding"]["x"]["sort"] == ["A", "B", "C"]
    assert text["encoding"]["text"] == {"field": "count"}


def test_confusion_png_is_drawn_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    plot_confusion(report(), tmp_path / "confusion.png")
    with Image.open(tmp_path / "confusion.png") as image:
        width, height = image.size
        assert width > 3 * 2 * 40 and height > 3 * 2 * 40  # three 40 px cells, at scale 2
        colours = {rgb for _n, rgb in image.convert("RGB").getcolors(1 << 20)}
    assert (255, 255, 255) in colours and len(colours) > 20  # cells, text and axes
