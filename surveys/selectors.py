"""Reads about surveys and images, scoped by the access gateway."""

from datetime import timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from accounts.models import Organisation
from accounts.taxonomy import Capability

from .exceptions import SurveyError
from .models import Image, ImportRun, Survey
from .taxonomy import HASH_VERSION, ImportStatus


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


def organisation_named(org: str) -> Organisation:
    """The organisation ``org`` (its name, any case, or its id), for commands.

    Raises SurveyError naming ``org`` when there is none.
    """
    organisation = Organisation.objects.filter(name__iexact=org).first() or (
        Organisation.objects.filter(pk=int(org)).first() if org.isdigit() else None)
    if organisation is None:
        raise SurveyError(f"There is no organisation called {org!r}.")
    return organisation


def survey_named(name: str, org: str | None = None) -> Survey:
    """The survey called ``name`` (in the organisation ``org``, a name or id), for commands.

    Scoped through the gateway: with ``org`` only that organisation's surveys
    are looked at, so another organisation's survey of that name is simply not
    found. Raises SurveyError when the organisation or the survey is not found,
    or (without ``org``) several organisations have a survey of that name.
    """
    surveys = Survey.objects.all()
    where = ""
    if org is not None:
        organisation = organisation_named(org)
        surveys = Survey.objects.of_organisations([organisation.pk])
        where = f" in organisation “{organisation.name}”"
    found = list(surveys.filter(name=name).select_related("organisation")[:2])
    if not found:
        raise SurveyError(f"There is no survey called {name!r}{where}. Check the name "
                          "(it is case-sensitive) and --org.")
    if len(found) > 1:
        raise SurveyError(f"Several organisations have a survey called {name!r}; give --org.")
    return found[0]


def relative_path(camera_path: str, filename: str) -> str:
    """An image's path relative to the folder it was imported from (importing's ``rel``)."""
    return f"{camera_path}/{filename}" if camera_path else filename


def image_ids_by_path(survey: Survey) -> dict[str, int]:
    """Every image of ``survey`` by its path relative to its import's source folder (one query)."""
    rows = Image.objects.filter(camera__site__survey=survey).values_list(
        "id", "camera__path", "filename")
    return {relative_path(path, filename): pk for pk, path, filename in rows.iterator(5000)}


def source_root_names(survey: Survey) -> set[str]:
    """The names of the folders the survey's images were imported from (one query)."""
    sources = ImportRun.objects.filter(survey=survey).values_list("source", flat=True)
    return {PurePosixPath(source).name for source in sources} - {""}


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
    if run.status == ImportStatus.PENDING and run.started_at is not None:
        # Between slices (services.import_queue): others' work runs meanwhile.
        return f"Queued for its next turn ({run.processed} of {run.total} files done)"
    return run.get_status_display()


def survey_state(survey: Survey) -> str:
    """The survey's status as the admin shows it, with a stalled stage called so."""
    silent = stalled_since(survey.stage_heartbeat_at)
    if silent is not None:
        return (f"{survey.get_status_display()}, stalled: no progress for "
                f"{silent.total_seconds() // 60:.0f} min; it is resumed within 5 minutes")
    return survey.get_status_display()


def rehash_progress(survey: Survey) -> tuple[int, int]:
    """(images with a stored original, those whose hash is still of an older version)."""
    stored = Image.objects.filter(camera__site__survey=survey).exclude(key="")
    return stored.count(), stored.filter(hash_version__lt=HASH_VERSION).count()


def duplicate_images(survey: Survey, *, limit: int = 200) -> list[list[str]]:
    """Groups of the survey's images with the same current content hash, as storage keys
    (first ``limit`` groups, in key order): the same picture stored more than once."""
    current = Image.objects.filter(camera__site__survey=survey, hash_version=HASH_VERSION
                                   ).exclude(content_hash="")
    shared = (current.values("content_hash").annotate(n=Count("id")).filter(n__gt=1)
              .order_by("content_hash").values_list("content_hash", flat=True)[:limit])
    groups: dict[str, list[str]] = {}
    for digest, key in current.filter(content_hash__in=list(shared)).order_by("key"
                                                                                ).values_list(
            "content_hash", "key"):
        groups.setdefault(digest, []).append(key)
    return sorted(groups.values())
