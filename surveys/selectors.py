from accounts.models import Membership

from .models import Image, Survey


def survey_for_member(user, survey_id) -> Survey | None:
    """The survey if ``user`` belongs to its organisation (any role)."""
    if user.is_superuser:
        return Survey.objects.filter(pk=survey_id).first()
    org_ids = Membership.objects.filter(user=user).values("organisation_id")
    return Survey.objects.filter(pk=survey_id, organisation_id__in=org_ids).first()


def image_for_member(user, image_id) -> Image | None:
    """The image if ``user`` belongs to the organisation that owns it."""
    images = Image.objects.filter(pk=image_id).select_related("camera__site")
    if not user.is_superuser:
        org_ids = Membership.objects.filter(user=user).values("organisation_id")
        images = images.filter(camera__site__survey__organisation_id__in=org_ids)
    return images.first()
