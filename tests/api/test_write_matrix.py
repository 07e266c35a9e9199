"""Every write of the REST API, with every role, against the capability matrix.

The endpoints come from the API's own schema, so a new POST/PUT/PATCH/DELETE is walked
without editing this file: who may write is accounts.taxonomy's CHANGE capability
(admin and write roles, and site staff); everyone else is refused (403, or 404/400 when
the object or organisation named is not theirs to see) and nothing changes.
"""

import re

import pytest
from django.apps import apps
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.services.api_tokens import do_create_api_token
from accounts.taxonomy import CAPABILITY_ROLES, Capability, Role
from results.models import Export
from surveys.models import Survey
from surveys.taxonomy import SurveyStatus
from tests.accounts.test_admin_scoping import make_world
from tests.factories import OrganisationFactory, UserFactory, member
from traptagger.api import router

pytestmark = [pytest.mark.django_db, pytest.mark.hostile]

WRITE_METHODS = ("post", "put", "patch", "delete")
# Bodies that succeed for someone allowed; an endpoint not listed is sent {} (an allowed
# caller then gets past the access check: anything but 401/403/404).
BODIES = {
    ("post", "/api/surveys/"): lambda w: {"organisation": w[Survey].organisation_id,
                                          "name": "Made by API"},
    ("post", "/api/surveys/{id}/imports/"): lambda w: {"source": "season"},
    ("post", "/api/exports/"): lambda w: {"survey": w[Survey].pk, "kind": "coco"},
}
# Who holds CHANGE on organisation A (the matrix), and who does not.
ROLES = ["admin", "write", "read", "annotator", "staff", "non-member", "other organisation"]


def allowed(role: str) -> bool:
    if role in Role.values:
        return Role(role) in CAPABILITY_ROLES[Capability.CHANGE]
    return role == "staff"


def write_operations() -> list[tuple[str, str]]:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return sorted((method, path) for path, ops in paths.items() for method in ops
                  if method in WRITE_METHODS)


def concrete(path: str, world: dict) -> str:
    """The path with its {id} set to organisation A's object of that endpoint."""
    prefix = path.split("/")[2]
    viewset = next(vs for p, vs, _ in router.registry if p == prefix)
    return re.sub(r"\{[^}]+\}", str(world[viewset.model].pk), path)


def user_for(role: str, org_a, org_b):
    if role in Role.values:
        return member(org_a, role, username=f"as-{role}")
    if role == "staff":
        return UserFactory(username="staff", is_superuser=True, is_staff=True)
    if role == "other organisation":
        return member(org_b, Role.ADMIN, username="other-admin")
    return UserFactory(username="stranger")


def row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()
            if m._meta.app_label in {"surveys", "annotation", "results", "training",
                                       "classifiers"}}


def test_the_schema_lists_every_write():
    """The walk below sees the API's writes (guards against an empty walk)."""
    found = write_operations()
    assert ("post", "/api/exports/") in found and len(found) >= 4, found


@pytest.mark.parametrize("role", ROLES)
def test_every_write_endpoint_follows_the_capability_matrix(role, settings, tmp_path):
    org_a, org_b = OrganisationFactory(name="Org A"), OrganisationFactory(name="Org B")
    world, _other = make_world(org_a, "A"), make_world(org_b, "B")
    Survey.objects.filter(pk=world[Survey].pk).update(status=SurveyStatus.READY)
    settings.IMPORT_ROOT = str(tmp_path)
    (tmp_path / str(org_a.pk) / "season").mkdir(parents=True)
    user = user_for(role, org_a, org_b)
    _token, key = do_create_api_token(user, "matrix", acting_user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    wrong = []
    for method, path in write_operations():
        body = BODIES.get((method, path), lambda w: {})(world)
        url = concrete(path, world)
        with transaction.atomic():  # each write starts from the same world
            before = row_counts()
            response = getattr(client, method)(url, body, format="json")
            changed = row_counts() != before
            transaction.set_rollback(True)
        code = response.status_code
        if allowed(role):
            ok = (200 <= code < 300) if (method, path) in BODIES else code not in (401, 403, 404)
        elif role in ("read", "annotator"):  # a member of the organisation: told why
            ok = code == 403 and not changed
        else:  # the organisation is not theirs: as if it did not exist, or refused
            ok = code in (400, 403, 404) and not changed
        if not ok:
            wrong.append(f"{method.upper()} {url}: {code} {response.content[:200]!r}"
                         f"{' (rows changed)' if changed else ''}")
    assert not wrong, f"{role}: " + "; ".join(wrong)


def test_a_read_member_is_told_which_role_writes_need():
    org = OrganisationFactory()
    survey = make_world(org, "A")[Survey]
    reader = member(org, Role.READ, username="reader")
    _token, key = do_create_api_token(reader, "r", acting_user=reader)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post("/api/exports/", {"survey": survey.pk, "kind": "coco"},
                           format="json")
    assert response.status_code == 403
    assert "write" in response.json()["detail"] and "admin" in response.json()["detail"]
    assert not Export.objects.filter(created_by=reader).exists()
