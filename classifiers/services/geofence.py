"""Geofencing: predictions of species outside their range roll up to a parent, or to Animal.

A classifier's range table lists, per class, the places it lives (ISO 3166
country codes like ``KE``, or subdivisions like ``US-CA``) and optionally a
parent (a genus, a family, or another class). A box at a site whose country
(or region) is not among a class's places is labelled with the parent
instead, checked the same way, up to ``Animal`` — as SpeciesNet does. Classes
the table does not name are allowed everywhere; sites without a country are
never geofenced. Off unless the classifier's ``geofence`` is on.

CSV form of the table: a header ``class,countries[,parent]``; countries
separated by spaces or semicolons.
"""

from __future__ import annotations

import csv
import io
import re

from core.places import place_problem
from core.text import not_utf8_message, utf8_problem

from ..exceptions import ClassifierError
from ..models import Classifier

FALLBACK = "Animal"


def check_ranges(ranges, classes: list[str], source: str = "Range table") -> dict:
    """The table as stored, checked: known classes, real place codes, text parents."""
    if not isinstance(ranges, dict):
        raise ClassifierError(f'{source}: expected {{class: {{"allowed": [codes], '
                              '"parent": name}}}}.')
    checked = {}
    for label, entry in ranges.items():
        if label not in classes:
            raise ClassifierError(f"{source}: {label!r} is not a class of the classifier.")
        if not isinstance(entry, dict) or not isinstance(entry.get("allowed", []), list):
            raise ClassifierError(f'{source}: the entry of {label!r} must be {{"allowed": '
                                  '[codes], "parent": name}}.')
        allowed = [str(code).strip().upper() for code in entry.get("allowed", [])]
        for code in allowed:
            problem = place_problem(code)
            if problem:
                raise ClassifierError(f"{source}: {label!r}: {problem}.")
        parent = str(entry.get("parent") or "").strip()[:100]
        checked[label] = {"allowed": allowed, "parent": parent}
    return checked


def read_range_table(name: str, data: bytes, classes: list[str]) -> dict:
    """Parse a CSV range table (see the module); errors name the file and line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ClassifierError(not_utf8_message(name, utf8_problem(data))) from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [column for column in ("class", "countries") if column not in header]
    if missing:
        raise ClassifierError(f"{name}: missing column(s) {', '.join(missing)}; the header is "
                              "class,countries[,parent].")
    reader.fieldnames = header
    ranges = {}
    for line, row in enumerate(reader, start=2):
        label = (row.get("class") or "").strip()
        codes = re.split(r"[;\s]+", (row.get("countries") or "").strip())
        entry = {"allowed": [c for c in codes if c], "parent": (row.get("parent") or "")}
        ranges.update(check_ranges({label: entry}, classes, f"{name} line {line}"))
    return ranges


def roll_up(classifier: Classifier, label: str, country: str, region: str) -> str:
    """The label to keep for a prediction of ``label`` at a site in ``country``/``region``."""
    if not classifier.geofence or not country:
        return label
    seen = set()
    while label in classifier.species_ranges and label not in seen:
        seen.add(label)
        entry = classifier.species_ranges[label]
        allowed = entry.get("allowed") or []
        if not allowed or country in allowed or (region and region in allowed):
            return label
        label = entry.get("parent") or FALLBACK
    return label
