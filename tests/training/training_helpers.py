"""A small hand-built labelled survey with real JPEGs in storage, for training-data tests."""

import io
from datetime import UTC, datetime

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from annotation.models import ClusterAnnotation, Label, Task
from classifiers.models import Detection
from classifiers.taxonomy import Category
from surveys.models import Camera, Cluster, Image, Site, Survey
from surveys.taxonomy import SurveyStatus

RED, BLUE = (220, 20, 20), (20, 20, 220)


def two_colour_jpeg(width=400, height=320) -> bytes:
    """Left half red, right half blue."""
    img = PILImage.new("RGB", (width, height), BLUE)
    img.paste(RED, (0, 0, width // 2, height))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def labelled_survey(organisation, name, plan, *, task_name="Species", parents=None):
    """A ready survey and a task; ``plan``: per one-image cluster, (site, [labels], [boxes]).

    A box is (left, top, right, bottom) or a dict of Detection fields. Labels named
    Nothing/Unknown are the special ones. ``parents``: label name -> parent label name.
    """
    survey = Survey.objects.create(organisation=organisation, name=name,
                                   status=SurveyStatus.READY)
    task = Task.objects.create(survey=survey, name=task_name, status="launched")
    labels = {}
    for special in ("Nothing", "Unknown"):
        labels[special] = Label.objects.get_or_create(task=None, parent=None, name=special)[0]
    for parent in (parents or {}).values():
        labels.setdefault(parent, Label.objects.create(task=task, name=parent))
    for child, parent in (parents or {}).items():
        labels[child] = Label.objects.create(task=task, name=child, parent=labels[parent])
    data = two_colour_jpeg()
    made = []
    for n, (site_name, names, boxes) in enumerate(plan):
        site = Site.objects.get_or_create(survey=survey, name=site_name)[0]
        camera = Camera.objects.get_or_create(site=site, path=f"{site_name}/CAM1")[0]
        when = datetime(2024, 1, 1, n, tzinfo=UTC)
        cluster = Cluster.objects.create(survey=survey, site=site, start=when, end=when,
                                         image_count=1)
        key = default_storage.save(f"surveys/{survey.pk}/originals/{site_name}/IMG_{n}.JPG",
                                   ContentFile(data))
        image = Image.objects.create(camera=camera, cluster=cluster, filename=f"IMG_{n}.JPG",
                                     key=key, content_hash=f"hash{survey.pk}-{n}", width=400,
                                     height=320, corrected_timestamp=when)
        detections = []
        for box in boxes:
            fields = box if isinstance(box, dict) else dict(zip(
                ("left", "top", "right", "bottom"), box, strict=True))
            fields = {"score": 0.9, "category": Category.ANIMAL, "source": "mdv5a", **fields}
            detections.append(Detection.objects.create(image=image, **fields))
        annotation = ClusterAnnotation.objects.create(task=task, cluster=cluster,
                                                      labelled_at=timezone.now())
        for label_name in names:
            if label_name not in labels:
                labels[label_name] = Label.objects.create(task=task, name=label_name)
            annotation.labels.add(labels[label_name])
        made.append((cluster, image, detections))
    return task, made
