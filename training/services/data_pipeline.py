"""The data pipeline: images labelled elsewhere, brought in as labelled one-image clusters.

The input is a CSV of ``filepath,species`` rows (other columns are ignored; a UTF-8
byte order mark is fine) and where the files are: a base URL (fetched by
core.fetch, which refuses private and loopback addresses), a folder inside the
organisation's import area (``<IMPORT_ROOT>/<organisation id>/``), or a prefix in
the organisation's storage area (``storage:PREFIX`` = ``imports/<organisation
id>/PREFIX``).

Rows are dropped (counted, with their line) when the species is unknown, none,
blank or human, when a folder of the path holds an ``--exclude`` word, and when a
file is listed with two species (multi-label: the box's species is not known).
Bad rows (``..`` or an absolute path, a file that cannot be fetched, read or is not
a JPEG, the same image as another) are reported with their line and skipped.
Missing columns, a bad site regex or a refused source are fatal and stop the run
before anything is stored.

Each image becomes a cluster of its own at a site (``--site-regex`` on the path's
folder, first match; without one, the site ``Data pipeline``) and camera (its
folder), labelled in the survey's finished task “Data pipeline”. A second run of
the same CSV adds only the files not yet in the survey.
"""

from __future__ import annotations

import csv
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotation.models import ClusterAnnotation, Label, Task
from annotation.services.task_setup import (
    do_create_task,
    do_finish_task,
    do_save_labels_of,
    ensure_special_labels,
)
from core import user_regex
from core.fetch import Fetcher, FetchRefused
from core.progress import Progress, ignore_progress
from core.text import file_utf8_problem, not_utf8_message
from results.services.results import safe_cell
from surveys.exceptions import ImportSourceError, UnreadableImage
from surveys.models import Camera, Cluster, Image, Site, Survey
from surveys.services.images import read_image
from surveys.services.importing import (
    SITE_NAME_CHARS,
    check_remote_source,
    check_site_regex,
    image_keys,
    name_problem,
    organisation_import_root,
    read_source_file,
)
from surveys.services.pipeline import ANY, do_transition
from surveys.services.surveys import do_get_or_create_survey
from surveys.taxonomy import JPEG_SUFFIXES, SurveyStatus

from ..exceptions import PipelineError
from .label_translation import spelling_key

COLUMNS = ("filepath", "species")
NOT_SPECIES = frozenset({"unknown", "none", "blank", "human", ""})
DEFAULT_SITE = "Data pipeline"
TASK_NAME = "Data pipeline"
BATCH = 100


@dataclass
class PlannedRow:
    line: int  # the header is line 1
    path: str
    species: str


@dataclass
class Outcome:
    rows: list[PlannedRow] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    imported: int = 0


def _path_problem(path: str) -> str | None:
    if not path:
        return "the filepath is empty"
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path) or ".." in parts:
        return (f"the filepath {path!r} is absolute or holds '..'; give a path relative to "
                "the source")
    if not path.lower().endswith(JPEG_SUFFIXES):
        return f"{path!r} is not a JPEG (.jpg, .jpeg)"
    return name_problem(path)


def _species_problem(species: str) -> str | None:
    if len(species) > 100:
        return "the species is longer than 100 characters"
    if safe_cell(species) != species:
        return f"the species {species!r} starts with {species[0]!r}, which spreadsheets run"
    return None


def read_rows(csv_path: Path, excludes=()) -> Outcome:
    """The CSV's rows to import, and those dropped or bad, with their lines.

    Raises PipelineError (nothing read) for a missing file, text that is not UTF-8,
    or missing columns.
    """
    try:
        with Path(csv_path).open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [(name or "").strip().lower() for name in reader.fieldnames or []]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise PipelineError(
                    f"{csv_path}: missing column(s) {', '.join(missing)}; the first line "
                    f"must name the columns, e.g. filepath,species (found: "
                    f"{', '.join(header) or 'nothing'}). Nothing was imported.")
            reader.fieldnames = header
            raw = [(line, (cells.get("filepath") or "").strip(),
                    " ".join((cells.get("species") or "").split()))
                   for line, cells in enumerate(reader, start=2)]
    except OSError as exc:
        raise PipelineError(f"{csv_path} cannot be read ({exc.strerror or exc}).") from exc
    except UnicodeDecodeError as exc:
        raise PipelineError(not_utf8_message(str(csv_path), file_utf8_problem(Path(csv_path)))
                            + " Nothing was imported.") from exc
    return _plan_rows(raw, [word.casefold() for word in excludes])


