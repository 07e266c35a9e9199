"""MegaDetector batch output (format 1.x) in and out.

The field's detector writes one JSON file per run (https://lila.science/megadetector-output-format)::

    {"info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt", ...},
     "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
     "images": [{"file": "Site1/CAM1/IMG_0001.JPG",
                 "detections": [{"category": "1", "conf": 0.93,
                                 "bbox": [x_min, y_min, width, height]}]},   # 0..1, top-left
                {"file": "Site1/CAM1/IMG_0002.JPG", "failure": "Failure image access"}]}

Reading is in two steps: ``read_batch_output`` / ``parse_batch_output`` check
the whole file and turn it into plain records (pure: nothing is looked up or
stored), then ``do_import_detections`` matches the files to the survey's
images and replaces that detector's boxes on them in one transaction. A file
that breaks the format is refused as a whole with a DetectionsFileError that
names the file, the record and what to do; files the survey lacks are listed
and skipped. ``write_batch_output`` writes a survey's boxes back in the same
format, a page of images at a time.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.access import check_capability
from accounts.taxonomy import Capability
from core.progress import Progress, ignore_progress
from surveys.models import Image, Survey
from surveys.selectors import image_ids_by_path, relative_path, source_root_names
from surveys.taxonomy import SurveyStatus

from ..exceptions import DetectionsFileError
from ..models import Detection
from ..taxonomy import Category, DetectionStatus
from .detectors import DETECTORS
from .supersede import current_detector, describe, machine_boxes, supersede_others, survey_detectors

FORMAT_VERSION = "1.4"  # what we write; we read every 1.x
# Boxes below this confidence are noise at every threshold anyone uses (domain rules).
MIN_CONFIDENCE = 0.05
# MegaDetector rounds boxes to 4 decimals, so x + width can pass 1 by a hair.
EDGE_TOLERANCE = 0.001
CATEGORY_IDS = {Category.ANIMAL: "1", Category.PERSON: "2", Category.VEHICLE: "3"}
CATEGORY_NAMES = {Category.ANIMAL: "animal", Category.PERSON: "person",
                  Category.VEHICLE: "vehicle"}
_CATEGORY_BY_NAME = {name: category for category, name in CATEGORY_NAMES.items()}
# Boxes people removed or filters set aside are not exported.
NOT_EXPORTED = [DetectionStatus.DELETED, DetectionStatus.HIDDEN, DetectionStatus.MASKED]
SOURCE_MAX_CHARS = Detection._meta.get_field("source").max_length
PAGE = 1000  # images per write (and per export read)
_DRIVE = re.compile(r"^[A-Za-z]:/")

# (category, conf, left, top, right, bottom)
Box = tuple[int, float, float, float, float, float]


@dataclass
class ParsedImage:
    index: int  # position in the file's ``images`` list, for messages
    file: str  # normalised: forward slashes, no "." parts
    boxes: list[Box] | None  # None for a failure record
    failure: str | None = None


@dataclass
class BatchOutput:
    """A checked batch output file: its detector and its images' boxes (≥ MIN_CONFIDENCE)."""

    name: str
    detector: str | None
    images: list[ParsedImage]
    low_confidence: int = 0  # boxes under MIN_CONFIDENCE, left out


@dataclass
class DetectionsImport:
    """What ``do_import_detections`` did; ``as_dict()`` is what ``--json`` prints."""

    source: str
    images_in_file: int = 0
    images_updated: int = 0
    detections_stored: int = 0
    detections_replaced: int = 0
    low_confidence_skipped: int = 0
    detections_superseded: int = 0  # other detectors' machine boxes on the file's images
    failed: list[str] = field(default_factory=list)  # failure records (left as they were)
    missing: list[str] = field(default_factory=list)  # files the survey does not have

    def as_dict(self) -> dict:
        return {
            "source": self.source, "images_in_file": self.images_in_file,
            "images_updated": self.images_updated, "detections_stored": self.detections_stored,
            "detections_replaced": self.detections_replaced,
            "detections_superseded": self.detections_superseded,
            "low_confidence_skipped": self.low_confidence_skipped,
            "failed": len(self.failed), "missing": len(self.missing),
            "failed_files": self.failed, "missing_files": self.missing,
        }


# --- reading and checking (pure) ------------------------------------------------------
def _refuse(message: str) -> DetectionsFileError:
    return DetectionsFileError(message)


