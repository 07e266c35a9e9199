"""Importing a folder of camera-trap JPEGs into a survey."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import regex
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.access import check_capability
from accounts.taxonomy import Capability
from core import user_regex
from core.text import is_text

from .. import events
from ..exceptions import ImportSourceError, SurveyError, UnreadableImage
from ..models import Camera, Image, ImportIssue, ImportRun, Site, Survey
from ..taxonomy import HASH_VERSION, JPEG_SUFFIXES, ImportStatus, SurveyStatus
from . import hints, import_queue, pipeline, timestamps
from .images import read_image
from .naming import SITE_NAME_CHARS, Namer, Names  # noqa: F401 (the column limit, for importers)

logger = logging.getLogger(__name__)
# The importer's name limits are its columns' (one constant per column, read from
# the model): a name longer than its column is an ImportIssue for that file, found
# before anything is stored, never a DataError that stops the whole import.
CAMERA_PATH_CHARS = Camera._meta.get_field("path").max_length
IMAGE_FILENAME_CHARS = Image._meta.get_field("filename").max_length
IMAGE_KEY_CHARS = Image._meta.get_field("key").max_length
IMAGE_WEB_KEY_CHARS = Image._meta.get_field("web_key").max_length
ISSUE_PATH_CHARS = ImportIssue._meta.get_field("path").max_length
ISSUE_REASON_CHARS = ImportIssue._meta.get_field("reason").max_length
ISSUE_HINT_CHARS = ImportIssue._meta.get_field("hint").max_length
SOURCE_CHARS = ImportRun._meta.get_field("source").max_length


def check_source_dir(source: str) -> Path:
    """Raise ImportSourceError unless ``source`` is a readable folder."""
    path = Path(source).expanduser()
    if not path.exists():
        raise ImportSourceError(f"The folder {source} does not exist. Check the --source path.")
    if not path.is_dir():
        raise ImportSourceError(f"{source} is a file, not a folder. Give the survey's folder.")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ImportSourceError(f"The folder {source} cannot be read (permission denied).")
    resolved = path.resolve()
    if not is_text(str(resolved)):  # its folder becomes a stored path and a site name
        raise ImportSourceError(f"The folder {printable(source)}: its name is not UTF-8 text; "
                                "rename the folder and import again.")
    if len(str(resolved)) > SOURCE_CHARS:
        raise ImportSourceError(f"The folder's full path is {len(str(resolved))} characters "
                                f"long, over the {SOURCE_CHARS} an import's source may have "
                                "(ImportRun.source); import from a shorter path.")
    return resolved


def check_site_regex(pattern: str) -> regex.Pattern:
    """``pattern`` compiled for user_regex.search; SurveyError when core.user_regex refuses it
    (invalid, too long, or able to backtrack catastrophically)."""
    try:
        return user_regex.check_user_regex(pattern, field="site regex")
    except user_regex.UserRegexError as exc:
        raise SurveyError(f"{exc} Change the survey's site regex.") from exc


def check_camera_regex(pattern: str) -> regex.Pattern | None:
    """Like check_site_regex, for the (optional) camera regex."""
    if not pattern:
        return None
    try:
        return user_regex.check_user_regex(pattern, field="camera regex")
    except user_regex.UserRegexError as exc:
        raise SurveyError(f"{exc} Change the survey's camera regex.") from exc


def organisation_import_root(survey: Survey) -> Path | None:
    """Where people of the survey's organisation may import from when not at the server's
    command line: ``<IMPORT_ROOT>/<organisation id>/``; None when IMPORT_ROOT is unset."""
    if not settings.IMPORT_ROOT:
        return None
    return (Path(settings.IMPORT_ROOT) / str(survey.organisation_id)).resolve()


def check_remote_source(survey: Survey, source: str) -> str:
    """The folder ``source`` (relative to the organisation's import root) as a full path.

    For imports asked for over the API: a caller names a folder inside their
    organisation's area, never a path of the server. Raises ImportSourceError.
    """
    root = organisation_import_root(survey)
    if root is None:
        raise ImportSourceError("Imports over the API are switched off on this server "
                                "(IMPORT_ROOT is not set); ask its operator.")
    relative = Path(source)
    if relative.is_absolute() or ".." in relative.parts or not source.strip():
        raise ImportSourceError(f"{source!r}: give a folder relative to your organisation's "
                                "import area, without '..'.")
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ImportSourceError(f"{source!r} leads outside your organisation's import area.")
    return str(path)


def do_start_import(survey: Survey, source: str, *, acting_user=None,
                    inline: bool = False) -> ImportRun:
    """Record an import of ``source`` into ``survey`` and start it on the ``import`` queue.

    The survey moves to *importing* at once. ``inline`` runs the import, and
    the pipeline stages after it, in this process once the transaction
    commits (see pipeline.enqueue). Raises SurveyError for a bad folder or
    site regex.
    """
    if acting_user is not None:
        check_capability(acting_user, survey.organisation, Capability.CHANGE)
    root = check_source_dir(source)
    check_site_regex(survey.site_regex)
    check_camera_regex(survey.camera_regex)
    run = ImportRun.objects.create(survey=survey, source=str(root), created_by=acting_user)
    pipeline.do_transition(survey, pipeline.ANY, SurveyStatus.IMPORTING)
    import_queue.send(run.pk, run.ticket, inline=inline)
    return run


def printable(rel: str) -> str:
    """A path as text that can be stored and shown (undecodable bytes become �)."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, its middle replaced by … when cut."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[len(text) - (limit - 1 - half):]


def issue(run: ImportRun, rel: str, reason: str, hint: str = "", *,
          skipped: bool = True) -> ImportIssue:
    """An (unsaved) ImportIssue for the file ``rel``, clipped to the issue's columns."""
    return ImportIssue(import_run=run, path=clip(rel, ISSUE_PATH_CHARS),
                       reason=clip(reason, ISSUE_REASON_CHARS), hint=clip(hint, ISSUE_HINT_CHARS),
                       skipped=skipped)


def name_problem(rel: str, *, survey_id: int | None = None) -> str | None:
    """Why a file's relative path cannot name a stored object and its rows, or None.

    Its folder must fit Camera.path, its name Image.filename, and its storage
    keys Image.key/web_key (for ``survey_id``; without one, for any survey).
    """
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8 text; rename the file and import again"
    if "\\" in rel:
        return "its name holds a backslash (\\); rename the file and import again"
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        return "its name holds control characters; rename the file and import again"
    return length_problem(rel, survey_id=survey_id)


def length_problem(rel: str, *, survey_id: int | None = None) -> str | None:
    folder, name = os.path.split(rel)
    if len(folder) > CAMERA_PATH_CHARS:
        return (f"its folder path is {len(folder)} characters long, over the "
                f"{CAMERA_PATH_CHARS} a camera's folder may have (Camera.path); shorten "
                "the folder names")
    if len(name) > IMAGE_FILENAME_CHARS:
        return (f"its name is {len(name)} characters long, over the {IMAGE_FILENAME_CHARS} "
                "an image's file name may have (Image.filename); rename the file")
    key, web_key = image_keys(10**12 if survey_id is None else survey_id, rel)
    if len(key) > IMAGE_KEY_CHARS or len(web_key) > IMAGE_WEB_KEY_CHARS:
        room = IMAGE_KEY_CHARS - (len(key) - len(rel))
        return (f"its path is {len(rel)} characters long, over the {room} its storage key "
                f"leaves room for (Image.key holds {IMAGE_KEY_CHARS}); shorten the path")
    return None


def list_source_files(root: Path, *, survey_id: int | None = None,
                      ) -> tuple[list[str], list[tuple[str, str, str]]]:
    """JPEGs under ``root`` as sorted relative paths, and files refused: (path, reason, hint).

    Only regular files are taken (a pipe named ``x.jpg`` would block a read
    for ever). Links that lead outside ``root`` are refused (they could expose
    files the importer was never given); linked folders are not followed.
    Names that cannot become storage keys and files over the size limit are
    refused here, before anything is stored.
    """
    files, refused = [], []
    cap = settings.MAX_IMPORT_FILE_BYTES
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in list(dirnames):
            full = Path(dirpath) / name
            if full.is_symlink():
                dirnames.remove(name)
                rel = printable(full.relative_to(root).as_posix())
                inside = full.resolve().is_relative_to(root)
                refused.append((rel, "is a link to a folder inside the survey folder; its "
                                "files are imported from that folder, not through the link"
                                if inside else
                                "is a link to a folder outside the survey folder; skipped",
                                hints.INSIDE_LINK if inside else hints.LINK))
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if not name.lower().endswith(JPEG_SUFFIXES):
                continue
            problem, hint = name_problem(rel, survey_id=survey_id), hints.NAME
            if problem is None and full.is_symlink() and not full.resolve().is_relative_to(root):
                problem, hint = "is a link to a file outside the survey folder; skipped", hints.LINK
            if problem is None:
                problem, hint = _file_problem(full, cap)
            if problem:
                refused.append((printable(rel), problem, hint))
                continue
            files.append(rel)
    files.sort()
    return files, refused


def _file_problem(full: Path, cap: int) -> tuple[str | None, str]:
    """(why the file cannot be taken, what to do), or (None, "")."""
    try:
        info = full.stat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})", hints.PERMISSIONS
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file (a pipe, device or socket); skipped", hints.NOT_A_PHOTO
    if info.st_size > cap:
        return (f"is {info.st_size / 1e6:.0f} MB, over the {cap / 1e6:.0f} MB limit per file "
                "(MAX_IMPORT_FILE_BYTES)"), hints.TOO_BIG
    return None, ""