def _plan_rows(raw, excludes) -> Outcome:
    outcome = Outcome()
    species_of: dict[str, set[str]] = defaultdict(set)
    kept: list[PlannedRow] = []
    for line, path, species in raw:
        path = path.removeprefix("./")
        problem = _path_problem(path) or _species_problem(species)
        folders = [part.casefold() for part in PurePosixPath(path).parts[:-1]]
        if problem:
            outcome.problems.append((line, problem))
        elif species.casefold() in NOT_SPECIES:
            outcome.dropped.append((line, f"species {species or '(blank)'!r} is not a species"))
        elif any(word in folder for word in excludes for folder in folders):
            outcome.dropped.append((line, "its folder is excluded"))
        else:
            species_of[path].add(spelling_key(species))
            kept.append(PlannedRow(line, path, species))
    seen: set[str] = set()
    for row in kept:
        if len(species_of[row.path]) > 1:
            outcome.dropped.append((row.line, f"{row.path} is listed with several species "
                                    "(multi-label)"))
        elif row.path in seen:
            outcome.dropped.append((row.line, f"{row.path} is listed again"))
        else:
            seen.add(row.path)
            outcome.rows.append(row)
    return outcome


class LocalSource:
    def __init__(self, root: Path):
        self.root = root

    def read(self, path: str) -> bytes:
        full = self.root / path
        if not full.resolve().is_relative_to(self.root):
            raise UnreadableImage("is a link to a file outside the source folder")
        return read_source_file(full, cap=settings.MAX_IMPORT_FILE_BYTES,
                                seconds=settings.IMPORT_FILE_READ_SECONDS)


class StorageSource:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def read(self, path: str) -> bytes:
        with default_storage.open(self.prefix + path, "rb") as fh:
            data = fh.read(settings.MAX_IMPORT_FILE_BYTES + 1)
        if len(data) > settings.MAX_IMPORT_FILE_BYTES:
            raise UnreadableImage("is over the size limit per file (MAX_IMPORT_FILE_BYTES)")
        return data


class UrlSource:
    def __init__(self, base_url: str, fetcher: Fetcher):
        self.base_url, self.fetcher = base_url.rstrip("/") + "/", fetcher

    def read(self, path: str) -> bytes:
        return self.fetcher.fetch(self.base_url + quote(path))


def check_source(organisation, *, base_url: str | None, source: str | None,
                 fetcher: Fetcher | None = None):
    """Where the files are read from; PipelineError when not allowed (nothing stored)."""
    if bool(base_url) == bool(source):
        raise PipelineError("Give either --base-url or --source (one of them).")
    if base_url:
        fetcher = fetcher or Fetcher()
        try:
            fetcher.check_url(base_url)
        except FetchRefused as exc:
            raise PipelineError(f"--base-url {base_url}: {exc}. Nothing was imported.") from exc
        return UrlSource(base_url, fetcher)
    if source.startswith("storage:"):
        prefix = source.removeprefix("storage:").strip("/")
        if ".." in prefix.split("/"):
            raise PipelineError(f"--source {source}: no '..' in a storage prefix.")
        return StorageSource(f"imports/{organisation.pk}/{prefix}/" if prefix
                             else f"imports/{organisation.pk}/")
    area = Survey(organisation=organisation)  # the import area is the organisation's
    root = organisation_import_root(area)
    try:
        if Path(source).is_absolute():
            if root is None or not Path(source).resolve().is_relative_to(root):
                raise ImportSourceError(
                    f"--source {source} is outside the organisation's import area "
                    f"({root or 'IMPORT_ROOT is not set'}).")
            folder = Path(source).resolve()
        else:
            folder = Path(check_remote_source(area, source))
    except ImportSourceError as exc:
        raise PipelineError(f"{exc} Nothing was imported.") from exc
    if not folder.is_dir():
        raise PipelineError(f"--source {source}: no such folder in the import area.")
    return LocalSource(folder)


