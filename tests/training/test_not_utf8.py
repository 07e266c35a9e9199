"""Every text file people give us that is not UTF-8 is a UserError naming it, the byte, the
line and what to do; never a raw UnicodeDecodeError."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifiers.exceptions import ClassifierError
from classifiers.services.geofence import read_range_table
from classifiers.services.registration import read_label_index, read_thresholds
from core.text import file_utf8_problem, utf8_problem
from tests.factories import OrganisationFactory
from training.exceptions import TrainingError
from training.services.train import read_training_data

pytestmark = [pytest.mark.django_db, pytest.mark.hostile]

LATIN1 = "class,threshold\nZebra,0.5\nGénet,0.7\n".encode("latin-1")
WHERE = r"is not UTF-8 text \(byte 0xe9 on line 3, column 2\)\. Save it as UTF-8"


def test_the_place_is_found_across_buffers(tmp_path):
    text = ("a" * 70_000 + "\n") * 3 + "ok\nbad \xe9 here\n"
    path = tmp_path / "big.csv"
    path.write_bytes(text.encode("latin-1"))
    assert file_utf8_problem(path) == "byte 0xe9 on line 5, column 5"
    assert utf8_problem(text.encode("latin-1")) == "byte 0xe9 on line 5, column 5"
    assert utf8_problem("é\n".encode()) is None and file_utf8_problem(tmp_path / "big.csv")


def test_a_latin1_data_pipeline_csv(tmp_path):
    org = OrganisationFactory()
    path = tmp_path / "labels.csv"
    path.write_bytes("filepath,species\nA/1.jpg,Zebra\nA/2.jpg,Génet\n".encode("latin-1"))
    with pytest.raises(CommandError, match=r"labels.csv is not UTF-8 text \(byte 0xe9 on line "
                                           r"3, column 10\)\. Save it as UTF-8.*Nothing was "
                                           "imported"):
        call_command("data_pipeline", "--org", org.name, "--survey", "S", "--csv", str(path),
                     "--base-url", "https://example.org/data")


def test_a_latin1_label_index_thresholds_or_range_table():
    with pytest.raises(ClassifierError, match=rf"thresholds.csv {WHERE}"):
        read_thresholds("thresholds.csv", LATIN1, ["Zebra", "Genet"])
    index = json.dumps({"0": "Zebra", "1": "Génet"}, ensure_ascii=False).encode("latin-1")
    with pytest.raises(ClassifierError, match=r"label_index.json is not UTF-8 text "
                                              r"\(byte 0xe9 on line 1"):
        read_label_index("label_index.json", index)
    with pytest.raises(ClassifierError, match=r"ranges.csv is not UTF-8 text \(byte 0xe9 on "
                                              r"line 2, column 2\)"):
        read_range_table("ranges.csv", "class,countries\nGénet,KE\n".encode("latin-1"),
                         ["Genet"])


def test_a_latin1_training_csv(tmp_path):
    (tmp_path / "label_index.json").write_text('{"0": "Zebra"}')
    (tmp_path / "classification_ds").mkdir()
    (tmp_path / "classification_ds" / "classification_ds.csv").write_bytes(
        "path,dataset,location,label\ncrops/1.jpg,d,Génet,Zebra\n".encode("latin-1"))
    with pytest.raises(TrainingError, match=r"classification_ds.csv is not UTF-8 text \(byte "
                                            r"0xe9 on line 2"):
        read_training_data(tmp_path)
