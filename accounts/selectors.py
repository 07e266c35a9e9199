"""Reads about who belongs where (every org-scoped read goes through these)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from .models import Invitation, Membership, Organisation, User
from .taxonomy import InvitationStatus


def organisation_ids_for(user, roles: Iterable[str] | None = None) -> set[int]:
    """Ids of the organisations where ``user`` has one of ``roles`` (any role if None)."""
    if not user.is_authenticated:
        return set()
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return set(memberships.values_list("organisation_id", flat=True))


def scope_queryset(queryset: QuerySet, org_ids: Iterable[int], *,
                   include_shared: bool = False) -> QuerySet:
    """Filter ``queryset`` to rows owned by the organisations ``org_ids``.

    The model names its path to the organisation in ``org_path``. Models
    with ``org_shared_if_null`` (e.g. public classifiers) also offer their
    rows without an organisation when ``include_shared`` is set.
    """
    path = queryset.model.org_path
    lookup = "pk__in" if path == "pk" else f"{path}__in"
    condition = Q(**{lookup: list(org_ids)})
    if include_shared and getattr(queryset.model, "org_shared_if_null", False):
        condition |= Q(**{f"{path}__isnull": True})
    return queryset.filter(condition)


def users_visible_to(org_ids: Iterable[int]) -> QuerySet:
    return User.objects.filter(memberships__organisation_id__in=list(org_ids)).distinct()


def organisation_with_role(user, organisation: Organisation, roles: Iterable[str]) -> bool:
    return Membership.objects.filter(
        user=user, organisation=organisation, role__in=list(roles)
    ).exists()


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
