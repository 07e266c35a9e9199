"""Where a task's labels come from: a region template, a CSV file, or another task.

Every source gives a list of ``LabelSpec`` (parents before their children), and
``check_label_specs`` applies the rules a task's label hierarchy keeps:
names unique in the whole hierarchy (and not a special label's), hotkeys
unique per level, the reserved top-level keys refused. ``task_setup`` writes them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..exceptions import AnnotationError
from ..models import Label, Task
from ..taxonomy import SPECIAL_LABELS, hotkey_problem

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "label_sets"
CSV_COLUMNS = ("name", "hotkey", "parent", "description")
MAX_LABELS = 1000
NAME_MAX = Label._meta.get_field("name").max_length
DESCRIPTION_MAX = Label._meta.get_field("description").max_length


@dataclass(frozen=True)
class LabelSpec:
    """One label to create: ``parent`` names a label earlier in the same list."""

    name: str
    hotkey: str = ""
    parent: str | None = None
    description: str = ""


@cache
def region_templates() -> dict[str, tuple[LabelSpec, ...]]:
    """The shipped region templates (annotation/label_sets/*.json), by region name."""
    templates = {}
    for path in sorted(TEMPLATES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        specs: list[LabelSpec] = []

        def walk(items, parent):
            for item in items:
                specs.append(LabelSpec(item["name"], item.get("hotkey", ""), parent,  # noqa: B023
                                       item.get("description", "")))
                walk(item.get("children", []), item["name"])

        walk(data["labels"], None)
        templates[data["region"]] = tuple(specs)
    return templates


def template_labels(region: str) -> list[LabelSpec]:
    """The labels of the region template ``region`` (names compared case-insensitively)."""
    for name, specs in region_templates().items():
        if name.lower() == region.strip().lower():
            return list(specs)
    raise AnnotationError(f"There is no label template called “{region}”; choose one of: "
                          + ", ".join(region_templates()) + ".")


def read_labels_csv(filename: str, data: bytes) -> list[LabelSpec]:
    """Labels from a CSV file with the header ``name,hotkey,parent,description``.

    ``name`` is required; the other columns may be left out. A ``parent``
    names a label on an earlier row. Raises AnnotationError naming the file and
    row for anything that is not a label list (including text that is not UTF-8).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnnotationError(f"{filename}: the file is not UTF-8 text; save it as "
                              "“CSV UTF-8” and upload it again.") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [(column or "").strip().lower() for column in (reader.fieldnames or [])]
    if "name" not in header:
        raise AnnotationError(f"{filename}: the first row must be the header "
                              f"{','.join(CSV_COLUMNS)} (only name is required).")
    unknown = [column for column in header if column not in CSV_COLUMNS]
    if unknown:
        raise AnnotationError(f"{filename}: unknown column(s) {', '.join(unknown)}; the "
                              f"columns are {','.join(CSV_COLUMNS)}.")
    reader.fieldnames = header
    specs = []
    for row in reader:
        if len(specs) >= MAX_LABELS:
            raise AnnotationError(f"{filename}: more than {MAX_LABELS} labels.")
        cells = {key: (value or "").strip() for key, value in row.items() if key}
        if not any(cells.values()):
            continue
        if not cells.get("name"):
            raise AnnotationError(f"{filename}, line {reader.line_num}: the name is empty.")
        specs.append(LabelSpec(cells["name"], cells.get("hotkey", "").lower(),
                               cells.get("parent") or None, cells.get("description", "")))
    if not specs:
        raise AnnotationError(f"{filename}: no labels under the header.")
    check_label_specs(specs, source=filename)
    return specs


def labels_of_task(task: Task) -> list[LabelSpec]:
    """A task's own labels as specs (parents first), to copy into another task."""
    return specs_of_labels(Label.objects.filter(task=task).select_related("parent"))


def specs_of_labels(labels) -> list[LabelSpec]:
    """``labels`` (with their parents among them or selected) as specs, parents first."""
    labels = sorted(labels, key=lambda label: (label.parent_id or 0, label.name))
    by_parent: dict[int | None, list[Label]] = {}
    for label in labels:
        by_parent.setdefault(label.parent_id, []).append(label)
    specs: list[LabelSpec] = []

    def walk(parent_id):
        for label in by_parent.get(parent_id, []):
            specs.append(LabelSpec(label.name, label.hotkey,
                                   label.parent.name if label.parent else None,
                                   label.description))
            walk(label.pk)

    walk(None)
    return specs


def check_label_specs(specs: list[LabelSpec], *, source: str = "The labels") -> None:
    """Raise AnnotationError (naming ``source`` and the label) unless ``specs`` form a hierarchy.

    Parents come before their children; names are unique in the whole
    hierarchy and differ from the special labels; hotkeys follow the one
    hotkey rule (taxonomy.hotkey_problem) per level; names and descriptions
    fit their columns.
    """
    special = {name.lower() for name, _, _ in SPECIAL_LABELS}
    seen: set[str] = set()
    keys: dict[str | None, dict[str, str]] = {}
    for spec in specs:
        where = f"{source}: “{spec.name[:NAME_MAX]}”"
        if not spec.name.strip():
            raise AnnotationError(f"{source}: a label has no name.")
        if len(spec.name) > NAME_MAX:
            raise AnnotationError(f"{where}… is longer than {NAME_MAX} characters.")
        if len(spec.description) > DESCRIPTION_MAX:
            raise AnnotationError(f"{where}: the description is longer than "
                                  f"{DESCRIPTION_MAX} characters.")
        if spec.name.lower() in special:
            raise AnnotationError(f"{where} is a special label every task has already; "
                                  "leave it out.")
        if spec.name.lower() in seen:
            raise AnnotationError(f"{where} appears twice; each label name is used once in "
                                  "a task's hierarchy.")
        if spec.parent is not None and spec.parent.lower() not in seen:
            raise AnnotationError(f"{where} names the parent “{spec.parent}”, which is not "
                                  "a label above it in the list.")
        parent = spec.parent.lower() if spec.parent else None
        taken = keys.setdefault(parent, {})
        problem = hotkey_problem(spec.hotkey, top_level=parent is None, taken=taken,
                                 name=spec.name)
        if problem:
            raise AnnotationError(f"{source}: {problem}")
        if spec.hotkey:
            taken[spec.hotkey.lower()] = spec.name
        seen.add(spec.name.lower())
