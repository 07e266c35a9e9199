from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from .access import AccessQuerySet
from .taxonomy import EnquiryStatus, InvitationStatus, Role


class User(AbstractUser):
    """A person: admin, member or annotator (custom from the first migration)."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class Organisation(models.Model):
    """The tenant: everything else belongs to exactly one organisation."""

    # Path from an org-owned model to its organisation (see accounts.scoping).
    org_path = "pk"

    name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organisations"
    )

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="organisation_name_unique_ci"),
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    org_path = "organisation"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    can_annotate = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["organisation", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique"),
        ]

    def __str__(self):
        return f"{self.user} in {self.organisation} ({self.role})"


class Invitation(models.Model):
    """An offer of membership, addressed to a username or an email address."""

    org_path = "organisation"

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True, help_text="Matched against verified addresses only.")
    # Set for invitations by username: the existing account they are for.
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
        related_name="invitations",
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    status = models.CharField(
        max_length=20, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(username="", email=""),
                name="invitation_has_recipient",
            ),
        ]

    def __str__(self):
        return f"Invitation to {self.username or self.email} for {self.organisation}"


class Enquiry(models.Model):
    """A request from the public for an organisation account; staff approve it."""

    organisation_name = models.CharField(max_length=150)
    email = models.EmailField()
    contact_name = models.CharField(max_length=150, blank=True)
    message = models.TextField(blank=True, max_length=2000)
    status = models.CharField(
        max_length=20, choices=EnquiryStatus.choices, default=EnquiryStatus.NEW
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "enquiries"

    def __str__(self):
        return f"{self.organisation_name} ({self.email})"


class ApiToken(models.Model):
    """A personal key for the REST API. Only its SHA-256 is stored; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the key is for (e.g. a script).")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.user})"
