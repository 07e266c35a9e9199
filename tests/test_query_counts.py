"""Pages and payloads make the same number of queries for few rows and many (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.taxonomy import Role
from annotation.selectors import cluster_payload
from annotation.services.leases import claim_next_cluster
from classifiers.models import Detection
from surveys.models import Image
from tests.annotation.helpers import annotator_for, launched_task
from tests.factories import ImageFactory, OrganisationFactory, SurveyFactory, member

pytestmark = pytest.mark.django_db


def count_queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/admin/surveys/survey/", "/admin/surveys/image/",
                                 "/admin/annotation/task/"])
def test_admin_changelists_do_not_grow_with_rows(client, url):
    org = OrganisationFactory()
    client.force_login(member(org, Role.ADMIN))

    def add(n):
        for _ in range(n):
            survey = SurveyFactory(organisation=org)
            ImageFactory(camera__site__survey=survey)
            from tests.factories import TaskFactory

            TaskFactory(survey=survey)

    def page():
        response = client.get(url)
        assert response.status_code == 200
        return response.context["cl"].result_count

    add(2)
    few = count_queries(page)
    add(20)
    many = count_queries(page)
    assert many == few
    assert page() >= 22


def test_cluster_payload_queries_do_not_grow_with_images():
    task = launched_task(2)
    user = annotator_for(task)
    first = claim_next_cluster(task, user)
    cluster = first.cluster
    # One box already (with none, the box query is known empty and never sent).
    Detection.objects.create(image=Image.objects.filter(cluster=cluster).first(), left=0, top=0,
                             right=0.5, bottom=0.5, score=0.9, source="whole")
    few = count_queries(lambda: cluster_payload(first))
    for _ in range(12):
        image = ImageFactory(camera=Image.objects.filter(cluster=cluster).first().camera,
                             cluster=cluster)
        Detection.objects.create(image=image, left=0, top=0, right=0.5, bottom=0.5, score=0.9,
                                 source="whole")
    payload_many = []
    many = count_queries(lambda: payload_many.append(cluster_payload(first)))
    assert many == few
    assert len(payload_many[0]["images"]) == 13
