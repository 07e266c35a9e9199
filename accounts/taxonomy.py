"""Roles and what each may do (one place for every permission rule)."""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    WRITE = "write", "Write"
    READ = "read", "Read"
    ANNOTATOR = "annotator", "Annotator"


# Roles that may use the Django admin for an organisation's data.
ADMIN_SITE_ROLES = frozenset({Role.ADMIN, Role.WRITE, Role.READ})
# Roles that may change surveys, tasks and classifiers.
WRITE_ROLES = frozenset({Role.ADMIN, Role.WRITE})
# Roles that may manage members and invitations.
MEMBER_ADMIN_ROLES = frozenset({Role.ADMIN})


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


class EnquiryStatus(models.TextChoices):
    NEW = "new", "New"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
