"""Training data: crops of verified boxes and the label files a classifier is trained on.

What goes in: animal boxes that are relevant (classifiers.selectors.relevance: not
static, not deleted/hidden/masked, above their detector's threshold or drawn by a
person), at least ``min_area`` of the image (and ``min_score`` when given), in
clusters whose task label is exactly one species (no special label, no second
label: the box's species is then known).

What comes out, in the folder ``out``::

    crops/<survey id>/<detection id>_<box digest>.jpg     square, black-padded
    classification_ds/classification_ds.csv               a row per crop
    label_spec.json      {class: {"dataset_labels": {dataset: [original labels]}}}
    label_index.json     {"0": class, "1": …}

A dataset is a survey (its name); a location is a site of it. Crops are kept in
storage under ``crops/<organisation>/<survey>/`` and a crop of the same box of the
same detection at the same size is never made twice: one already in ``out`` is
left as it is, one in storage is copied.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.models import ClusterAnnotation, Label, Task
from classifiers.selectors import relevant_detections
from classifiers.taxonomy import Category
from core.paging import pages_by_pk
from core.progress import Progress, ignore_progress
from results.exceptions import ExportError
from results.services.results import label_facts, labels_by_annotation, safe_cell

from .crops import CROP_SIZE, crop_name, crops_of_image
from .label_translation import Translation, translate

CSV_COLUMNS = ["detection_id", "left", "right", "top", "bottom", "cluster_id", "path", "hash",
               "dataset", "location", "dataset_class", "confidence", "label"]
MIN_AREA = 0.005


@dataclass
class TrainingDataOptions:
    min_area: float = MIN_AREA  # of the image, relative
    min_score: float | None = None  # the detector's confidence
    group_under: int = 0  # classes with fewer crops join their parent label (0: never)
    exclude_under: int = 0  # classes with fewer crops are left out (0: none)
    crop_size: int = CROP_SIZE

    @classmethod
    def from_dict(cls, values: dict) -> TrainingDataOptions:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known and v is not None})

    def as_dict(self) -> dict:
        return asdict(self)


def check_options(options: TrainingDataOptions) -> None:
    """Raise ExportError naming the option to fix."""
    if not 0 <= options.min_area < 1:
        raise ExportError(f"--min-area {options.min_area}: give a fraction of the image, "
                          "0 to under 1 (default 0.005).")
    if options.min_score is not None and not 0 <= options.min_score <= 1:
        raise ExportError(f"--min-score {options.min_score}: give a confidence from 0 to 1.")
    if options.group_under < 0 or options.exclude_under < 0:
        raise ExportError("--group-under and --exclude-under are counts of crops (0 or more).")
    if not 16 <= options.crop_size <= 1024:
        raise ExportError(f"--crop-size {options.crop_size}: give 16 to 1024 pixels.")


def _boxes(task: Task, options: TrainingDataOptions):
    """Pages of (species label, [box row]) of the task's single-species clusters.

    A box row: (id, left, top, right, bottom, score, image id, cluster id, image key,
    image hash, site name). Three queries a page of clusters.
    """
    facts = label_facts(task)
    relevant = relevant_detections(task.survey).filter(
        category=Category.ANIMAL, box_area__gte=options.min_area).exclude(image__key="")
    if options.min_score is not None:
        relevant = relevant.filter(score__gte=options.min_score)
    labelled = ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
    for page in pages_by_pk(labelled, ("pk", "cluster_id")):
        labels = labels_by_annotation([pk for pk, _cluster in page], facts)
        species = {}
        for pk, cluster_id in page:
            own = labels.get(pk, [])
            if len(own) == 1 and not own[0][1]:  # one label, not a special one
                species[cluster_id] = own[0][0]
        if not species:
            continue
        rows = (relevant.filter(image__cluster_id__in=list(species))
                .order_by("image_id", "pk")
                .values_list("pk", "left", "top", "right", "bottom", "score", "image_id",
                             "image__cluster_id", "image__key", "image__content_hash",
                             "image__camera__site__name"))
        by_label = defaultdict(list)
        for row in rows:
            by_label[species[row[7]]].append(row)
        yield from by_label.items()


def label_counts(tasks: list[Task], options: TrainingDataOptions
                 ) -> tuple[dict[tuple[str, str], int], dict[str, str]]:
    """Crops per (dataset, label) and each label's parent label, without making crops."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    parents: dict[str, str] = {}
    for task in tasks:
        for label, rows in _boxes(task, options):
            counts[(task.survey.name, label)] += len(rows)
        parents.update(Label.objects.filter(task=task, parent__isnull=False)
                       .values_list("name", "parent__name"))
    return dict(counts), parents


