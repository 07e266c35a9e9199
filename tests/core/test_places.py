"""ISO 3166 places from the packages that keep them (django-countries, pycountry): the site's
country and region, and the codes a range table may name."""

import pytest
from django.core.exceptions import ValidationError

from core.places import is_country, is_subdivision, place_problem, region_problem
from tests.factories import SiteFactory


def test_countries_and_subdivisions():
    assert is_country("KE") and is_country("US") and not is_country("XX")
    assert not is_country("ke")  # codes are compared upper case, as stored
    assert is_subdivision("US-CA") and is_subdivision("KE-30") and is_subdivision("GB-ENG")
    # Shaped like a subdivision but not one: the hand-written check let these through.
    assert not is_subdivision("US-ZZ") and not is_subdivision("XX-01")
    assert not is_subdivision("KE") and not is_subdivision("KE-")


@pytest.mark.parametrize("code, ok", [("KE", True), ("US-CA", True), ("XX", False),
                                      ("KE-", False), ("US-ZZ", False), ("", False)])
def test_place_problem_names_the_code(code, ok):
    problem = place_problem(code)
    assert (problem is None) == ok
    if not ok:
        assert repr(code) in problem and "ISO 3166" in problem


def test_region_must_be_a_subdivision_of_the_sites_country():
    assert region_problem("US-CA", "US") is None
    assert region_problem("US-CA", "") is None  # no country chosen: any real subdivision
    assert "not a subdivision of the site's country (KE)" in region_problem("US-CA", "KE")
    assert "like US-CA" in region_problem("California", "US")


@pytest.mark.django_db
def test_site_country_is_a_countries_field_with_names_and_checks():
    site = SiteFactory(country="KE", region="ke-30")
    site.full_clean()
    assert site.region == "KE-30"  # cleaned to upper case
    site.save()
    site.refresh_from_db()
    assert (site.country.code, site.country.name) == ("KE", "Kenya")
    site.country = "XX"
    with pytest.raises(ValidationError) as err:
        site.full_clean()
    assert "country" in err.value.message_dict
    site.country, site.region = "US", "KE-30"
    with pytest.raises(ValidationError) as err:
        site.full_clean()
    assert err.value.message_dict["region"] == [
        "'KE-30' is not a subdivision of the site's country (US)."]


@pytest.mark.django_db
def test_admin_offers_countries_and_refuses_a_made_up_region(client):
    from accounts.taxonomy import Role
    from tests.factories import member

    site = SiteFactory(country="KE")
    client.force_login(member(site.survey.organisation, Role.ADMIN))
    url = f"/admin/surveys/site/{site.pk}/change/"
    page = client.get(url).content.decode()
    assert '<option value="KE" selected>Kenya</option>' in page
    form = {"survey": site.survey_id, "name": site.name, "latitude": "", "longitude": "",
            "altitude": "", "country": "KE", "region": "KE-99"}
    refused = client.post(url, form)
    assert refused.status_code == 200
    assert "&#x27;KE-99&#x27; is not an ISO 3166-2 subdivision" in refused.content.decode()
    assert client.post(url, {**form, "region": "KE-30"}).status_code == 302
    site.refresh_from_db()
    assert site.region == "KE-30"
