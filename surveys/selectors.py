"""Reads about surveys and images, scoped by the access gateway."""

from accounts.taxonomy import Capability

from .models import Image, Survey


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