def read_batch_output(path) -> BatchOutput:
    """Read and check the batch output file at ``path``; raise DetectionsFileError if bad.

    Files over settings.MAX_DETECTIONS_JSON_BYTES are refused before they are read.
    """
    name = os.fspath(path)
    cap = settings.MAX_DETECTIONS_JSON_BYTES
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _refuse(f"{name} does not exist. Check the --json-file path.") from None
    except OSError as exc:
        raise _refuse(f"{name} cannot be read ({exc.strerror or exc}).") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(f"{name} is not a regular file (a folder, pipe or device); give "
                          "the .json file MegaDetector wrote.")
        if info.st_size > cap:
            raise _refuse(_too_big(name, info.st_size, cap))
        with os.fdopen(os.dup(fd), "rb") as fh:
            # Sized by the file, not the cap: read(n) reserves n bytes up front.
            data = fh.read(info.st_size + 1)
            while len(data) <= cap and (more := fh.read(1 << 20)):  # it grew meanwhile
                data += more
    finally:
        os.close(fd)
    if len(data) > cap:  # grew while we looked
        raise _refuse(_too_big(name, len(data), cap))
    return load_batch_output(data, name)


def _size(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 10_000_000 else f"{n:,} bytes"


def _too_big(name: str, size: int, cap: int) -> str:
    return (f"{name} is {_size(size)}, over the {_size(cap)} limit for a "
            "detections file (MAX_DETECTIONS_JSON_BYTES). Split it by folder with "
            "MegaDetector's subset_json_detector_output and import the parts.")


def load_batch_output(data: bytes, name: str) -> BatchOutput:
    """Decode and check the bytes of a batch output file called ``name``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(f"{name} is not UTF-8 text (bad byte at offset {exc.start}); give the "
                      ".json file MegaDetector wrote.") from None
    if not text.strip():
        raise _refuse(f"{name} is empty; give the .json file MegaDetector wrote.")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise _refuse(
                f"{name} ends early (line {exc.lineno}, column {exc.colno}): the file is "
                "truncated. Copy it again, or re-run MegaDetector (it can resume from its "
                "checkpoint)."
            ) from None
        raise _refuse(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                      f"{exc.colno}. Give the .json file MegaDetector wrote, unedited.") from None
    except RecursionError:
        raise _refuse(f"{name} nests too deeply to be MegaDetector output.") from None
    del text
    return parse_batch_output(doc, name, consume=True)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def normalise_file(raw, where: str) -> str:
    """``images[].file`` as a relative path with forward slashes; refuse what cannot be one."""
    if not isinstance(raw, str) or not raw.strip():
        raise _refuse(f"{where}: 'file' must be the image's path as text; it is {raw!r}.")
    path = raw.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        raise _refuse(
            f"{where}: 'file' is an absolute path ({raw!r}). Write paths relative to the folder "
            "MegaDetector was run on (its --output_relative_filenames option) and import again."
        )
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse(f"{where}: 'file' climbs out of the folder with '..' ({raw!r}); write "
                      "paths relative to the folder MegaDetector was run on.")
    if not parts:
        raise _refuse(f"{where}: 'file' names no image ({raw!r}).")
    return "/".join(parts)


def _categories(doc: dict, name: str) -> tuple[dict, dict[str, int]]:
    """The file's detection categories, and those TrapTagger stores mapped to ours."""
    declared = doc.get("detection_categories")
    if declared is None:  # format 1.0 files may leave out MegaDetector's fixed categories
        declared = {CATEGORY_IDS[c]: n for c, n in CATEGORY_NAMES.items()}
    if not isinstance(declared, dict):
        raise _refuse(f"{name}: 'detection_categories' must map category ids to names, like "
                      '{"1": "animal", "2": "person", "3": "vehicle"}.')
    known = {}
    for cid, cname in declared.items():
        if isinstance(cname, str) and cname.strip().lower() in _CATEGORY_BY_NAME:
            known[cid] = _CATEGORY_BY_NAME[cname.strip().lower()]
    return declared, known


def _parse_box(det, where: str, declared: dict, known: dict[str, int]) -> Box:
    if not isinstance(det, dict):
        raise _refuse(f"{where}: a detection must be an object with category, conf and bbox.")
    raw_category = det.get("category")
    cid = (str(raw_category) if isinstance(raw_category, str | int)
           and not isinstance(raw_category, bool) else None)
    if cid is None or cid not in declared:
        raise _refuse(
            f"{where}: category {raw_category!r} is not in detection_categories "
            f"({', '.join(map(repr, declared)) or 'none'}); fix the file's categories."
        )
    if cid not in known:
        raise _refuse(
            f"{where}: category {cid!r} ({declared[cid]!r}) is not one TrapTagger stores "
            "(animal, person, vehicle). Import the detector's output before classification, "
            "or remove these boxes."
        )
    conf = det.get("conf")
    if not _is_number(conf) or not 0.0 <= conf <= 1.0:
        raise _refuse(f"{where}: conf must be a number from 0 to 1; it is {conf!r}.")
    bbox = det.get("bbox")
    if (not isinstance(bbox, list) or len(bbox) != 4
            or not all(_is_number(v) for v in bbox)):
        raise _refuse(f"{where}: bbox must be four numbers [x_min, y_min, width, height]; it "
                      f"is {bbox!r}.")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0:
        raise _refuse(f"{where}: bbox {bbox!r} has a negative width or height.")
    if not (0 <= x <= 1 and 0 <= y <= 1 and x + w <= 1 + EDGE_TOLERANCE
            and y + h <= 1 + EDGE_TOLERANCE):
        raise _refuse(
            f"{where}: bbox {bbox!r} lies outside the image. Boxes are [x_min, y_min, width, "
            "height] as fractions 0..1 of the image; was the file converted to pixels?"
        )
    return (known[cid], float(conf), x, y, min(1.0, x + w), min(1.0, y + h))


def parse_batch_output(doc, name: str, *, consume: bool = False) -> BatchOutput:
    """Check a loaded batch output document; raise DetectionsFileError at the first problem.

    Pure: looks nothing up. Every box is checked (also those under
    MIN_CONFIDENCE, which are then left out). Paths are normalised
    (backslashes to slashes, "." parts dropped); absolute paths, '..' and a
    file named twice are refused. ``consume`` empties ``doc["images"]`` as it
    goes (for a document nobody else holds: it halves the peak memory).
    """
    if not isinstance(doc, dict):
        raise _refuse(f"{name}: the top level must be an object with 'images' (MegaDetector "
                      f"batch output); it is a JSON {type(doc).__name__}.")
    info = doc.get("info") or {}
    if not isinstance(info, dict):
        raise _refuse(f"{name}: 'info' must be an object.")
    version = info.get("format_version")
    if version is not None and str(version).split(".")[0] != "1":
        raise _refuse(f"{name}: format_version {version!r}; TrapTagger reads MegaDetector "
                      "batch output format 1.x.")
    detector = info.get("detector")
    if detector is not None and not isinstance(detector, str):
        raise _refuse(f"{name}: info.detector must be the detector's name as text.")
    declared, known = _categories(doc, name)
    entries = doc.get("images")
    if entries is None:
        raise _refuse(f"{name} has no 'images' list: it is not MegaDetector batch output "
                      "(images[].file, images[].detections).")
    if not isinstance(entries, list):
        raise _refuse(f"{name}: 'images' must be a list.")
    out = BatchOutput(name=name, detector=(detector or "").strip() or None, images=[])
    first_seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if consume:  # free each raw record once read: raw and parsed never both peak
            entries[i] = None
        where = f"{name}: images[{i}]"
        if not isinstance(entry, dict):
            raise _refuse(f"{where} must be an object with 'file' and 'detections'.")
        path = normalise_file(entry.get("file"), where)
        where = f"{where} ({path})"
        if path in first_seen:
            raise _refuse(f"{where} is listed again (first at images[{first_seen[path]}]); "
                          "keep one record per image.")
        first_seen[path] = i
        failure = entry.get("failure")
        if failure is not None:
            out.images.append(ParsedImage(i, path, None, str(failure)[:200]))
            continue
        detections = entry.get("detections")
        if not isinstance(detections, list):
            raise _refuse(f"{where}: 'detections' must be a list (empty when nothing was "
                          "found), or the record must carry a 'failure'.")
        boxes = []
        for j, det in enumerate(detections):
            box = _parse_box(det, f"{where}, detections[{j}]", declared, known)
            if box[1] < MIN_CONFIDENCE:
                out.low_confidence += 1
            else:
                boxes.append(box)
        out.images.append(ParsedImage(i, path, boxes))
    return out


def check_source_name(name: str | None, file_name: str) -> str:
    """The detector name to record as the boxes' source; DetectionsFileError if unusable."""
    source = (name or "").strip()
    if not source:
        raise _refuse(f"{file_name} does not say which detector made it (info.detector); give "
                      "--detector NAME, e.g. --detector md_v5a.0.0.")
    if len(source) > SOURCE_MAX_CHARS:
        raise _refuse(f"The detector name {source!r} is longer than {SOURCE_MAX_CHARS} "
                      "characters; give a shorter one with --detector.")
    if source in DETECTORS:
        raise _refuse(f"{source!r} names one of TrapTagger's own detectors; give the name of "
                      "the detector that made the file with --detector.")
    return source


# --- importing ------------------------------------------------------------------------------
def _chunks(items: list, size: int = PAGE) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def match_images(survey: Survey, batch: BatchOutput) -> tuple[list[tuple[int, ParsedImage]],
                                                               list[str]]:
    """Pair the file's records with the survey's images: (image id, record) and missing names.

    A record's file is the image's path relative to the folder it was
    imported from, with or without that folder's name in front. Two queries
    however many images there are.
    """
    by_path = image_ids_by_path(survey)
    roots = source_root_names(survey)
    matched, missing, claimed = [], [], {}
    for record in batch.images:
        image_id = by_path.get(record.file)
        if image_id is None:
            head, sep, rest = record.file.partition("/")
            if sep and head in roots:
                image_id = by_path.get(rest)
        if image_id is None:
            missing.append(record.file)
            continue
        if image_id in claimed:
            raise _refuse(f"{batch.name}: images[{record.index}] ({record.file}) and "
                          f"images[{claimed[image_id].index}] ({claimed[image_id].file}) are "
                          "the same image of the survey; keep one of them.")
        claimed[image_id] = record
        matched.append((image_id, record))
    return matched, missing


def do_import_detections(survey: Survey, batch: BatchOutput, *, detector: str | None = None,
                         acting_user=None,
                         progress: Progress = ignore_progress) -> DetectionsImport:
    """Store the boxes of a checked batch output file on ``survey``'s images.

    The boxes' source is ``detector`` or else the file's info.detector. On
    every image the file has results for, that source's earlier machine boxes
    are replaced (a second import of the same file changes nothing), the
    machine boxes of other detectors there are superseded (kept, restorable,
    not shown or counted: services.supersede), people's boxes stay, and the
    image is marked detected; failure records and images the file does not list
    are left as they were. Files the survey does not have are listed and
    skipped. All in one transaction, holding the survey's row lock (a
    survey in the middle of its own detection stage is refused).
    ``acting_user`` needs CHANGE on the survey (None: an operator). Raises
    DetectionsFileError (nothing stored changes) or AccessDenied.
    """
    if acting_user is not None:
        check_capability(acting_user, survey, Capability.CHANGE)
    source = check_source_name(detector or batch.detector, batch.name)
    result = DetectionsImport(source=source, images_in_file=len(batch.images),
                              low_confidence_skipped=batch.low_confidence)
    matched, result.missing = match_images(survey, batch)
    result.failed = [record.file for _, record in matched if record.boxes is None]
    done = [(image_id, record) for image_id, record in matched if record.boxes is not None]
    with transaction.atomic():
        status = Survey.objects.select_for_update().values_list("status", flat=True).get(
            pk=survey.pk)
        if status == SurveyStatus.DETECTING:
            raise _refuse(f"Survey “{survey}” is running its detection stage now; import the "
                          "detections once it has finished.")
        for n, page in enumerate(_chunks(done), start=1):
            ids = [image_id for image_id, _ in page]
            # Nothing refers to a Detection, so this is one DELETE, not a fetch per row.
            result.detections_replaced += machine_boxes().filter(
                image_id__in=ids, source=source).delete()[0]
            result.detections_superseded += supersede_others(ids, source)
            rows = [
                Detection(image_id=image_id, category=category, score=round(conf, 4),
                          left=left, top=top, right=right, bottom=bottom, source=source,
                          status=DetectionStatus.ACTIVE)
                for image_id, record in page
                for category, conf, left, top, right, bottom in record.boxes
            ]
            Detection.objects.bulk_create(rows, batch_size=PAGE)
            Image.objects.filter(id__in=ids, detected=False).update(detected=True)
            result.detections_stored += len(rows)
            result.images_updated += len(page)
            progress(min(n * PAGE, len(done)), len(done))
    return result


# --- exporting --------------------------------------------------------------------------------
@dataclass
class _Export:
    """One detector's part of a survey (see ``write_batch_output``)."""

    detector: str | None
    current: bool  # its boxes are the survey's current ones

    def boxes(self):
        return Detection.all_boxes.filter(source=self.detector, static=False).exclude(
            status__in=NOT_EXPORTED)

    def listed(self, image_ids: list[int]) -> set[int]:
        """Which of a page's images it has results on (two indexed queries)."""
        found = set(Detection.all_boxes.filter(image_id__in=image_ids, source=self.detector)
                    .values_list("image_id", flat=True))
        if self.current:  # its empty results: images no machine box is current on
            taken = set(machine_boxes().filter(image_id__in=image_ids, superseded=False)
                        .values_list("image_id", flat=True))
            found |= set(image_ids) - taken
        return found


def _exported(survey: Survey, detector: str | None) -> _Export:
    detectors = survey_detectors(survey)
    current = current_detector(detectors)
    if detector is not None and detector not in detectors:
        raise _refuse(f"Survey “{survey}” has no boxes of the detector {detector!r}; its "
                      f"detectors: {describe(detectors)}.")
    chosen = detector or current
    return _Export(chosen, chosen == current)


def write_batch_output(survey: Survey, out: TextIO, *, detector: str | None = None,
                       acting_user=None) -> dict:
    """Write one detector's boxes on ``survey`` to ``out`` as MegaDetector batch output (1.4).

    ``detector``: the boxes' source (an earlier, superseded detector's too);
    None takes the current one (whose boxes are current on most images).
    info.detector names it. Its images are listed by their path relative to the
    folder they were imported from: those it has boxes on and, for the current
    detector, the detected images where no detector's box is current (its empty
    results; an earlier detector's empty results are not kept). Boxes people
    deleted or filters set aside (static, hidden, masked) are left out, and so
    are other detectors' and people's own. Reads a page of images and their
    boxes at a time, in one transaction for a consistent picture. ``acting_user``
    needs VIEW on the survey (None: an operator). Raises DetectionsFileError for
    a detector the survey has no boxes of. Returns counts.
    """
    if acting_user is not None:
        check_capability(acting_user, survey, Capability.VIEW)
    counts = {"images": 0, "detections": 0}
    with transaction.atomic():
        export = _exported(survey, detector)
        boxes = export.boxes()
        images = Image.objects.filter(camera__site__survey=survey, detected=True)
        info = {
            "format_version": FORMAT_VERSION,
            "detector": export.detector or "none",
            "detection_completion_time": timezone.now().strftime("%Y-%m-%d %H:%M:%S"),
        }
        categories = {CATEGORY_IDS[c]: CATEGORY_NAMES[c] for c in CATEGORY_IDS}
        out.write(f'{{"info": {json.dumps(info)},\n"detection_categories": '
                  f'{json.dumps(categories)},\n"images": [')
        last_id = 0
        while True:
            page = list(images.filter(id__gt=last_id).order_by("id").values_list(
                "id", "camera__path", "filename")[:PAGE])
            if not page:
                break
            last_id = page[-1][0]
            listed = export.listed([row[0] for row in page])
            page = [row for row in page if row[0] in listed]
            by_image: dict[int, list] = {}
            for image_id, category, score, left, top, right, bottom in boxes.filter(
                image_id__in=[row[0] for row in page]
            ).order_by("image_id", "-score", "id").values_list(
                "image_id", "category", "score", "left", "top", "right", "bottom"
            ):
                by_image.setdefault(image_id, []).append({
                    "category": CATEGORY_IDS[category], "conf": round(float(score), 4),
                    "bbox": [round(left, 4), round(top, 4), round(right - left, 4),
                             round(bottom - top, 4)],
                })
            for image_id, path, filename in page:
                found = by_image.get(image_id, [])
                out.write(("\n" if counts["images"] == 0 else ",\n") + json.dumps(
                    {"file": relative_path(path, filename), "detections": found}))
                counts["images"] += 1
                counts["detections"] += len(found)
        out.write("\n]}\n")
    counts["detector"] = info["detector"]
    return counts
