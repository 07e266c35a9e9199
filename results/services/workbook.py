"""Excel workbook of cluster counts: sites across, the task's label hierarchy down.

A cell is the number of the task's labelled clusters at that site carrying that
label; a parent's row also counts its children's clusters (a cluster labelled
with two children of one parent counts once for the parent). Counts come from
one GROUP BY query, whatever the survey's size.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from django.db.models import Count, Q

from annotation.models import ClusterAnnotation, Label, Task
from surveys.models import Site


def _label_tree(task: Task) -> list[tuple[int, str, int]]:
    """The task's labels then the special ones, as (id, name, depth), parents first."""
    labels = list(Label.objects.filter(Q(task=task) | Q(task__isnull=True))
                  .order_by("task_id", "name").values_list("pk", "name", "parent_id",
                                                           "task_id"))
    children = defaultdict(list)
    for pk, name, parent, _task in labels:
        children[parent].append((pk, name))
    ordered: list[tuple[int, str, int]] = []

    def walk(parent, depth):
        for pk, name in children.get(parent, []):
            ordered.append((pk, name, depth))
            walk(pk, depth + 1)

    walk(None, 0)
    return ordered


def _descendants(tree_parent: dict[int, int | None], label_id: int) -> set[int]:
    found, stack = {label_id}, [label_id]
    while stack:
        current = stack.pop()
        for child, parent in tree_parent.items():
            if parent == current and child not in found:
                found.add(child)
                stack.append(child)
    return found


def _append(sheet, values) -> None:
    """Append a row whose text stays text: openpyxl would store "=…" as a formula."""
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def build_workbook(task: Task):
    """An openpyxl Workbook of the task's cluster counts per site and label."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    tree = _label_tree(task)
    parents = dict(Label.objects.filter(pk__in=[pk for pk, _n, _d in tree])
                   .values_list("pk", "parent_id"))
    sites = list(Site.objects.filter(survey=task.survey).order_by("name")
                 .values_list("pk", "name"))
    through = ClusterAnnotation.labels.through
    # (label, site) -> set of clusters: sets, so a parent counts a cluster once.
    clusters: dict[tuple[int, int], set[int]] = defaultdict(set)
    for label_id, site_id, cluster_id in (
        through.objects.filter(clusterannotation__task=task,
                               clusterannotation__labelled_at__isnull=False)
        .values_list("label_id", "clusterannotation__cluster__site_id",
                     "clusterannotation__cluster_id")
    ):
        clusters[(label_id, site_id)].add(cluster_id)

    book = Workbook()
    sheet = book.active
    sheet.title = "Cluster counts"
    bold = Font(bold=True)
    _append(sheet, ["Label", *(name for _pk, name in sites), "All sites"])
    for cell in sheet[1]:
        cell.font = bold
    for label_id, name, depth in tree:
        family = _descendants(parents, label_id)
        row = []
        for site_id, _site in sites:
            seen = set().union(*(clusters.get((member, site_id), set()) for member in family))
            row.append(len(seen))
        _append(sheet, [name, *row, sum(row)])
        sheet.cell(row=sheet.max_row, column=1).alignment = Alignment(indent=depth * 2)
        if depth == 0:
            sheet.cell(row=sheet.max_row, column=1).font = bold
    labelled = dict(
        ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
        .values_list("cluster__site_id").annotate(n=Count("pk")).order_by())
    per_site = [labelled.get(site_id, 0) for site_id, _name in sites]
    sheet.append(["Labelled clusters", *per_site, sum(per_site)])
    sheet.cell(row=sheet.max_row, column=1).font = bold
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = max(12, *(len(n) + 2 * d for _p, n, d in tree))

    about = book.create_sheet("About")
    for key, value in (
        ("Survey", task.survey.name), ("Task", task.name),
        ("Organisation", task.survey.organisation.name),
        ("Made", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("Counts", "Labelled clusters per site and label; a parent label's row counts the "
                   "clusters of its children too, each cluster once."),
    ):
        _append(about, [key, value])
    return book


def export_workbook(task: Task, path) -> dict:
    """Write the workbook to ``path`` (.xlsx); return what it holds."""
    book = build_workbook(task)
    book.save(path)
    sheet = book["Cluster counts"]
    return {"task": task, "labels": sheet.max_row - 2, "sites": sheet.max_column - 2}
