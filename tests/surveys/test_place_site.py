"""Setting where a site stands: ranges checked, only the organisation's admins may."""

import pytest

from accounts.taxonomy import Role
from core.exceptions import AccessDenied
from surveys.exceptions import SurveyError
from surveys.services.surveys import do_place_site
from tests.factories import OrganisationFactory, SiteFactory, member

pytestmark = pytest.mark.django_db


def test_place_site_checks_ranges_and_access():
    site = SiteFactory()
    admin = member(site.survey.organisation, Role.ADMIN)
    do_place_site(site, latitude=-2.5, longitude=34.9, acting_user=admin)
    site.refresh_from_db()
    assert (site.latitude, site.longitude) == (-2.5, 34.9)
    with pytest.raises(SurveyError, match="latitude 91 is outside"):
        do_place_site(site, latitude=91, longitude=0)
    with pytest.raises(SurveyError, match="longitude -181 is outside"):
        do_place_site(site, latitude=0, longitude=-181)
    outsider = member(OrganisationFactory(), Role.ADMIN)
    with pytest.raises(AccessDenied):
        do_place_site(site, latitude=1, longitude=1, acting_user=outsider)
    site.refresh_from_db()
    assert (site.latitude, site.longitude) == (-2.5, 34.9)
