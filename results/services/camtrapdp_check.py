"""Check a Camtrap DP package against the shipped 1.0.2 profile and table schemas.

Nothing is fetched, and nothing outside the package folder is read. Before any
library sees the descriptor, ``outside_references`` walks it and refuses every
place that would make one read elsewhere: a resource ``path`` (or one part of a
multipart path) that is a URL, absolute, climbs out with ``..`` or is a link out
of the folder; a ``dialect``, ``schema``, ``profile``, ``$schema`` or other
reference given as a URL or a path out; a ``$ref``; a package profile other than
the Camtrap DP 1.0.2 one. (Frictionless fetches remote resources even with its
``trusted`` flag off, and JSON Schema libraries follow ``$ref`` to the network.)
The published Camtrap DP profile and table schema URLs are not fetched either:
they name the copies shipped under ``results/schemas``.

Then ``datapackage.json`` is checked with the Camtrap DP profile (JSON Schema; its
references to the general Data Package profile and to GeoJSON resolve to
Frictionless's own copies or to Frictionless's package checks), and the three
tables with Frictionless against the shipped table schemas (types, formats,
required and unique fields, enumerations, patterns, foreign keys). Frictionless
sees a descriptor built here from the checked one: the three tables only, each
with its checked path, the shipped schema and an inline dialect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from core.text import file_utf8_problem, not_utf8_message

from .camtrapdp import PROFILE_URL, SCHEMA_URL, SCHEMAS, TABLES, VERSION, table_schema

_DATA_PACKAGE_REF = "https://specs.frictionlessdata.io/schemas/data-package.json"
_GEOJSON_REF = "http://json.schemastore.org/geojson.json"
MAX_REPORTED = 50
# Any scheme: http:, https:, file:, data:, ftp:, s3: … (and a Windows drive, C:).
_SCHEME = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*:")
# Resource properties a library reads a file (or fetches a URL) for.
_REFERENCE_KEYS = ("path", "data", "dialect", "schema", "profile", "$schema", "checklist",
                   "pipeline", "extrapaths", "innerpath")
_PROFILE_NAMES = frozenset({"data-resource", "tabular-data-resource", "data-package",
                            "tabular-data-package"})
_UTF8 = frozenset({"utf-8", "utf8", "utf-8-sig"})
# What Frictionless is given of the package itself: the general Data Package metadata.
_PACKAGE_KEYS = ("name", "id", "title", "description", "homepage", "version", "created",
                 "keywords", "image", "licenses", "sources", "contributors")
_TABLE_KEYS = ("name", "path", "title", "description", "mediatype", "encoding")


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)[:200]
    return repr(text[:100] + ("…" if len(text) > 100 else ""))


def _refs(value, where: str) -> Iterator[str]:
    """Where ``value`` holds a "$ref" key."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield where
            else:
                yield from _refs(item, f"{where}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _refs(item, f"{where}/{i}")


def _place_problem(folder: Path, value) -> str | None:
    """Why a path a library would read is refused; None for a file name in the package."""
    if not isinstance(value, str):
        return f"{_short(value)} is not a path"
    if _SCHEME.match(value) or value.lstrip().startswith("//"):
        return (f"{_short(value)} is a URL; a package is read from its folder only and "
                "nothing is fetched. Put the file in the package folder and give its path "
                "relative to datapackage.json")
    if value.startswith(("/", "\\", "~")) or ".." in re.split(r"[\\/]", value):
        return (f"{_short(value)} points outside the package; give a path relative to "
                "datapackage.json, without '..'")
    try:
        inside = (folder / value).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        inside = False
    if not inside:
        return (f"{_short(value)} is a link to a file outside the package; copy the file "
                "into the package")
    return None


def _resource_problems(folder: Path, i: int, resource) -> list[str]:
    if not isinstance(resource, dict):
        return [f"datapackage.json: resources/{i} {_short(resource)} is not a resource; write "
                "each resource out in datapackage.json (not as a path or URL)."]
    name = resource.get("name")
    label = f"resources/{i}" + (f" ({name})" if isinstance(name, str) else "")
    table = name in TABLES
    problems = []
    for key in _REFERENCE_KEYS:
        if key not in resource:
            continue
        value, where = resource[key], f"datapackage.json: {label}/{key}"
        if table and key == "schema" and value == SCHEMA_URL.format(name=name):
            continue  # the shipped copy is used
        if key == "profile" and value in _PROFILE_NAMES:
            continue
        if table and key == "schema" and isinstance(value, str):
            problems.append(f"{where}: {_short(value)} is not the Camtrap DP {VERSION} {name} "
                            f"table schema ({SCHEMA_URL.format(name=name)}); TrapTagger checks "
                            "the tables against its own copy of that schema and fetches no "
                            "other.")
            continue
        if table and key == "path" and isinstance(value, list):
            problems.append(f"{where}: the {name} table must be one CSV file in the package, "
                            f"not a list of files; join the parts into one {name}.csv.")
        if table and key == "dialect" and not (isinstance(value, dict) and all(
                isinstance(v, str | int | float | bool) or v is None for v in value.values())):
            problems.append(f"{where}: give the CSV dialect inline in datapackage.json "
                            "(delimiter, quoteChar, …), not as a file, URL or nested object.")
            continue
        if isinstance(value, dict):
            continue  # written out inline (a "$ref" inside is refused on its own)
        for j, part in enumerate(value if isinstance(value, list) else [value]):
            if key == "data" and not isinstance(part, str):
                break  # inline rows: data, not a reference
            problem = _place_problem(folder, part)
            if problem:
                at = f"{where}/{j}" if isinstance(value, list) else where
                problems.append(f"{at}: {problem}.")
    if table:
        encoding = resource.get("encoding")
        if encoding is not None and str(encoding).lower() not in _UTF8:
            problems.append(f"datapackage.json: {label}/encoding: {_short(encoding)}; the "
                            "tables are read as UTF-8. Save the table as UTF-8 and set "
                            "encoding to utf-8.")
        kind = resource.get("format")
        if kind is not None and str(kind).lower() != "csv":
            problems.append(f"datapackage.json: {label}/format: {_short(kind)}; a Camtrap DP "
                            "table is a CSV file (format csv).")
    return problems


def outside_references(folder: Path, descriptor: dict) -> list[str]:
    """Every place in the descriptor that would make a library read outside the package.

    A URL, an absolute path, a path with '..' or a link out of ``folder``, where a
    resource's data, dialect, schema or profile is read; a "$ref"; a package
    profile other than the Camtrap DP one. [] when the package is self-contained.
    """
    problems = [f"datapackage.json: {where}: a $ref is not followed; write what it names "
                "into datapackage.json itself." for where in _refs(descriptor, "")]
    for key in ("profile", "$schema"):
        value = descriptor.get(key)
        if value is not None and value != PROFILE_URL and value not in _PROFILE_NAMES:
            problems.append(f"datapackage.json: {key}: {_short(value)} is not the Camtrap DP "
                            f"{VERSION} profile ({PROFILE_URL}); TrapTagger checks packages "
                            "against its own copy of that profile and fetches no other.")
    resources = descriptor.get("resources")
    if isinstance(resources, list):
        for i, resource in enumerate(resources):
            problems.extend(_resource_problems(folder, i, resource))
    elif resources is not None:
        problems.append("datapackage.json: resources must be a list of resources.")
    return problems


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
    """What Frictionless is given: the package's general metadata and the three tables,
    each with its (checked) path, the shipped schema and its inline dialect."""
    local = {k: descriptor[k] for k in _PACKAGE_KEYS if k in descriptor}
    local["resources"] = []
    for resource in descriptor.get("resources", []):
        if resource.get("name") in TABLES:
            table = {k: resource[k] for k in _TABLE_KEYS if k in resource}
            table.update(profile="tabular-data-resource", format="csv", scheme="file",
                         schema=table_schema(resource["name"]))
            if isinstance(resource.get("dialect"), dict):
                table["dialect"] = resource["dialect"]
            local["resources"].append(table)
    return local


def _table_problems(folder: Path, descriptor: dict) -> list[str]:
    from frictionless import Package, system

    problems = []
    names = {r.get("name") for r in descriptor.get("resources", []) if isinstance(r, dict)}
    for name in TABLES:
        if name not in names:
            problems.append(f"datapackage.json: no “{name}” resource.")
    if problems:
        return problems
    # Only files inside the package are read (outside_references saw to that; the
    # trusted flag stays off as well).
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


def read_descriptor(folder: Path) -> tuple[dict | None, list[str]]:
    """The package's datapackage.json, and the problems that stop anything reading on:
    not there, not UTF-8 JSON holding an object, or naming places outside the package
    (``outside_references``)."""
    index = folder / "datapackage.json"
    if not index.is_file():
        return None, [f"{folder}: no datapackage.json; give the folder that holds the package."]
    try:
        descriptor = json.loads(index.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        return None, [not_utf8_message("datapackage.json", file_utf8_problem(index))]
    except json.JSONDecodeError as exc:
        return None, [f"datapackage.json: not valid JSON ({exc})."]
    if not isinstance(descriptor, dict):
        return None, [f"{index}: must hold a JSON object."]
    return descriptor, outside_references(folder, descriptor)[:MAX_REPORTED]


def check_camtrapdp(folder: Path) -> list[str]:
    """Every problem found in the package in ``folder`` (at most MAX_REPORTED); [] if valid."""
    descriptor, problems = read_descriptor(folder)
    if problems:  # before anything reads what the descriptor names
        return problems
    problems = _profile_problems(descriptor)
    if not problems:
        problems = _table_problems(folder, descriptor)
    return problems[:MAX_REPORTED]