class _Loader:
    """Fetches, stores and records the planned rows into ``survey``, a batch at a time."""

    def __init__(self, survey: Survey, task: Task, source, site_re, outcome: Outcome):
        self.survey, self.task, self.source = survey, task, source
        self.site_re, self.outcome = site_re, outcome
        self.tz = ZoneInfo(survey.timezone)
        self.sites = {s.name: s for s in Site.objects.filter(survey=survey)}
        self.cameras = {(c.site_id, c.path): c for c in Camera.objects.filter(site__survey=survey)}
        images = Image.objects.filter(camera__site__survey=survey)
        self.hashes = dict(images.values_list("content_hash", "key"))
        self.keys = set(images.values_list("key", flat=True))
        self.labels = {spelling_key(name): pk for name, pk in
                       Label.objects.filter(task=task).values_list("name", "pk")}

    def site_name(self, path: str) -> str:
        if self.site_re is None:
            return DEFAULT_SITE
        folder = os.path.dirname(path)
        try:
            match = user_regex.search(self.site_re, folder)
        except user_regex.RegexTimeout as exc:
            raise UnreadableImage(f"its folder {folder!r}: {exc}") from None
        if not match or not match.group(0):
            raise UnreadableImage(f"its folder {folder or '(none)'!r} does not match the site "
                                  f"regex {self.site_re.pattern!r}")
        site = match.group(0)
        if len(site) > SITE_NAME_CHARS:
            raise UnreadableImage(f"its site name from the folder {folder!r} is {len(site)} "
                                  f"characters long, over the {SITE_NAME_CHARS} a site's name "
                                  "may have (Site.name); change the site regex")
        return site

    def camera(self, site_name: str, folder: str) -> Camera:
        site = self.sites.get(site_name)
        if site is None:
            site = self.sites[site_name] = Site.objects.get_or_create(
                survey=self.survey, name=site_name)[0]
        camera = self.cameras.get((site.pk, folder))
        if camera is None:
            camera = self.cameras[(site.pk, folder)] = Camera.objects.get_or_create(
                site=site, path=folder)[0]
        return camera

    def fetch(self, row: PlannedRow):
        """(camera, image, key, web key) of a stored file, or None (a problem recorded)."""
        key, web = image_keys(self.survey.pk, row.path)
        if key in self.keys:
            self.outcome.dropped.append((row.line, f"{row.path} is already in the survey"))
            return None
        try:
            site_name = self.site_name(row.path)
            info = read_image(data := self.source.read(row.path), self.tz)
        except (FetchRefused, UnreadableImage) as exc:
            self.outcome.problems.append((row.line, f"{row.path}: {exc}"))
            return None
        except OSError as exc:
            self.outcome.problems.append((row.line, f"{row.path} cannot be read "
                                          f"({exc.strerror or exc})"))
            return None
        if info.content_hash in self.hashes:
            self.outcome.problems.append((row.line, f"{row.path} is the same image as "
                                          f"{self.hashes[info.content_hash]}; skipped"))
            return None
        camera = self.camera(site_name, os.path.dirname(row.path))
        stored = default_storage.save(key, ContentFile(data))
        web_key = default_storage.save(web, ContentFile(info.web_jpeg))
        self.hashes[info.content_hash] = stored
        self.keys.add(key)
        image = Image(camera=camera, filename=os.path.basename(row.path), key=stored,
                      web_key=web_key, content_hash=info.content_hash,
                      timestamp=info.timestamp, corrected_timestamp=info.timestamp,
                      width=info.width, height=info.height, file_size=len(data))
        return image, (stored, web_key)

    def load(self, rows: list[PlannedRow]) -> None:
        """Store a batch's files, then record its images, clusters and labels in one
        transaction; the batch's files are deleted if that fails."""
        made, stored = [], []
        for row in rows:
            found = self.fetch(row)
            if found is not None:
                made.append((row, found[0]))
                stored.extend(found[1])
        if not made:
            return
        try:
            with transaction.atomic():
                clusters = Cluster.objects.bulk_create(
                    Cluster(survey=self.survey, site=image.camera.site,
                            start=image.corrected_timestamp, end=image.corrected_timestamp,
                            image_count=1) for _row, image in made)
                for cluster, (_row, image) in zip(clusters, made, strict=True):
                    image.cluster = cluster
                Image.objects.bulk_create([image for _row, image in made])
                now = timezone.now()
                annotations = [ClusterAnnotation(task=self.task, cluster=cluster,
                                                 labelled_at=now) for cluster in clusters]
                labels = {cluster.pk: [self.labels[spelling_key(row.species)]]
                          for cluster, (row, _image) in zip(clusters, made, strict=True)}
                do_finish_task(self.task, annotations, labels, acting_user=None)
        except BaseException:
            for key in stored:
                default_storage.delete(key)
            raise
        self.outcome.imported += len(made)



