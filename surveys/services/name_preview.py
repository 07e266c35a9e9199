"""What site and camera names a source folder's files get, before importing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..models import Survey
from ..taxonomy import NamesFrom
from .importing import check_camera_regex, check_site_regex, list_source_files
from .naming import Namer, Names

SAMPLE = 20
MAX_UNMATCHED = 500


@dataclass
class NamePreview:
    """``rows``: a sample of files with the names each rule gives them (in NamesFrom order);
    ``unmatched``: every file (up to MAX_UNMATCHED, ``unmatched_count`` in all) that gets no
    site under the chosen rule, with why; ``sites``/``cameras``: the names the chosen rule
    gives over all files ({site: file count}, {site: {physical camera: file count}})."""

    total: int = 0
    rows: list[tuple[str, list[Names]]] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    unmatched_count: int = 0
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (path, reason, hint)
    sites: dict[str, int] = field(default_factory=dict)
    cameras: dict[str, dict[str, int]] = field(default_factory=dict)


def preview_names(survey: Survey, root: Path, *, names_from: str, site_regex: str,
                  camera_regex: str = "", sample: int = SAMPLE) -> NamePreview:
    """The names the rules give to the JPEGs under ``root`` (a folder already checked, e.g. by
    importing.check_remote_source). Reads names only, no file contents; stores nothing.
    Raises SurveyError for a regex the survey could not be saved with."""
    check_site_regex(site_regex)
    check_camera_regex(camera_regex)
    files, refused = list_source_files(root, survey_id=survey.pk)
    rules = {kind: Namer(site_regex=site_regex, camera_regex=camera_regex, names_from=kind,
                         root_name=root.name) for kind in NamesFrom.values}
    chosen = rules[names_from]
    preview = NamePreview(total=len(files), refused=refused)
    for rel in files:
        names = chosen.names(rel)
        if names.problem:
            preview.unmatched_count += 1
            if len(preview.unmatched) < MAX_UNMATCHED:
                preview.unmatched.append((rel, names.problem))
            continue
        preview.sites[names.site] = preview.sites.get(names.site, 0) + 1
        per_site = preview.cameras.setdefault(names.site, {})
        per_site[names.camera] = per_site.get(names.camera, 0) + 1
    step = max(1, len(files) // max(1, sample))  # spread over the folders, in sorted order
    preview.rows = [(rel, [namer.names(rel) for namer in rules.values()])
                    for rel in files[::step][:sample]]
    return preview
