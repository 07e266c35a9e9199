"""Admin → API tokens → Add: the page answers, and the key it shows once works."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.taxonomy import Role
from tests.factories import OrganisationFactory, SurveyFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.hostile]


def test_adding_a_token_in_the_admin_shows_a_key_that_authenticates(client):
    org = OrganisationFactory()
    survey = SurveyFactory(organisation=org)
    user = member(org, Role.WRITE, username="scripter")
    client.force_login(user)

    page = client.post("/admin/accounts/apitoken/add/", {"name": "nightly export"},
                       follow=True)
    assert page.status_code == 200
    keys = re.findall(r"tt_[A-Za-z0-9_-]{20,}", page.content.decode())
    assert len(keys) == 1, "the new key is shown once"
    token = ApiToken.objects.get(user=user)
    assert token.name == "nightly export"
    assert str(token) == "nightly export (scripter)"
    # The admin's history names the token (log_addition needs its user).
    assert LogEntry.objects.get(object_id=str(token.pk)).object_repr == str(token)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {keys[0]}")
    listed = api.get("/api/surveys/")
    assert listed.status_code == 200, listed.content
    assert [row["id"] for row in listed.json()["results"]] == [survey.pk]
    # Shown once: the token's page never shows the key again.
    again = client.get("/admin/accounts/apitoken/").content.decode()
    assert keys[0] not in again and "nightly export" in again
