"""Reads about people and invitations (org-scoped reads go through accounts.access)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from .models import Invitation, User
from .taxonomy import InvitationStatus


def users_visible_to(org_ids: Iterable[int]) -> QuerySet:
    return User.objects.filter(memberships__organisation_id__in=list(org_ids)).distinct()


def verified_emails(user) -> list[str]:
    from allauth.account.models import EmailAddress

    return [e.lower() for e in
            EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)]


def pending_invitations_for(user) -> QuerySet:
    """Invitations for ``user``: by their account, or by an address they have verified.

    An unverified address proves nothing (anyone can sign up with any
    address), so it never matches.
    """
    match = Q(invitee=user)
    emails = verified_emails(user)
    if emails:
        match |= Q(invitee__isnull=True, email__in=emails)
    return (
        Invitation.objects.filter(match, status=InvitationStatus.PENDING)
        .select_related("organisation", "invited_by")
    )