def preview(tasks: list[Task], options: TrainingDataOptions) -> Translation:
    """The label translation the export would apply, with its counts (nothing written)."""
    check_options(options)
    counts, parents = label_counts(tasks, options)
    return translate(counts, parents, group_under=options.group_under,
                     exclude_under=options.exclude_under)


class _CropStore:
    """A survey's crops: in the output folder, in storage, or still to be made."""

    def __init__(self, survey, out: Path):
        self.prefix = f"crops/{survey.organisation_id}/{survey.pk}/"
        self.relative = f"crops/{survey.pk}"
        self.folder = out / self.relative
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self.stored = set(default_storage.listdir(self.prefix)[1])
        except (FileNotFoundError, NotADirectoryError):
            self.stored = set()
        self.made = self.reused = self.unreadable = 0

    def ensure(self, key: str, boxes: list[tuple[str, tuple]], size: int) -> bool:
        """Make the image's crops that are in neither place; False if it cannot be read."""
        missing = []
        for name, box in boxes:
            if (self.folder / name).exists():
                self.reused += 1
            elif name in self.stored:
                with default_storage.open(self.prefix + name, "rb") as fh:
                    self._write(name, fh.read())
                self.reused += 1
            else:
                missing.append((name, box))
        if not missing:
            return True
        try:
            with default_storage.open(key, "rb") as fh:
                data = fh.read()
            crops = crops_of_image(data, [box for _name, box in missing], size)
        except (OSError, ValueError):
            self.unreadable += 1
            return False
        for (name, _box), crop in zip(missing, crops, strict=True):
            self._write(name, crop)
            default_storage.save(self.prefix + name, ContentFile(crop))
            self.stored.add(name)
        self.made += len(missing)
        return True


    def _write(self, name: str, data: bytes) -> None:
        """Write whole or not at all: a crop found in the folder is taken as finished."""
        part = self.folder / f"{name}.part"
        part.write_bytes(data)
        os.replace(part, self.folder / name)


def _write_task(task, translation, options, out: Path, writer, step) -> _CropStore:
    dataset = task.survey.name
    store = _CropStore(task.survey, out)
    for label, rows in _boxes(task, options):
        new = translation.mapping.get((dataset, label))
        if new is None:
            continue
        by_image = defaultdict(list)
        for row in rows:
            by_image[(row[6], row[8])].append(row)
        for (_image_id, key), boxes in by_image.items():
            named = [(crop_name(r[0], r[1:5], options.crop_size), r[1:5]) for r in boxes]
            if store.ensure(key, named, options.crop_size):
                for (name, _box), (pk, left, top, right, bottom, score, _image, cluster,
                                   _key, content_hash, site) in zip(named, boxes, strict=True):
                    writer.writerow([pk, round(left, 6), round(right, 6), round(top, 6),
                                     round(bottom, 6), cluster, f"{store.relative}/{name}",
                                     content_hash, safe_cell(dataset), safe_cell(site),
                                     safe_cell(label), round(score, 4), safe_cell(new)])
            step(len(boxes))
    return store


def export_training_data(tasks: list[Task], out: Path, options: TrainingDataOptions | None
                         = None, *, progress: Progress = ignore_progress) -> dict:
    """Write the tasks' training data into the folder ``out`` (created); return counts.

    ``tasks``: at most one per survey, already checked for access (see
    selectors.training_tasks). Raises ExportError for bad options or when no box
    qualifies. An image whose file cannot be read is skipped (counted).
    """
    options = options or TrainingDataOptions()
    translation = preview(tasks, options)
    total = sum(translation.counts.values())
    if not total:
        raise ExportError("No box qualifies: the tasks have no single-species clusters with "
                          "relevant animal boxes of the minimum area (or every label was "
                          "excluded). Check --min-area, --min-score and --exclude-under.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "classification_ds").mkdir(exist_ok=True)
    done = [0]

    def step(n: int) -> None:
        done[0] += n
        progress(done[0], total)

    stores = []
    with (out / "classification_ds" / "classification_ds.csv").open(
            "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for task in tasks:
            stores.append(_write_task(task, translation, options, out, writer, step))
    (out / "label_spec.json").write_text(json.dumps(translation.spec(), indent=1,
                                                    ensure_ascii=False), encoding="utf-8")
    (out / "label_index.json").write_text(json.dumps(translation.index(), indent=1,
                                                     ensure_ascii=False), encoding="utf-8")
    return {"crops": sum(s.made + s.reused for s in stores),
            "made": sum(s.made for s in stores), "reused": sum(s.reused for s in stores),
            "unreadable_images": sum(s.unreadable for s in stores),
            "classes": len(translation.counts), "translation": translation}