def read_source_file(path: Path, *, cap: int, seconds: float) -> bytes:
    """The file's bytes; UnreadableImage unless it is a regular file read within the limits.

    Opened without blocking and checked again once open, so that a file
    swapped for a pipe after listing cannot hang the import.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableImage("is not a regular file (a pipe, device or socket); skipped",
                                  hints.NOT_A_PHOTO)
        chunks, total = [], 0
        deadline = time.monotonic() + seconds
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > cap:
                raise UnreadableImage(f"is over the {cap / 1e6:.0f} MB limit per file",
                                      hints.TOO_BIG)
            if time.monotonic() > deadline:
                raise UnreadableImage(f"took longer than {seconds:.0f} s to read; skipped",
                                      hints.SLOW)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def image_keys(survey_id: int, rel: str) -> tuple[str, str]:
    """Where an image at ``rel`` in a survey is stored: its original and its web copy."""
    return f"surveys/{survey_id}/originals/{rel}", f"surveys/{survey_id}/web/{rel}"


def _save_exactly(key: str, data: bytes, *, may_exist: bool) -> str:
    """Store ``data`` under ``key`` itself.

    An object already there can only be a leftover of a run cut off before it
    recorded the image (keys of recorded images are skipped earlier), so it is
    replaced rather than saved beside under a new name. Only runs that follow
    an unfinished one look (``may_exist``): the look costs a request per file
    on S3.
    """
    if may_exist and default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(data), max_length=IMAGE_KEY_CHARS)


class _Importer:
    """State for one run: site/camera caches and what is already in the survey."""

    def __init__(self, run: ImportRun, *, taken_over: bool = False):
        self.run = run
        self.survey = run.survey
        self.root = Path(run.source)
        self.namer = Namer.for_survey(self.survey, self.root.name)
        self.tz = ZoneInfo(self.survey.timezone)
        self.sites = {s.name: s for s in Site.objects.filter(survey=self.survey)}
        self.cameras = {
            (c.site.name, c.path): c
            for c in Camera.objects.filter(site__survey=self.survey).select_related("site")
        }
        existing = Image.objects.filter(camera__site__survey=self.survey)
        # Hashes by how they were computed: a file is a duplicate when its current hash
        # matches a current one, or its version-1 hash an image not yet rehashed (so an
        # old survey's repeat import finds its own files before the rehash has run).
        self.hashes: dict[str, str] = {}
        self.legacy_hashes: dict[str, str] = {}
        self.done_keys: set[str] = set()
        for digest, key, version in existing.values_list("content_hash", "key", "hash_version"):
            (self.hashes if version == HASH_VERSION else self.legacy_hashes)[digest] = key
            self.done_keys.add(key)
        self.issue_count = run.issues.count()
        # Leftover files are possible only after a run that did not finish.
        self.may_have_leftovers = taken_over or ImportRun.objects.filter(
            survey=self.survey).exclude(pk=run.pk).exclude(status=ImportStatus.DONE).exists()

    def names(self, rel: str) -> Names:
        """The file's site and physical camera (services.naming); UnreadableImage when it
        has no site (its folder, name or path does not match the site regex)."""
        names = self.namer.names(rel)
        if names.problem:
            raise UnreadableImage(names.problem, hints.NO_SITE)
        return names

    def camera_for(self, names: Names, folder: str) -> Camera:
        site = self.sites.get(names.site)
        if site is None:
            site, _ = Site.objects.get_or_create(survey=self.survey, name=names.site)
            self.sites[names.site] = site
        camera = self.cameras.get((names.site, folder))
        if camera is None:
            camera, _ = Camera.objects.get_or_create(
                site=site, path=folder, defaults={"physical_camera": names.camera})
            self.cameras[(names.site, folder)] = camera
        return camera

    def key_for(self, rel: str) -> str:
        return image_keys(self.survey.pk, rel)[0]

    def store(self, rel: str, key: str, data: bytes, web_jpeg: bytes) -> tuple[str, str]:
        """Save the original and its web copy; neither stays behind if either fails."""
        careful = self.may_have_leftovers
        stored_key = _save_exactly(key, data, may_exist=careful)
        try:
            web_key = _save_exactly(image_keys(self.survey.pk, rel)[1], web_jpeg,
                                    may_exist=careful)
        except Exception:
            default_storage.delete(stored_key)
            raise
        return stored_key, web_key

    def import_batch(self, rels: list[str]) -> tuple[list[Image], list[ImportIssue]]:
        images, issues = [], []
        for rel in rels:
            key = self.key_for(rel)
            if key in self.done_keys:
                continue  # imported by an earlier run
            try:
                names = self.names(rel)
                data = read_source_file(self.root / rel, cap=settings.MAX_IMPORT_FILE_BYTES,
                                        seconds=settings.IMPORT_FILE_READ_SECONDS)
                info = read_image(data, self.tz, legacy_hash=bool(self.legacy_hashes))
            except OSError as exc:
                issues.append(issue(self.run, rel, f"cannot be read ({exc.strerror or exc})",
                                    hints.PERMISSIONS))
                continue
            except UnreadableImage as exc:
                issues.append(issue(self.run, rel, str(exc), exc.hint))
                continue
            same = (self.hashes.get(info.content_hash)
                    or self.legacy_hashes.get(info.legacy_hash or None))
            if same:
                issues.append(issue(self.run, rel, f"same image data as {same}; "
                                    "duplicate skipped", hints.DUPLICATE))
                continue
            stamp = timestamps.choose(info.exif_timestamps, rel, self.tz)
            for warning in [*info.warnings, stamp.note]:
                if warning:
                    issues.append(issue(self.run, rel, warning, hints.TIMESTAMP, skipped=False))
            folder = os.path.dirname(rel)
            camera = self.camera_for(names, folder)
            try:
                stored_key, web_key = self.store(rel, key, data, info.web_jpeg)
            except (SuspiciousFileOperation, ValueError) as exc:
                issues.append(issue(self.run, rel,
                                    f"cannot be stored under its name ({exc}); rename the file",
                                    hints.NAME))
                continue
            self.hashes[info.content_hash] = stored_key
            self.done_keys.add(key)
            images.append(Image(
                camera=camera, filename=os.path.basename(rel), key=stored_key, web_key=web_key,
                content_hash=info.content_hash, timestamp=stamp.value,
                corrected_timestamp=stamp.trusted, timestamp_source=stamp.source,
                timestamp_suspect=stamp.suspect, width=info.width, height=info.height,
                file_size=len(data),
            ))
        return images, issues


def do_run_import(run: ImportRun, *, ticket: int | None = None, inline: bool = False) -> bool:
    """Import the JPEGs under the run's source folder into its survey, one slice at a time.

    Claims the run through import_queue.claim (PENDING → RUNNING, or a RUNNING
    run whose worker has been silent for settings.PIPELINE_STALE_SECONDS; not
    when ``ticket`` is an old one or the organisation's import slots are full)
    and returns False when it is not ours to run now. Then imports the files
    after the run's cursor, in sorted order, for up to IMPORT_SLICE_SECONDS,
    and either finishes the run or sends it to the back of the queue
    (import_queue.end_slice). Unreadable files become ImportIssues and the
    import goes on. Files already imported are skipped, so a re-run after a
    crash only adds what is missing. The last run of the survey to finish
    moves its pipeline on (``inline``: in this process and in one slice, see
    pipeline.enqueue).
    """
    claimed = import_queue.claim(run.pk, ticket, inline=inline)
    if claimed in (import_queue.Claim.NOT_OURS, import_queue.Claim.DEFERRED):
        return False
    run.refresh_from_db()
    survey = run.survey
    if survey.status != SurveyStatus.IMPORTING:  # a failed run resumed
        pipeline.do_transition(survey, pipeline.ANY, SurveyStatus.IMPORTING)
    try:
        importer = _Importer(run, taken_over=claimed is import_queue.Claim.TAKEN_OVER)
        remaining = _files_to_do(run, importer)
        if _import_slice(run, importer, remaining, inline=inline):
            _finish(run, survey, importer.issue_count, inline=inline)
        else:
            import_queue.end_slice(run)
    except Exception as exc:
        logger.exception("import %s failed", run.pk)
        _fail(run, f"The import stopped: {exc}")
        raise
    return True


def _files_to_do(run: ImportRun, importer: _Importer) -> list[str]:
    """The files after the run's cursor; files refused by name or kind are recorded
    as issues by the run's first slice."""
    files, refused = list_source_files(importer.root, survey_id=run.survey_id)
    if not run.cursor and not importer.issue_count:
        ImportIssue.objects.bulk_create(issue(run, rel, reason, hint)
                                        for rel, reason, hint in refused)
        importer.issue_count += len(refused)
    remaining = [rel for rel in files if rel > run.cursor] if run.cursor else files
    run.total, run.processed = len(files), len(files) - len(remaining)
    run.save(update_fields=["total", "processed"])
    return remaining


def _import_slice(run: ImportRun, importer: _Importer, files: list[str], *,
                  inline: bool) -> bool:
    """Import ``files`` a batch at a time until done (True) or until the slice's
    IMPORT_SLICE_SECONDS are up (False; at least one batch is done). Inline
    imports are one slice: nothing else shares their process."""
    ends = None if inline else time.monotonic() + settings.IMPORT_SLICE_SECONDS
    batch_size = settings.IMPORT_BATCH_SIZE
    for start in range(0, len(files), batch_size):
        if start and ends is not None and time.monotonic() >= ends:
            return False
        batch = files[start:start + batch_size]
        images, issues = importer.import_batch(batch)
        try:
            with transaction.atomic():
                Image.objects.bulk_create(images, batch_size=500)
                ImportIssue.objects.bulk_create(issues, batch_size=500)
                run.processed += len(batch)
                run.imported += len(images)
                run.cursor = batch[-1]
                run.heartbeat_at = timezone.now()
                run.save(update_fields=["processed", "imported", "cursor", "heartbeat_at"])
                importer.issue_count += len(issues)
                events.import_progress(run, issues=importer.issue_count)
        except Exception:
            _delete_objects(images)  # no row will point to them
            raise
    return True


def _delete_objects(images: list[Image]) -> None:
    for image in images:
        for key in (image.key, image.web_key):
            try:
                default_storage.delete(key)
            except Exception:  # the batch's own error is the one to report
                logger.exception("could not delete %s", key)


def _finish(run: ImportRun, survey: Survey, issue_count: int, *, inline: bool) -> None:
    with transaction.atomic():
        run.status = ImportStatus.DONE
        run.finished_at = timezone.now()
        run.message = (
            f"Imported {run.imported} of {run.total} files; {issue_count} issue(s) recorded."
        )
        run.save(update_fields=["status", "finished_at", "message"])
        survey.image_count = Image.objects.filter(camera__site__survey=survey).count()
        survey.save(update_fields=["image_count"])
        events.import_progress(run, issues=issue_count)
        others = ImportRun.objects.filter(
            survey=survey, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
        ).exclude(pk=run.pk)
        if not others.exists():  # the last import to finish moves the pipeline on
            pipeline.stage_done(survey, SurveyStatus.IMPORTING, inline=inline)


def _fail(run: ImportRun, message: str) -> None:
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportStatus.FAILED, message=message[:1000], finished_at=timezone.now()
    )
    pipeline.do_transition(run.survey, SurveyStatus.IMPORTING, SurveyStatus.FAILED, message)


def resume_stale_imports() -> list[int]:
    """Re-send every import whose worker went silent or whose message was lost; their ids.

    Some brokers drop the message of a killed worker; the re-sent task takes
    the stale run over (see do_run_import) and imports only what is missing.
    """
    return import_queue.resend_stale()
