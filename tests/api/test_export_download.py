"""The download link the API hands out works with the token that asked for it."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from accounts.services.api_tokens import do_create_api_token
from accounts.taxonomy import Role
from results.models import Export
from results.taxonomy import ExportKind, ExportStatus
from tests.factories import OrganisationFactory, SurveyFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.hostile]


def token_client(user) -> APIClient:
    _token, key = do_create_api_token(user, "script", acting_user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def finished_export():
    survey = SurveyFactory(organisation=OrganisationFactory(name="Org A"))
    key = default_storage.save(f"exports/{survey.organisation_id}/1/a.json",
                               ContentFile(b'{"images": []}'))
    return Export.objects.create(survey=survey, kind=ExportKind.COCO, status=ExportStatus.DONE,
                                 file_key=key, file_size=14)


def test_a_token_downloads_its_organisations_export_from_the_link_the_api_gives(
        finished_export):
    reader = member(finished_export.survey.organisation, Role.READ, username="reader")
    client = token_client(reader)
    link = client.get(f"/api/exports/{finished_export.pk}/").json()["download"]
    assert link
    response = client.get(link)
    assert response.status_code == 200, response.get("Location")
    assert b"".join(response.streaming_content) == b'{"images": []}'


def test_another_organisations_token_is_refused(finished_export):
    stranger = member(OrganisationFactory(name="Org B"), Role.ADMIN, username="b-admin")
    response = token_client(stranger).get(f"/exports/{finished_export.pk}/download/")
    assert response.status_code == 404


def test_a_wrong_token_is_told_so_not_sent_to_the_login_page(finished_export):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token tt_not-a-key")
    response = client.get(f"/exports/{finished_export.pk}/download/")
    assert response.status_code == 401 and "token" in response.json()["detail"].lower()
    # Without any credentials a browser still goes to the login page.
    anonymous = APIClient().get(f"/exports/{finished_export.pk}/download/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
