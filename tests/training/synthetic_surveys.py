"""Generated camera-trap surveys with known species and boxes (training.synthetic scenes).

Each image is its own cluster with one animal box where the animal was drawn,
so a labelled survey is what annotators would leave after verifying, and an
unlabelled one is what the next season's import and detection would give.
"""

import random
from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from annotation.models import ClusterAnnotation, Label, Task
from classifiers.models import Detection
from classifiers.taxonomy import Category
from surveys.models import Camera, Cluster, Image, Site, Survey
from surveys.taxonomy import SurveyStatus
from training.synthetic import background, jpeg_bytes, scene

T0 = datetime(2024, 8, 1, 6, 0, tzinfo=UTC)


def _image(survey, site, n, species, rng, bases, width, height):
    """One stored JPEG of ``species`` at ``site`` in its own cluster, with its true box."""
    camera = Camera.objects.get_or_create(site=site, path=f"{site.name}/CAM1")[0]
    when = T0 + timedelta(hours=n)
    img, (x0, y0, x1, y1) = scene(rng, species, width, height, base=bases[site.name])
    key = default_storage.save(f"surveys/{survey.pk}/originals/{site.name}/IMG_{n:04d}.JPG",
                               ContentFile(jpeg_bytes(img, None)))
    cluster = Cluster.objects.create(survey=survey, site=site, start=when, end=when,
                                     image_count=1)
    image = Image.objects.create(camera=camera, cluster=cluster, filename=f"IMG_{n:04d}.JPG",
                                 key=key, content_hash=f"h{survey.pk}-{n}", width=width,
                                 height=height, corrected_timestamp=when, detected=True)
    box = dict(left=max(0.0, x0 / width), top=max(0.0, y0 / height),
               right=min(1.0, x1 / width), bottom=min(1.0, y1 / height))
    detection = Detection.objects.create(image=image, score=0.9, category=Category.ANIMAL,
                                         source="mdv5a", **box)
    return cluster, detection


def generated_survey(organisation, name, sites, per_site, species, *, seed, labelled,
                     width=320, height=240):
    """A ready survey of ``per_site`` images at each of ``sites``, species drawn at random.

    ``labelled``: also a task whose clusters carry the true species. Returns
    (survey, task or None, {detection id: true species}).
    """
    rng = random.Random(seed)
    survey = Survey.objects.create(organisation=organisation, name=name,
                                   status=SurveyStatus.READY)
    task = Task.objects.create(survey=survey, name="Species", status="launched") \
        if labelled else None
    labels = {s: Label.objects.create(task=task, name=s) for s in species} if labelled else {}
    bases = {site: background(rng, width, height) for site in sites}
    truth, n = {}, 0
    for site_name in sites:
        site = Site.objects.create(survey=survey, name=site_name)
        for _ in range(per_site):
            chosen = species[n % len(species)] if rng.random() < 0.5 else rng.choice(species)
            cluster, detection = _image(survey, site, n, chosen, rng, bases, width, height)
            truth[detection.pk] = chosen
            if labelled:
                annotation = ClusterAnnotation.objects.create(task=task, cluster=cluster,
                                                              labelled_at=timezone.now())
                annotation.labels.add(labels[chosen])
            n += 1
    return survey, task, truth