def _task_for(survey: Survey, rows: list[PlannedRow], acting_user) -> Task:
    """The survey's “Data pipeline” task (made if new) with a label for each species."""
    spellings: dict[str, str] = {}
    for row in rows:
        spellings.setdefault(spelling_key(row.species), row.species)
    ensure_special_labels()
    task = Task.objects.filter(survey=survey, name=TASK_NAME).first()
    if task is None:
        return do_create_task(survey, name=TASK_NAME, labels=[
            (name, "") for name in sorted(spellings.values())], acting_user=acting_user)
    have = {spelling_key(name) for name in
            Label.objects.filter(task=task).values_list("name", flat=True)}
    do_save_labels_of(task, [Label(name=name) for key, name in sorted(spellings.items())
                             if key not in have], [], acting_user=acting_user)
    return task


def do_run_data_pipeline(organisation, survey_name: str, csv_path: Path, *,
                         base_url: str | None = None, source: str | None = None,
                         excludes=(), site_regex: str | None = None, acting_user=None,
                         fetcher: Fetcher | None = None,
                         progress: Progress = ignore_progress) -> Outcome:
    """Import the CSV's labelled images into the organisation's survey ``survey_name``
    (created if new; an existing one must be ready, new or failed); return the outcome.

    The CSV, the source and the site regex are checked first: PipelineError (or
    SurveyError for the regex) before anything is stored. Then each batch of
    ``BATCH`` rows is fetched, stored and recorded in one transaction; bad rows are
    recorded in ``Outcome.problems`` with their line and the run goes on.
    ``acting_user`` None is an operator at the command line.
    """
    outcome = read_rows(csv_path, excludes)
    if not outcome.rows:
        first = sorted(outcome.problems + outcome.dropped)[:3]
        raise PipelineError("No row of the CSV is left to import ("
                            + "; ".join(f"line {line}: {why}" for line, why in first)
                            + "). Nothing was imported.")
    reader = check_source(organisation, base_url=base_url, source=source, fetcher=fetcher)
    site_re = check_site_regex(site_regex) if site_regex else None
    existing = Survey.objects.filter(organisation=organisation, name=survey_name).first()
    if existing is not None and existing.status not in (
            SurveyStatus.NEW, SurveyStatus.READY, SurveyStatus.FAILED):
        raise PipelineError(f"Survey “{survey_name}” is {existing.get_status_display()}; run "
                            "the data pipeline once it is ready.")
    with transaction.atomic():
        survey, _created = do_get_or_create_survey(organisation, survey_name,
                                                   acting_user=acting_user)
        task = _task_for(survey, outcome.rows, acting_user)
    loader = _Loader(survey, task, reader, site_re, outcome)
    total = len(outcome.rows)
    progress(0, total)
    for start in range(0, total, BATCH):
        loader.load(outcome.rows[start:start + BATCH])
        progress(min(start + BATCH, total), total)
    survey.image_count = Image.objects.filter(camera__site__survey=survey).count()
    survey.cluster_count = Cluster.objects.filter(survey=survey).count()
    survey.save(update_fields=["image_count", "cluster_count"])
    do_transition(survey, ANY, SurveyStatus.READY,
                  f"{outcome.imported} labelled image(s) brought in by the data pipeline.")
    return outcome
