"""Check a Camtrap DP package against the shipped 1.0.2 profile and table schemas.

Nothing is fetched: the package's ``datapackage.json`` is checked with the Camtrap
DP profile (JSON Schema; its references to the general Data Package profile and to
GeoJSON resolve to Frictionless's own copies or to Frictionless's package checks),
and each table with Frictionless against the shipped table schema (types, formats,
required and unique fields, enumerations, patterns, foreign keys).
"""

from __future__ import annotations

import json
from pathlib import Path

from .camtrapdp import SCHEMAS, TABLES, table_schema

_DATA_PACKAGE_REF = "https://specs.frictionlessdata.io/schemas/data-package.json"
_GEOJSON_REF = "http://json.schemastore.org/geojson.json"
MAX_REPORTED = 50


def _registry():
    import frictionless
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    geojson = Path(frictionless.__file__).parent / "assets" / "profiles" / "geojson.json"
    return Registry().with_resources([
        # The general Data Package rules are checked by Frictionless itself below.
        (_DATA_PACKAGE_REF, Resource.from_contents({}, default_specification=DRAFT7)),
        (_GEOJSON_REF, Resource.from_contents(json.loads(geojson.read_text()),
                                              default_specification=DRAFT7)),
    ])


def _profile_problems(descriptor: dict) -> list[str]:
    import jsonschema

    profile = json.loads((SCHEMAS / "camtrap-dp-profile.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(profile, registry=_registry(),
                                                format_checker=jsonschema.FormatChecker())
    return [
        f"datapackage.json: {'/'.join(str(p) for p in error.absolute_path) or '(top)'}: "
        f"{error.message}"
        for error in sorted(validator.iter_errors(descriptor), key=lambda e: list(e.path))
    ]


def _local_descriptor(descriptor: dict) -> dict:
    """The descriptor with the published schema URLs swapped for the shipped copies."""
    local = {k: v for k, v in descriptor.items() if k not in ("profile", "$schema")}
    local["resources"] = []
    for resource in descriptor.get("resources", []):
        resource = dict(resource)
        if resource.get("name") in TABLES:
            resource["schema"] = table_schema(resource["name"])
            resource.pop("profile", None)
        local["resources"].append(resource)
    return local


def _table_problems(folder: Path, descriptor: dict) -> list[str]:
    from frictionless import Package, system

    problems = []
    names = {r.get("name") for r in descriptor.get("resources", []) if isinstance(r, dict)}
    for name in TABLES:
        if name not in names:
            problems.append(f"datapackage.json: no “{name}” resource.")
    for resource in descriptor.get("resources", []):
        path = resource.get("path") if isinstance(resource, dict) else None
        if isinstance(path, str) and not (folder / path).resolve().is_relative_to(
                folder.resolve()):
            problems.append(f"datapackage.json: resource path {path!r} leaves the package.")
    if problems:
        return problems
    # Only files inside the package are read (the trusted flag stays off).
    with system.use_context(trusted=False):
        package = Package(_local_descriptor(descriptor), basepath=str(folder))
        report = package.validate()
    for task in report.tasks:
        for error in task.errors:
            where = task.name or task.place
            row = getattr(error, "row_number", None)
            field = getattr(error, "field_name", None)
            problems.append(f"{where}.csv" + (f" row {row}" if row else "")
                            + (f", field {field}" if field else "") + f": {error.message}")
    for error in report.errors:
        problems.append(f"datapackage.json: {error.message}")
    return problems


def check_camtrapdp(folder: Path) -> list[str]:
    """Every problem found in the package in ``folder`` (at most MAX_REPORTED); [] if valid."""
    index = folder / "datapackage.json"
    if not index.is_file():
        return [f"{folder}: no datapackage.json; give the folder that holds the package."]
    try:
        descriptor = json.loads(index.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{index}: not valid JSON ({exc})."]
    if not isinstance(descriptor, dict):
        return [f"{index}: must hold a JSON object."]
    problems = _profile_problems(descriptor)
    if not problems:
        problems = _table_problems(folder, descriptor)
    return problems[:MAX_REPORTED]
