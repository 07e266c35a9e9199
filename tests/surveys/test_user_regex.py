"""Regexes users give: refused when set if they can backtrack catastrophically, bounded
when run (a stored one that takes too long is an issue for its files, not a stalled import)."""

import random
import time
from datetime import datetime

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts.services.api_tokens import do_create_api_token
from core.user_regex import UserRegexError, check_user_regex
from surveys.exceptions import SurveyError
from surveys.models import Image, ImportRun, Survey
from surveys.services.importing import do_run_import, do_start_import
from surveys.services.surveys import do_save_survey
from surveys.taxonomy import ImportStatus
from tests.factories import OrganisationFactory, SurveyFactory, member
from training.synthetic import jpeg_bytes, scene

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]

# Each can take exponential time; the folder name 34 × "a" + "!" is the classic input.
HOSTILE = [r"^(a+)+$", r"^(a|a)*$", r"^(\w+\s?)*$", r"(a*)*b", r"^([^/]+/?)+$",
           r"(a|ab)*c", r"(?:(a+)|b)+$", r"(x+x+)+y", r"^(\d+|\w+)*$", r"((a+)b?)+$",
           r"(.*a){12}"]
FINE = [r"^[^/]+", r"^([^/]+/){2}", r"^(\w+/)*", r"(\d{1,3}\.)+", r"Site\d+", r"(ab+)+",
        r"^(?:[A-Z]+_)?\d+", r"^(?:/\w+)*$", r"[^/]+(?=/)", r"^(a|b)*$", r"Kopje|River\w+"]


def photo(n: int) -> bytes:
    img, _ = scene(random.Random(n), "Zebra", 160, 120)
    return jpeg_bytes(img, datetime(2024, 5, 1, 8, 0, n))


@pytest.mark.parametrize("pattern", HOSTILE)
def test_hostile_patterns_are_refused_naming_the_field(pattern):
    with pytest.raises(UserRegexError, match="The camera regex .* exponential time .* rewrite"):
        check_user_regex(pattern, field="camera regex")


@pytest.mark.parametrize("pattern", FINE)
def test_ordinary_patterns_pass(pattern):
    check_user_regex(pattern, field="site regex")


def test_length_limit_is_a_setting_named_in_the_refusal(settings):
    settings.USER_REGEX_MAX_LENGTH = 20
    with pytest.raises(UserRegexError, match="over the limit of 20 .USER_REGEX_MAX_LENGTH."):
        check_user_regex("Site" + r"\d" * 10, field="site regex")
    check_user_regex(r"Site\d+", field="site regex")


def test_every_entry_point_refuses_a_hostile_regex(tmp_path):
    org = OrganisationFactory()
    user = member(org)
    # The model (and so every ModelForm): both regex fields.
    survey = SurveyFactory(organisation=org)
    for field in ("site_regex", "camera_regex"):
        setattr(survey, field, r"^(a+)+$")
        with pytest.raises(ValidationError) as caught:
            survey.full_clean()
        assert field in caught.value.message_dict
        assert "exponential time" in " ".join(caught.value.message_dict[field])
        setattr(survey, field, SurveyFactory.build().site_regex if field == "site_regex" else "")
    # The service every write goes through.
    survey.site_regex = r"^(\w+\s?)*$"
    with pytest.raises(SurveyError, match="site_regex: The site regex"):
        do_save_survey(survey, acting_user=user)
    # The admin's form.
    request = RequestFactory().get("/admin/")
    request.user = user
    form_class = admin.site._registry[Survey].get_form(request)
    form = form_class(data={"organisation": org.pk, "name": "S2", "site_regex": r"^(a|a)*$",
                            "timezone": "UTC", "detector": "motion", "ignore_top_strip": 0,
                            "static_min_count": 20, "static_iou": 0.9,
                            "static_max_area": 0.2})
    assert not form.is_valid() and "exponential time" in str(form.errors["site_regex"])
    # The API.
    _token, key = do_create_api_token(user, "t", acting_user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post("/api/surveys/", {"organisation": org.pk, "name": "S3",
                                             "site_regex": r"^(a+)+$"}, format="json")
    assert response.status_code == 400
    assert "site regex" in response.json()["site_regex"][0]
    # The command line, and starting an import of a survey whose regex is stored.
    (tmp_path / "src").mkdir()
    with pytest.raises(CommandError, match="exponential time"):
        call_command("import_survey", "--org", org.name, "--survey", "S4", "--source",
                     str(tmp_path / "src"), "--site-regex", r"^(a+)+$")
    Survey.objects.filter(pk=survey.pk).update(site_regex=r"^(a|a)*$")
    survey.refresh_from_db()
    with pytest.raises(SurveyError, match="Change the survey's site regex"):
        do_start_import(survey, str(tmp_path / "src"))


@pytest.mark.timeout(60)
def test_a_stored_hostile_regex_times_out_per_folder_and_the_rest_imports(tmp_path, settings):
    """A regex stored before the check existed: each folder it chokes on costs at most
    USER_REGEX_TIMEOUT_SECONDS once, its files become issues, the other folders import."""
    settings.USER_REGEX_TIMEOUT_SECONDS = 0.1
    src = tmp_path / "src"
    hostile = src / ("a" * 34 + "!")
    hostile.mkdir(parents=True)
    for n in range(5):
        (hostile / f"IMG_{n}.jpg").write_bytes(photo(n))
    (src / "Site1").mkdir()
    (src / "Site1" / "ok.jpg").write_bytes(photo(9))
    survey = SurveyFactory()
    run = ImportRun.objects.create(survey=survey, source=str(src))
    Survey.objects.filter(pk=survey.pk).update(site_regex=r"^(a|a)*$|^Site\d")
    started = time.monotonic()
    assert do_run_import(run) is True
    elapsed = time.monotonic() - started
    run.refresh_from_db()
    assert run.status == ImportStatus.DONE
    assert list(Image.objects.filter(camera__site__survey=survey)
                .values_list("filename", flat=True)) == ["ok.jpg"]
    reasons = list(run.issues.values_list("reason", flat=True))
    assert len(reasons) == 5
    assert all("USER_REGEX_TIMEOUT_SECONDS" in r for r in reasons)
    assert elapsed < 5  # one timeout for the folder, not one per file and not minutes
