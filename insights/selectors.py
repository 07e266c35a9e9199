"""Reads of the insights app, through the access gateway."""

from accounts.taxonomy import Capability
from surveys.models import Survey


def survey_for_insights(user, survey_id) -> Survey | None:
    """The survey if ``user`` may view its organisation's data (admin, write, read roles)."""
    return Survey.objects.accessible_to(user, Capability.VIEW).filter(pk=survey_id).first()
