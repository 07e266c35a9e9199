"""A small survey built by hand for the insights tests (sites, cameras, clusters, labels)."""

import sys
from datetime import UTC, datetime, timedelta

from accounts.taxonomy import Role
from annotation.models import ClusterAnnotation, Label
from annotation.services.common import ensure_special_labels
from annotation.services.task_setup import do_create_task
from annotation.taxonomy import SPECIAL_LABELS
from classifiers.models import Detection
from surveys.models import Camera, Cluster, Image, Site
from tests.factories import OrganisationFactory, SurveyFactory, member

T0 = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 10:00 in Nairobi (UTC+3)


class SurveyBuilder:
    def __init__(self, tz="UTC", organisation=None, labels=(("Zebra", "z"), ("Lion", "l"))):
        org = organisation or OrganisationFactory()
        self.survey = SurveyFactory(organisation=org, timezone=tz)
        self.admin = member(org, Role.ADMIN)
        self.task = do_create_task(self.survey, name="Species", labels=list(labels),
                                   acting_user=self.admin)
        ensure_special_labels()
        self.sites: dict[str, Site] = {}
        self.cameras: dict[tuple[str, str], Camera] = {}
        self.n = 0

    def site(self, name, lat=None, lon=None) -> Site:
        if name not in self.sites:
            self.sites[name] = Site.objects.create(survey=self.survey, name=name,
                                                   latitude=lat, longitude=lon)
        return self.sites[name]

    def camera(self, site, path="CAM1") -> Camera:
        key = (site, path)
        if key not in self.cameras:
            self.cameras[key] = Camera.objects.create(site=self.site(site),
                                                      path=f"{site}/{path}")
        return self.cameras[key]

    def image(self, site, when, *, camera="CAM1", cluster=None, animal=True,
              detected=True) -> Image:
        self.n += 1
        image = Image.objects.create(
            camera=self.camera(site, camera), cluster=cluster, filename=f"IMG_{self.n:05}.JPG",
            key=f"surveys/{self.survey.pk}/IMG_{self.n}", content_hash=f"{self.n:064x}",
            timestamp=when, corrected_timestamp=when, detected=detected)
        if animal:
            Detection.objects.create(image=image, left=0.1, top=0.1, right=0.4, bottom=0.4,
                                     score=0.9, source="test")
        return image

    def cluster(self, site, when, label=None, *, suggestion="", score=None, camera="CAM1",
                animal=True) -> Cluster:
        """A one-image cluster at ``when`` (UTC), labelled ``label`` by a person if given."""
        cluster = Cluster.objects.create(survey=self.survey, site=self.site(site), start=when,
                                         end=when, image_count=1, suggestion=suggestion,
                                         suggestion_score=score)
        self.image(site, when, camera=camera, cluster=cluster, animal=animal)
        if label is not None:
            annotation = ClusterAnnotation.objects.create(
                task=self.task, cluster=cluster, annotator=self.admin, labelled_at=when)
            found = Label.objects.get(task=None if label == "Nothing" else self.task,
                                      name=label)
            annotation.labels.add(found)
        return cluster

    def minutes(self, site, label, *offsets, **kwargs):
        return [self.cluster(site, T0 + timedelta(minutes=m), label, **kwargs) for m in offsets]

    def label(self, cluster, *names, by=None, at=None, seconds=None) -> ClusterAnnotation:
        """``cluster`` in the task, labelled ``names`` by ``by`` at ``at`` (none: not yet)."""
        annotation = ClusterAnnotation.objects.create(
            task=self.task, cluster=cluster, annotator=by, labelled_at=at, seconds_spent=seconds)
        special = {name for name, _key, _exclusive in SPECIAL_LABELS}
        annotation.labels.add(*[
            Label.objects.get(task=None if name in special else self.task, name=name)
            for name in names])
        return annotation


def block_matplotlib(monkeypatch) -> None:
    """From here on (to the test's end) importing matplotlib fails: whatever draws without
    an ImportError never used it."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
