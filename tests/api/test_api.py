"""The REST API: tokens, organisation scoping of every endpoint, pages, limits, imports."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services.api_tokens import do_create_api_token, do_revoke_api_tokens
from accounts.taxonomy import Role
from annotation.models import ClusterAnnotation, Label, Task
from classifiers.models import Detection
from results.models import Export
from surveys.models import Camera, Cluster, Image, ImportRun, Site, Survey
from tests.accounts.test_admin_scoping import make_world
from tests.factories import ImageFactory, OrganisationFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.hostile]

ENDPOINTS = {"surveys": Survey, "sites": Site, "cameras": Camera, "images": Image,
             "clusters": Cluster, "imports": ImportRun, "detections": Detection,
             "tasks": Task, "labels": Label, "annotations": ClusterAnnotation,
             "exports": Export}


def client_for(user):
    _token, key = do_create_api_token(user, "test", acting_user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def worlds():
    org_a, org_b = OrganisationFactory(name="Org A"), OrganisationFactory(name="Org B")
    a, b = make_world(org_a, "A"), make_world(org_b, "B")
    return a, b, member(org_a, Role.ADMIN, username="api-a")


def ids(client, prefix):
    response = client.get(f"/api/{prefix}/", {"page_size": 1000})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("prefix", sorted(ENDPOINTS))
def test_lists_and_details_show_only_own_organisation(worlds, prefix):
    a, b, user = worlds
    client = client_for(user)
    model = ENDPOINTS[prefix]
    seen = ids(client, prefix)
    assert a[model].pk in seen and b[model].pk not in seen
    assert client.get(f"/api/{prefix}/{a[model].pk}/").status_code == 200
    assert client.get(f"/api/{prefix}/{b[model].pk}/").status_code == 404


def test_writes_cannot_reach_another_organisation(worlds, settings, tmp_path):
    a, b, user = worlds
    settings.IMPORT_ROOT = str(tmp_path)
    (tmp_path / str(b[Survey].organisation_id) / "season").mkdir(parents=True)
    client = client_for(user)
    created = client.post("/api/surveys/", {"organisation": b[Survey].organisation_id,
                                            "name": "Sneaky"}, format="json")
    assert created.status_code == 400 and "organisation" in created.json()
    assert client.post(f"/api/surveys/{b[Survey].pk}/imports/", {"source": "season"},
                       format="json").status_code == 404
    assert client.post(f"/api/tasks/{b[Task].pk}/launch/").status_code == 404
    assert client.post("/api/exports/", {"survey": b[Survey].pk, "kind": "coco"},
                       format="json").status_code == 404
    assert client.post("/api/exports/", {"survey": a[Survey].pk, "task": b[Task].pk,
                                         "kind": "coco"}, format="json").status_code == 404
    assert not Survey.objects.filter(name="Sneaky").exists()
    assert not ImportRun.objects.filter(survey=b[Survey]).exclude(pk=b[ImportRun].pk).exists()
    assert Export.objects.filter(survey=b[Survey]).count() == 1  # the world's own


def test_a_read_role_member_cannot_create(worlds):
    a, _b, _user = worlds
    reader = member(a[Survey].organisation, Role.READ, username="reader")
    client = client_for(reader)
    assert a[Survey].pk in ids(client, "surveys")
    response = client.post("/api/surveys/", {"organisation": a[Survey].organisation_id,
                                             "name": "Mine"}, format="json")
    assert response.status_code == 403  # their role may not change anything
    assert "admin or write" in response.json()["detail"]
    export = client.post("/api/exports/", {"survey": a[Survey].pk, "kind": "coco"},
                         format="json")
    assert export.status_code == 403 and not Export.objects.filter(created_by=reader).exists()


def test_create_survey_and_request_export(worlds):
    a, _b, user = worlds
    client = client_for(user)
    response = client.post("/api/surveys/", {"organisation": a[Survey].organisation_id,
                                             "name": "Season 2", "timezone": "Africa/Nairobi"},
                           format="json")
    assert response.status_code == 201, response.content
    assert Survey.objects.get(pk=response.json()["id"]).created_by == user
    bad = client.post("/api/surveys/", {"organisation": a[Survey].organisation_id,
                                        "name": "Season 3", "timezone": "Mars/Olympus"},
                      format="json")
    assert bad.status_code == 400 and "time zone" in bad.content.decode()
    job = client.post("/api/exports/", {"survey": a[Survey].pk, "kind": "coco"}, format="json")
    assert job.status_code == 201 and job.json()["status"] == "pending"
    assert job.json()["download"] is None


def test_imports_only_from_the_organisations_area(worlds, settings, tmp_path):
    a, _b, user = worlds
    client = client_for(user)
    url = f"/api/surveys/{a[Survey].pk}/imports/"
    off = client.post(url, {"source": "season"}, format="json")
    assert off.status_code == 400 and "IMPORT_ROOT" in off.content.decode()
    settings.IMPORT_ROOT = str(tmp_path)
    area = tmp_path / str(a[Survey].organisation_id)
    (area / "season").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for hostile in ("../elsewhere", "/etc", "season/../../elsewhere"):
        response = client.post(url, {"source": hostile}, format="json")
        assert response.status_code == 400, hostile
    started = client.post(url, {"source": "season"}, format="json")
    assert started.status_code == 201, started.content
    assert started.json()["source"] == str((area / "season").resolve())


def test_tokens_revoked_or_wrong_are_refused(worlds):
    _a, _b, user = worlds
    token, key = do_create_api_token(user, "script", acting_user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/surveys/").status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    assert ApiToken.objects.get(pk=token.pk).key_hash != key  # only a hash is kept
    do_revoke_api_tokens(ApiToken.objects.filter(pk=token.pk), acting_user=user)
    assert client.get("/api/surveys/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token tt_not-a-key")
    assert client.get("/api/surveys/").status_code == 401
    assert APIClient().get("/api/surveys/").status_code in (401, 403)


def test_rate_limit_per_token(worlds, settings):
    _a, _b, user = worlds
    settings.API_RATE_LIMIT = "3/min"
    client, other = client_for(user), client_for(user)
    assert [client.get("/api/surveys/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert other.get("/api/surveys/").status_code == 200  # each token has its own budget


def test_list_queries_do_not_grow_with_rows_and_cursor_pages_cover_all(worlds):
    a, _b, user = worlds
    client = client_for(user)
    camera = a[Camera]

    def count(page_size):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/images/", {"page_size": page_size}).status_code == 200
        return len(ctx.captured_queries)

    client.get("/api/surveys/")  # the token's first use is noted once (a write)
    ImageFactory.create_batch(9, camera=camera)
    small = count(10)
    ImageFactory.create_batch(200, camera=camera)
    assert count(1000) == small
    seen, url = set(), "/api/images/?page_size=50"
    while url:
        page = client.get(url).json()
        seen |= {row["id"] for row in page["results"]}
        url = page["next"]
    assert len(seen) == Image.objects.filter(camera=camera).count() == 210


def test_schema_and_docs_are_served_without_fetching_anything():
    client = APIClient()
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/surveys/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page and "cdn" not in page.lower() and "https://" not in page
    # Every script is a file of the site: the Content-Security-Policy blocks inline ones.
    import re

    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all("src=" in attrs for attrs in scripts)
    init = re.search(r'<script src="([^"]*script=[^"]*)"', page)
    assert init and client.get(init.group(1).replace("&amp;", "&")).status_code == 200
