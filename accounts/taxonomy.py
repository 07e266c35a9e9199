"""Roles and what each may do (one place for every permission rule)."""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    WRITE = "write", "Write"
    READ = "read", "Read"
    ANNOTATOR = "annotator", "Annotator"


class Capability(models.TextChoices):
    """What a person may do with an organisation's data (checked by accounts.access)."""

    MEMBER = "member", "open the organisation's pages (images, survey progress)"
    VIEW = "view", "see the organisation's data in the admin and the API"
    CHANGE = "change", "change surveys, tasks and classifiers"
    MANAGE_MEMBERS = "manage_members", "manage members and invitations"
    ANNOTATE = "annotate", "label clusters of launched tasks"


ALL_ROLES = frozenset(Role)
# Which membership roles grant each capability. ANNOTATE also needs the
# membership's ``can_annotate``.
CAPABILITY_ROLES = {
    Capability.MEMBER: ALL_ROLES,
    Capability.VIEW: frozenset({Role.ADMIN, Role.WRITE, Role.READ}),
    Capability.CHANGE: frozenset({Role.ADMIN, Role.WRITE}),
    Capability.MANAGE_MEMBERS: frozenset({Role.ADMIN}),
    Capability.ANNOTATE: ALL_ROLES,
}
# Site staff (superusers) hold these on every organisation. Not ANNOTATE:
# labels are members' work, so staff label only where they are members.
SUPERUSER_CAPABILITIES = frozenset({
    Capability.MEMBER, Capability.VIEW, Capability.CHANGE, Capability.MANAGE_MEMBERS,
})
# Reading capabilities also reach rows shared by every organisation (rows
# whose organisation is empty, e.g. public classifiers and special labels).
READ_CAPABILITIES = frozenset({Capability.MEMBER, Capability.VIEW, Capability.ANNOTATE})


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


class EnquiryStatus(models.TextChoices):
    NEW = "new", "New"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
