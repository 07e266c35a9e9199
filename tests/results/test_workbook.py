"""Excel workbook of cluster counts, checked by hand: sites across, label hierarchy down."""

import pytest
from django.core.management import call_command
from openpyxl import load_workbook

from annotation.models import Label
from results.services.workbook import export_workbook
from tests.results.helpers import labelled_task

pytestmark = pytest.mark.django_db


def test_counts_per_site_with_parents_counting_their_children(tmp_path):
    task = labelled_task([("A", 0, "Zebra"), ("A", 10, "Zebra"), ("B", 20, "Zebra"),
                          ("B", 30, "Lion"), ("A", 40, "Nothing")])
    # Make Zebra and Lion children of a new parent, and name a site like a formula.
    cats = Label.objects.create(task=task, name="Big game")
    Label.objects.filter(task=task, name__in=["Zebra", "Lion"]).update(parent=cats)
    task.survey.sites.filter(name="B").update(name="=B")
    path = tmp_path / "counts.xlsx"
    result = export_workbook(task, path)
    rows = [[c.value for c in row] for row in load_workbook(path)["Cluster counts"].rows]
    header, *body = rows
    # The factory's own empty site sorts last; "=B" is text, not a formula.
    assert header[:3] == ["Label", "=B", "A"] and header[-1] == "All sites"
    first_row = load_workbook(path)["Cluster counts"][1]
    assert first_row[1].data_type == "s"
    by_label = {row[0]: row[1:3] + [row[-1]] for row in body}
    assert by_label["Big game"] == [2, 2, 4]
    assert by_label["Zebra"] == [1, 2, 3]
    assert by_label["Lion"] == [1, 0, 1]
    assert by_label["Nothing"] == [0, 1, 1]
    assert by_label["Labelled clusters"] == [2, 3, 5]
    # Children sit under their parent.
    names = [row[0] for row in body]
    assert names.index("Big game") < names.index("Lion") < names.index("Zebra")
    assert result["sites"] == len(header) - 2


def test_command(tmp_path, capsys):
    task = labelled_task([("A", 0, "Zebra")])
    call_command("export_workbook", "--survey", task.survey.name,
                 "--out", str(tmp_path / "c.xlsx"))
    assert "label row(s)" in capsys.readouterr().out
    assert (tmp_path / "c.xlsx").stat().st_size > 0
