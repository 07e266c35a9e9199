from datetime import UTC, datetime, timedelta

import pytest

from surveys.models import Cluster, Image
from surveys.services.clustering import do_cluster_survey, split_into_clusters
from tests.factories import CameraFactory, ImageFactory, SiteFactory

T0 = datetime(2024, 1, 1, 6, 0, 0, tzinfo=UTC)


def rows(*offsets):
    return [(i, None if o is None else T0 + timedelta(seconds=o), f"IMG_{i:03d}.JPG")
            for i, o in enumerate(offsets)]


def ids(groups):
    return [[r[0] for r in g] for g in groups]


def test_new_cluster_after_gap_over_60_seconds():
    assert ids(split_into_clusters(rows(0, 30, 90, 151, 212))) == [[0, 1, 2], [3], [4]]
    assert ids(split_into_clusters(rows(0, 60, 120))) == [[0, 1, 2]]  # exactly 60 s stays


def test_cluster_is_cut_after_15_minutes():
    offsets = list(range(0, 20 * 60, 50))  # a camera firing every 50 s for 20 min
    groups = split_into_clusters(rows(*offsets))
    assert len(groups) == 2
    assert all(g[-1][1] - g[0][1] <= timedelta(minutes=15) for g in groups)


def test_untimestamped_images_get_a_cluster_each_and_order_is_by_time_then_name():
    groups = split_into_clusters(rows(30, None, 0, None))
    assert ids(groups) == [[2, 0], [1], [3]]


@pytest.mark.django_db
def test_cluster_survey_per_site_and_second_run_changes_nothing():
    site_a, site_b = SiteFactory(name="A"), None
    site_b = SiteFactory(name="B", survey=site_a.survey)
    cam_a1 = CameraFactory(site=site_a, path="A/1")
    cam_a2 = CameraFactory(site=site_a, path="A/2")
    cam_b = CameraFactory(site=site_b, path="B/1")
    for cam, offsets in ((cam_a1, (0, 2, 4)), (cam_a2, (30, 500)), (cam_b, (1, 3))):
        for o in offsets:
            ts = T0 + timedelta(seconds=o)
            ImageFactory(camera=cam, timestamp=ts, corrected_timestamp=ts)
    survey = site_a.survey
    assert do_cluster_survey(survey) == 3  # A: [0,2,4,30] and [500]; B: [1,3]
    sizes = sorted(Cluster.objects.filter(survey=survey).values_list("site__name", "image_count"))
    assert sizes == [("A", 1), ("A", 4), ("B", 2)]
    assert not Image.objects.filter(cluster__isnull=True).exists()
    # Site A's first cluster spans both cameras.
    big = Cluster.objects.get(site=site_a, image_count=4)
    assert {i.camera_id for i in big.images.all()} == {cam_a1.pk, cam_a2.pk}
    survey.refresh_from_db()
    assert survey.cluster_count == 3
    assert do_cluster_survey(survey) == 0
    assert Cluster.objects.filter(survey=survey).count() == 3
