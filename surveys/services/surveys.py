"""Creating and changing surveys."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from accounts.access import check_capability
from accounts.taxonomy import Capability

from ..exceptions import SurveyError
from ..models import Site, Survey


def check_survey(survey: Survey) -> None:
    """Raise SurveyError naming the field when ``survey``'s settings are not valid.

    A classifier or registered detector must be shared or belong to the
    survey's organisation.
    """
    try:
        survey.full_clean(exclude=["organisation", "created_by", "classifier",
                                   "registered_detector"])
    except ValidationError as exc:
        raise SurveyError("; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )) from exc
    classifier = survey.classifier
    if classifier is not None and classifier.organisation_id not in (
        None, survey.organisation_id
    ):
        raise SurveyError(f"The classifier “{classifier}” belongs to another organisation.")
    detector = survey.registered_detector
    if detector is not None and detector.organisation_id not in (None, survey.organisation_id):
        raise SurveyError(f"The detector “{detector}” belongs to another organisation.")


def do_save_survey(survey: Survey, *, acting_user=None) -> Survey:
    """Save a new or changed ``survey``.

    ``acting_user`` needs the CHANGE capability on the survey's organisation
    (AccessDenied); None means an operator at the command line. A new survey
    records who made it. Raises SurveyError for invalid settings.
    """
    if acting_user is not None:
        check_capability(acting_user, survey.organisation, Capability.CHANGE)
    check_survey(survey)
    if survey.pk is None:
        survey.created_by = acting_user
    survey.save()
    return survey


def do_get_or_create_survey(organisation, name: str, *, acting_user=None,
                            **settings) -> tuple[Survey, bool]:
    """The organisation's survey called ``name``, created if new, with ``settings`` applied.

    Settings that are None are left as they are. Returns (survey, created).
    """
    settings = {k: v for k, v in settings.items() if v is not None}
    survey = Survey.objects.filter(organisation=organisation, name=name).first()
    created = survey is None
    if created:
        survey = Survey(organisation=organisation, name=name)
    changed = [k for k, v in settings.items() if getattr(survey, k) != v]
    for key in changed:
        setattr(survey, key, settings[key])
    if created or changed:
        do_save_survey(survey, acting_user=acting_user)
    return survey, created


def do_place_site(site: Site, *, latitude: float, longitude: float,
                  altitude: float | None = None, acting_user=None) -> Site:
    """Set where ``site`` stands (WGS84 degrees; altitude in metres).

    Raises SurveyError naming the coordinate out of range; AccessDenied without
    the CHANGE capability (``acting_user`` None: an operator at the command line).
    """
    if acting_user is not None:
        check_capability(acting_user, site.survey.organisation, Capability.CHANGE)
    if not -90 <= latitude <= 90:
        raise SurveyError(f"Site “{site}”: latitude {latitude} is outside -90..90.")
    if not -180 <= longitude <= 180:
        raise SurveyError(f"Site “{site}”: longitude {longitude} is outside -180..180.")
    site.latitude, site.longitude, site.altitude = latitude, longitude, altitude
    site.save(update_fields=["latitude", "longitude", "altitude"])
    return site
