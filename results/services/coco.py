"""COCO Camera Traps export: the images of a task's labelled clusters and their labels.

* images: ``file_name`` (camera folder / file), ``width``/``height``, ``location``
  (the site), ``datetime`` (corrected, the survey's time zone), ``seq_id`` (the
  cluster), ``seq_num_frames`` and ``frame_num`` (0-based, in time order).
* categories: 0 is ``empty`` (the Nothing label); then the task's labels by name.
* annotations: a single-species cluster gives one annotation per relevant animal box
  (``classifiers.selectors.relevance``) with its ``bbox`` in pixels ``[x, y, width,
  height]``, top-left origin; an image without boxes, a multi-species cluster or a
  special label gives an image-level annotation (``sequence_level_annotation``: true)
  per label.

Written as it is read, a page of clusters at a time; the annotations go through a
temporary file so that they follow the images, as the format lists them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.db.models import Q

from annotation.models import ClusterAnnotation, Label, Task
from classifiers.selectors import relevance_of
from classifiers.taxonomy import Category
from core.paging import pages_by_pk

from ..selectors import task_for
from .results import boxes_of, images_of

EMPTY = "empty"


def _categories(task: Task) -> dict[int, tuple[int, str, bool]]:
    """Label id → (category id, name, special): Nothing is 0 ``empty``, the rest 1.. by name."""
    labels = (Label.objects.filter(Q(task=task) | Q(task__isnull=True)).order_by("name", "id")
              .values_list("pk", "name", "task_id"))
    categories, next_id = {}, 1
    for pk, name, task_id in labels:
        if task_id is None and name == "Nothing":
            categories[pk] = (0, EMPTY, True)
        else:
            categories[pk] = (next_id, name, task_id is None)
            next_id += 1
    return categories


def _annotate(later, counts, image_id, drawn, width, height, species, found) -> None:
    """An image's annotations: its boxes in pixels, or else its cluster's labels."""
    for box_id, _category, left, top, right, bottom, _score, _guess in drawn:
        bbox = [round(left * width, 1), round(top * height, 1),
                round((right - left) * width, 1), round((bottom - top) * height, 1)]
        later.write(json.dumps({"id": f"d{box_id}", "image_id": str(image_id),
                                "category_id": species[0][0], "bbox": bbox,
                                "sequence_level_annotation": False}) + "\n")
        counts["boxes"] += 1
    if not drawn:
        for category_id, _name, _special in found:
            later.write(json.dumps({"id": f"i{image_id}-{category_id}",
                                    "image_id": str(image_id), "category_id": category_id,
                                    "sequence_level_annotation": True}) + "\n")
            counts["annotations"] += 1


def write_coco(task: Task, out) -> dict:
    """Write the task's labelled clusters to ``out`` (a text file); return the counts."""
    tz = ZoneInfo(task.survey.timezone)
    categories = _categories(task)
    through = ClusterAnnotation.labels.through
    info = {"version": "1.0", "description": f"{task.survey} / {task.name}",
            "contributor": task.survey.organisation.name,
            "date_created": datetime.now(UTC).date().isoformat()}
    out.write('{"info": ' + json.dumps(info, ensure_ascii=False) + ',\n"categories": ')
    out.write(json.dumps(sorted(({"id": i, "name": n} for i, n, _s in categories.values()),
                                key=lambda c: c["id"]), ensure_ascii=False))
    out.write(',\n"images": [')
    counts = {"images": 0, "annotations": 0, "boxes": 0}
    relevant = relevance_of(task.survey)  # once for the export, not per page
    with tempfile.TemporaryFile("w+", encoding="utf-8") as later:
        annotations = ClusterAnnotation.objects.filter(task=task, labelled_at__isnull=False)
        for page in pages_by_pk(annotations, ("pk", "cluster_id", "cluster__site__name")):
            cluster_ids = [row[1] for row in page]
            images, boxes = images_of(cluster_ids), boxes_of(cluster_ids, relevant)
            labels = defaultdict(list)
            for annotation_id, label_id in through.objects.filter(
                    clusterannotation_id__in=[row[0] for row in page]).values_list(
                    "clusterannotation_id", "label_id"):
                labels[annotation_id].append(categories[label_id])
            for annotation_id, cluster_id, site in page:
                found = sorted(labels[annotation_id])
                # Boxes carry the label only when the cluster has one species label.
                species = [c for c in found if not c[2]] if len(found) == 1 else []
                frames = images[cluster_id]
                for frame, (pk, folder, filename, taken, _original, width, height) in \
                        enumerate(frames):
                    image = {"id": str(pk), "file_name": f"{folder}/{filename}" if folder
                             else filename, "location": site, "seq_id": str(cluster_id),
                             "seq_num_frames": len(frames), "frame_num": frame}
                    if width and height:
                        image.update(width=width, height=height)
                    if taken:
                        image["datetime"] = taken.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
                    out.write(("," if counts["images"] else "") + "\n"
                              + json.dumps(image, ensure_ascii=False))
                    counts["images"] += 1
                    drawn = [box for box in boxes.get(pk, ()) if box[1] == Category.ANIMAL] \
                        if species and width and height else []
                    _annotate(later, counts, pk, drawn, width, height, species, found)
        counts["annotations"] += counts["boxes"]
        out.write('],\n"annotations": [')
        later.seek(0)
        first = True
        for line in later:
            out.write(("" if first else ",") + "\n" + line.rstrip("\n"))
            first = False
    out.write("]}\n")
    return counts


def export_coco(survey, path, *, task_id: int | None = None) -> dict:
    """Write the survey's task (default: its latest) as COCO Camera Traps to ``path``."""
    task = task_for(survey, task_id)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as out:
        counts = write_coco(task, out)
    shutil.move(tmp, path)
    return {"task": task, **counts}
