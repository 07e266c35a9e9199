"""The access gateway: the one place that decides who may see and do what.

Every org-owned model names its path to its organisation in ``org_path`` and
uses ``AccessQuerySet`` as its manager, so every scoped read is::

    Survey.objects.accessible_to(user, Capability.VIEW)

and every check on one object is ``check_capability(user, obj, capability)``.
The admin, views, websocket consumers, services and the API all go through
these; capabilities, the roles that grant them and the rules for site staff
are in accounts.taxonomy.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models import Q

from core.exceptions import AccessDenied

from .taxonomy import CAPABILITY_ROLES, READ_CAPABILITIES, SUPERUSER_CAPABILITIES, Capability

ALL = None  # ``organisation_ids_for`` result: every organisation (site staff)


def is_site_staff(user) -> bool:
    """Superusers run the site: enquiries, accounts, shared classifiers."""
    return bool(user is not None and user.is_authenticated and user.is_superuser)


def _memberships(user, capability: str):
    # Through the user's own relation: the models import this module.
    rows = user.memberships.filter(role__in=list(CAPABILITY_ROLES[capability]))
    if capability == Capability.ANNOTATE:
        rows = rows.filter(can_annotate=True)
    return rows


def organisation_ids_for(user, capability: str) -> set[int] | None:
    """Ids of the organisations where ``user`` holds ``capability``; ALL (None) for staff."""
    if user is None or not user.is_authenticated:
        return set()
    if user.is_superuser and capability in SUPERUSER_CAPABILITIES:
        return ALL
    return set(_memberships(user, capability).values_list("organisation_id", flat=True))


class AccessQuerySet(models.QuerySet):
    """The manager of every org-owned model (``objects = AccessQuerySet.as_manager()``)."""

    def accessible_to(self, user, capability: str, *, include_shared: bool | None = None):
        """Rows of organisations where ``user`` holds ``capability``.

        ``include_shared`` (default: for reading capabilities) adds rows shared
        by every organisation. One query: memberships are a subquery.
        """
        if include_shared is None:
            include_shared = capability in READ_CAPABILITIES
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser and capability in SUPERUSER_CAPABILITIES:
            return self
        org_ids = _memberships(user, capability).values("organisation_id")
        return self._owned_by(org_ids, include_shared)

    def of_organisations(self, org_ids: Iterable[int] | None, *,
                         include_shared: bool = False):
        """Rows owned by ``org_ids`` (from ``organisation_ids_for``; ALL keeps every row)."""
        if org_ids is ALL:
            return self
        return self._owned_by(list(org_ids), include_shared)

    def _owned_by(self, org_ids, include_shared: bool):
        path = self.model.org_path
        condition = Q(**{"pk__in" if path == "pk" else f"{path}__in": org_ids})
        if include_shared and getattr(self.model, "org_shared_if_null", False):
            condition |= Q(**{f"{path}__isnull": True})
        return self.filter(condition)


def has_capability(user, obj, capability: str, *, include_shared: bool | None = None) -> bool:
    """Whether ``user`` holds ``capability`` on the org-owned object ``obj``."""
    rows = type(obj)._default_manager.filter(pk=obj.pk)
    return rows.accessible_to(user, capability, include_shared=include_shared).exists()


def roles_holding(capability: str) -> str:
    """The roles that grant ``capability``, for refusal messages: "admin or write"."""
    names = sorted(str(role.label).lower() for role in CAPABILITY_ROLES[capability])
    return " or ".join(names)


def check_capability(user, obj, capability: str) -> None:
    """Raise AccessDenied unless ``user`` holds ``capability`` on ``obj``."""
    if not has_capability(user, obj, capability):
        raise AccessDenied(
            f"You may not {Capability(capability).label} for “{obj}”: it belongs to an "
            f"organisation where your role does not allow it (it needs the "
            f"{roles_holding(capability)} role)."
        )


def check_capability_anywhere(user, capability: str) -> None:
    """Raise AccessDenied unless ``user`` holds ``capability`` in some organisation.

    The cheap first gate of a write whose target is not known yet (a create).
    """
    if organisation_ids_for(user, capability) == set():
        raise AccessDenied(
            f"You may not {Capability(capability).label}: that needs the "
            f"{roles_holding(capability)} role in an organisation, and you hold it in none."
        )


def check_site_staff(user, action: str) -> None:
    """Raise AccessDenied unless ``user`` is site staff."""
    if not is_site_staff(user):
        raise AccessDenied(f"Only site staff can {action}.")
