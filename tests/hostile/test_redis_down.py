"""Redis down: log-in, the API and plots run without the cache; the rest is a 503 page."""

import pytest
from rest_framework.test import APIClient

import core.cache
from accounts.services.api_tokens import do_create_api_token
from accounts.taxonomy import Role
from tests.conftest import free_port
from tests.factories import OrganisationFactory, SurveyFactory, member

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]


@pytest.fixture
def redis_down(settings, monkeypatch):
    """The cache on a Redis address where nothing listens (as when Redis is stopped)."""
    url = f"redis://127.0.0.1:{free_port()}/14"
    settings.CACHES = {"default": {"BACKEND": "core.cache.ResilientRedisCache",
                                   "LOCATION": url,
                                   "OPTIONS": {"socket_connect_timeout": 1}}}
    monkeypatch.setattr(core.cache, "_down_until", 0.0)
    settings.TEST_DEAD_REDIS_URL = url
    return url


@pytest.mark.parametrize("form,field", [("/accounts/login/", "login"),
                                        ("/admin/login/", "username")])
def test_logging_in_works_while_redis_is_down(client, redis_down, form, field):
    member(OrganisationFactory(), Role.ADMIN, username="boss")
    response = client.post(form, {field: "boss", "password": "pass-word-123",
                                  "next": "/admin/"})
    assert response.status_code == 302, response.content[:500]
    assert "_auth_user_id" in client.session
    # A wrong password is still a wrong password (the lockout counts in the database).
    client.logout()
    wrong = client.post(form, {field: "boss", "password": "nope", "next": "/admin/"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session


def test_the_api_and_its_rate_limit_run_without_the_cache(redis_down):
    org = OrganisationFactory()
    survey = SurveyFactory(organisation=org)
    user = member(org, Role.READ)
    _token, key = do_create_api_token(user, "script", acting_user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    for _ in range(3):  # the first call finds Redis down, the next skip it for a while
        response = client.get("/api/surveys/")
        assert response.status_code == 200, response.content[:300]
    assert [row["id"] for row in response.json()["results"]] == [survey.pk]


def test_the_health_check_still_says_the_cache_is_down(client, redis_down):
    report = client.get("/healthz")
    assert report.status_code == 503 and report.json()["checks"]["cache"] != "ok"


def test_a_page_that_cannot_run_without_redis_is_a_503_page(client, redis_down, settings):
    settings.ROOT_URLCONF = "tests.hostile.redis_down_urls"
    client.raise_request_exception = False
    response = client.get("/needs-redis/")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "Try again in a minute" in response.content.decode()
