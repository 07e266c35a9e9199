"""Reads about surveys and images, scoped by the access gateway."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.taxonomy import Capability

from .exceptions import SurveyError
from .models import Image, ImportRun, Survey
from .taxonomy import ImportStatus


def survey_named(name: str, org: str | None = None) -> Survey:
    """The survey called ``name`` (in organisation ``org`` when given), for commands.

    Raises SurveyError naming what to give when there is none or more than one.
    """
    surveys = Survey.objects.filter(name=name).select_related("organisation")
    if org:
        surveys = surveys.filter(organisation__name__iexact=org)
    found = list(surveys[:2])
    if not found:
        raise SurveyError(f"There is no survey called {name!r}"
                          + (f" in organisation {org!r}." if org else "."))
    if len(found) > 1:
        raise SurveyError(f"Several organisations have a survey called {name!r}; give --org.")
    return found[0]


def survey_for(user, survey_id, capability: str = Capability.MEMBER) -> Survey | None:
    """The survey if ``user`` holds ``capability`` on it (any membership by default)."""
    return Survey.objects.accessible_to(user, capability).filter(pk=survey_id).first()


def image_for(user, image_id, capability: str = Capability.MEMBER) -> Image | None:
    """The image if ``user`` holds ``capability`` on the organisation that owns it."""
    return (
        Image.objects.accessible_to(user, capability)
        .filter(pk=image_id).select_related("camera__site").first()
    )


def image_file_key(image: Image, variant: str) -> str | None:
    """The storage key of the image's ``web`` copy or ``original``; None if unknown.

    A key outside the image's survey is never given out.
    """
    if variant not in ("web", "original"):
        return None
    key = image.web_key if variant == "web" and image.web_key else image.key
    if not key.startswith(f"surveys/{image.camera.site.survey_id}/"):
        return None
    return key



def stalled_since(heartbeat) -> timedelta | None:
    """How long a worker has been silent, when that is longer than the stale limit."""
    if heartbeat is None:
        return None
    silent = timezone.now() - heartbeat
    return silent if silent.total_seconds() > settings.PIPELINE_STALE_SECONDS else None


def import_run_state(run: ImportRun) -> str:
    """The run's status as the admin shows it: a running run whose worker fell silent says so."""
    if run.status == ImportStatus.RUNNING:
        silent = stalled_since(run.heartbeat_at)
        if silent is not None:
            return (f"Stalled: no progress for {silent.total_seconds() // 60:.0f} min (its "
                    "worker stopped); it is resumed within 5 minutes")
    return run.get_status_display()


def survey_state(survey: Survey) -> str:
    """The survey's status as the admin shows it, with a stalled stage called so."""
    silent = stalled_since(survey.stage_heartbeat_at)
    if silent is not None:
        return (f"{survey.get_status_display()}, stalled: no progress for "
                f"{silent.total_seconds() // 60:.0f} min; it is resumed within 5 minutes")
    return survey.get_status_display()
