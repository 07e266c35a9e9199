"""Record table and camera operation matrix against a hand-computed case."""

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from results.services.record_table import write_camera_operation, write_record_table
from tests.results.helpers import labelled_task

pytestmark = pytest.mark.django_db


def test_independence_interval_edges_and_deltas():
    task = labelled_task([
        ("A", 0, "Zebra"), ("A", 20, "Zebra"),  # 20 min after: not independent
        ("A", 30, "Zebra"),                      # exactly 30 after 10:00: independent
        ("A", 35, "Lion"),                       # another species: its own clock
        ("A", 80, "Zebra"),                      # 50 after the last independent one
        ("B", 21, "Zebra"),                      # another station: its own clock
        ("A", 40, "Nothing"),                    # special labels are not records
    ])
    out = io.StringIO()
    assert write_record_table(task, out, interval_minutes=30) == (5, 0)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["Station"], r["Species"], r["Time"], r["delta.time.secs"]) for r in rows] == [
        ("A", "Lion", "10:35:00", "0"),
        ("A", "Zebra", "10:00:00", "0"),
        ("A", "Zebra", "10:30:00", "1800"),
        ("A", "Zebra", "11:20:00", "3000"),
        ("B", "Zebra", "10:21:00", "0"),
    ]
    assert rows[3]["delta.time.mins"] == "50.0" and rows[1]["Date"] == "2024-03-10"
    out = io.StringIO()
    assert write_record_table(task, out, interval_minutes=0)[0] == 6  # every record


def test_camera_operation_matrix_spans_first_to_last_image_per_station():
    task = labelled_task([("A", 0, "Zebra"), ("A", 2 * 24 * 60, "Zebra"),
                          ("B", 24 * 60, "Lion"), ("B", 24 * 60 + 14 * 60, "Lion")])
    out = io.StringIO()
    assert write_camera_operation(task.survey, out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    # B's second image is at 00:00 on the 12th in Nairobi (21:00 UTC on the 11th).
    assert rows == [["Station", "2024-03-10", "2024-03-11", "2024-03-12"],
                    ["A", "1", "1", "1"],
                    ["B", "NA", "1", "1"]]


def test_command_writes_both_files_and_explains_errors(tmp_path):
    task = labelled_task([("A", 0, "Zebra"), ("A", 10, "Zebra")])
    call_command("export_record_table", "--survey", task.survey.name, "--interval", "5",
                 "--out", str(tmp_path))
    assert len(list(csv.reader((tmp_path / "record_table.csv").open()))) == 3
    assert (tmp_path / "camera_operation.csv").exists()
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_record_table", "--survey", task.survey.name, "--interval", "5",
                     "--out", str(tmp_path / "nope"))
    with pytest.raises(CommandError, match="no survey called"):
        call_command("export_record_table", "--survey", "Nope", "--interval", "5",
                     "--out", str(tmp_path))
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("export_record_table", "--survey", task.survey.name, "--interval", "-1",
                     "--out", str(tmp_path))
