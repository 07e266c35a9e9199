"""Organisations, their first admins, enquiries and invitations."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.exceptions import AccessDenied

from ..access import check_capability, check_site_staff
from ..exceptions import AccountsError, DuplicateOrganisation, PermissionDenied
from ..models import Enquiry, Invitation, Membership, Organisation, User
from ..selectors import verified_emails
from ..taxonomy import Capability, EnquiryStatus, InvitationStatus, Role

logger = logging.getLogger(__name__)


@dataclass
class NewAccount:
    organisation: Organisation
    user: User
    password: str


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def _mail_on_commit(*, subject: str, message: str, recipient: str) -> None:
    """Send a mail once the current transaction commits (a rolled-back change mails nobody)."""
    transaction.on_commit(lambda: send_mail(
        subject=subject, message=message, from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[recipient],
    ))


def _verified_address(user: User) -> None:
    """Record the address of an account made by an operator or staff as verified.

    Sign-up needs a confirmed address before the first log-in (settings:
    ACCOUNT_EMAIL_VERIFICATION); an address an operator typed, or to which the
    account's credentials are mailed, needs no confirmation.
    """
    from allauth.account.models import EmailAddress

    if user.email:
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)


def check_organisation_name_free(name: str) -> None:
    """Raise DuplicateOrganisation when ``name`` (any case) is taken or already asked for."""
    if Organisation.objects.filter(name__iexact=name.strip()).exists():
        raise DuplicateOrganisation(
            f"An organisation called “{name}” already exists. Choose another name, "
            "or ask that organisation's admin to invite you."
        )


def do_create_organisation(name: str, *, admin_username: str, admin_email: str) -> NewAccount:
    """Create an organisation with its first admin (staff, not superuser).

    Returns the new admin with a generated password. Raises AccountsError when
    the organisation name or the username/email is already taken.
    """
    name = name.strip()
    if not name:
        raise AccountsError("The organisation name is empty.")
    check_organisation_name_free(name)
    if User.objects.filter(username__iexact=admin_username).exists():
        raise AccountsError(f"The username “{admin_username}” is already taken.")
    if admin_email and User.objects.filter(email__iexact=admin_email).exists():
        raise AccountsError(f"An account with the email {admin_email} already exists.")
    password = generate_password()
    with transaction.atomic():
        organisation = Organisation.objects.create(name=name)
        user = User.objects.create_user(
            username=admin_username, email=admin_email, password=password, is_staff=True
        )
        _verified_address(user)
        Membership.objects.create(
            user=user, organisation=organisation, role=Role.ADMIN, can_annotate=True
        )
    return NewAccount(organisation=organisation, user=user, password=password)


def check_enquiry(organisation_name: str, email: str) -> None:
    """Validate a public enquiry; raise AccountsError with a message for the form.

    Whether ``email`` has an account is not checked here: the public form must not
    tell strangers which addresses are registered (as sign-up does not). Staff
    learn it when they approve (do_create_organisation refuses a taken address).
    """
    check_organisation_name_free(organisation_name)
    if Enquiry.objects.filter(
        organisation_name__iexact=organisation_name.strip(), status=EnquiryStatus.NEW
    ).exists():
        raise DuplicateOrganisation(
            f"An enquiry for “{organisation_name}” is already waiting for approval. "
            "We will email you once it is decided."
        )


def do_submit_enquiry(*, organisation_name: str, email: str, contact_name: str = "",
                      message: str = "", review_url: str = "") -> Enquiry:
    """Store a public enquiry and tell site staff (by mail, once committed).

    ``review_url`` is where staff decide it (the admin's enquiry list). A mail that cannot
    be sent is logged; the enquiry is kept and waits in the admin list all the same.
    """
    check_enquiry(organisation_name, email)
    enquiry = Enquiry.objects.create(
        organisation_name=organisation_name.strip(), email=email,
        contact_name=contact_name, message=message,
    )
    staff = sorted({address for address in User.objects.filter(
        is_superuser=True, is_active=True).exclude(email="").values_list("email", flat=True)})
    if staff:
        body = (
            f"{contact_name or email} asks for an organisation called "
            f"“{enquiry.organisation_name}”.\n\nAddress: {email}\n"
            + (f"Message:\n{message}\n" if message else "")
            + (f"\nApprove or decline it in the admin: {review_url}\n" if review_url else
               "\nApprove or decline it in the admin, under Accounts › Enquiries.\n")
        )
        transaction.on_commit(lambda: _send_or_log(
            subject=f"New organisation enquiry: {enquiry.organisation_name}",
            message=body, recipients=staff))
    return enquiry


def _send_or_log(*, subject: str, message: str, recipients: list[str]) -> None:
    try:
        send_mail(subject=subject, message=message, from_email=settings.DEFAULT_FROM_EMAIL,
                  recipient_list=recipients)
    except Exception:  # the mail server's failure must not lose what was stored
        logger.exception("could not send “%s” to %d address(es); check EMAIL_URL",
                         subject, len(recipients))


def _username_for(email: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", email.split("@")[0])[:30] or "admin"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def do_approve_enquiry(enquiry: Enquiry, *, acting_user: User) -> NewAccount:
    """Create the organisation and its first admin for ``enquiry`` and email the credentials.

    Only site staff may approve (AccessDenied). Raises AccountsError when the
    enquiry was already decided or its organisation name has been taken
    since. The mail leaves once the approval is committed.
    """
    try:
        check_site_staff(acting_user, "approve enquiries")
    except AccessDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    with transaction.atomic():
        locked = Enquiry.objects.select_for_update().get(pk=enquiry.pk)
        if locked.status != EnquiryStatus.NEW:
            raise AccountsError(f"The enquiry from {locked.email} was already {locked.status}.")
        new = do_create_organisation(
            locked.organisation_name,
            admin_username=_username_for(locked.email),
            admin_email=locked.email,
        )
        locked.status = EnquiryStatus.APPROVED
        locked.organisation = new.organisation
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "organisation", "decided_at"])
        _mail_on_commit(
            subject=f"Your TrapTagger organisation “{new.organisation.name}” is ready",
            message=(
                f"Hello{(' ' + locked.contact_name) if locked.contact_name else ''},\n\n"
                f"Your organisation “{new.organisation.name}” has been created.\n"
                f"Username: {new.user.username}\nPassword: {new.password}\n\n"
                "Log in to the admin and change your password on first use.\n"
            ),
            recipient=locked.email,
        )
    enquiry.refresh_from_db()
    return new


def check_invite(organisation: Organisation, *, acting_user: User, username: str = "",
                 email: str = "") -> None:
    """Raise AccountsError unless ``acting_user`` may invite this person to ``organisation``."""
    try:
        check_capability(acting_user, organisation, Capability.MANAGE_MEMBERS)
    except AccessDenied as exc:
        raise PermissionDenied("Only an organisation admin can invite members.") from exc
    username, email = username.strip(), email.strip()
    if not username and not email:
        raise AccountsError("Give a username or an email address to invite.")
    if username and not User.objects.filter(username__iexact=username).exists():
        raise AccountsError(
            f"No account is called “{username}”. Invite by email instead, or ask them to "
            "sign up first."
        )
    existing = Membership.objects.filter(organisation=organisation)
    if (username and existing.filter(user__username__iexact=username).exists()) or (
        email and existing.filter(user__email__iexact=email).exists()
    ):
        raise AccountsError(f"{username or email} is already a member of {organisation}.")
    pending = Invitation.objects.filter(organisation=organisation, status=InvitationStatus.PENDING)
    if (username and pending.filter(username__iexact=username).exists()) or (
        email and pending.filter(email__iexact=email).exists()
    ):
        raise AccountsError(f"{username or email} already has a pending invitation.")


def do_invite(organisation: Organisation, *, acting_user: User, username: str = "",
              email: str = "", role: str = Role.ANNOTATOR) -> Invitation:
    """Invite a person (by username or email) to ``organisation``; needs the admin role.

    Emails the invitee, once the invitation is committed, when an address is
    known. Raises AccountsError (see check_invite).
    """
    check_invite(organisation, acting_user=acting_user, username=username, email=email)
    username, email = username.strip(), email.strip().lower()
    invitee = User.objects.filter(username__iexact=username).first() if username else None
    invitation = Invitation.objects.create(
        organisation=organisation, invited_by=acting_user, invitee=invitee,
        username=invitee.username if invitee else "", email="" if invitee else email, role=role,
    )
    recipient = invitee.email if invitee else email
    if recipient:
        _mail_on_commit(
            subject=f"Invitation to join {organisation} on TrapTagger",
            message=(
                f"{acting_user.username} invited you to join {organisation} as {role}.\n"
                "Log in (or sign up) and accept the invitation on your home page.\n"
            ),
            recipient=recipient,
        )
    return invitation


def _check_addressed_to(invitation: Invitation, user: User) -> None:
    addressed = Invitation.objects.filter(pk=invitation.pk).filter(
        Q(invitee=user) | Q(invitee__isnull=True, email__in=verified_emails(user))
    )
    if not addressed.exists():
        raise PermissionDenied(
            "This invitation is addressed to someone else (or to an email address you "
            "have not verified yet)."
        )
    if invitation.status != InvitationStatus.PENDING:
        raise AccountsError(f"This invitation was already {invitation.status}.")


def do_answer_invitation(invitation: Invitation, *, user: User, accept: bool) -> Membership | None:
    """Accept or decline ``invitation`` as ``user``; accepting creates the membership."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        _check_addressed_to(invitation, user)
        invitation.status = InvitationStatus.ACCEPTED if accept else InvitationStatus.DECLINED
        invitation.accepted_by = user if accept else None
        invitation.answered_at = timezone.now()
        invitation.save(update_fields=["status", "accepted_by", "answered_at"])
        if not accept:
            return None
        membership, _ = Membership.objects.get_or_create(
            user=user, organisation=invitation.organisation,
            defaults={"role": invitation.role, "can_annotate": True},
        )
        if invitation.role != Role.ANNOTATOR and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
    return membership


def do_add_member(organisation: Organisation, *, username: str, email: str = "",
                  role: str = Role.ANNOTATOR, password: str | None = None,
                  can_annotate: bool = True) -> NewAccount:
    """Create an account and make it a member of ``organisation`` (operators and the demo).

    People normally join through invitations; this is for set-up scripts.
    Returns the account with its password (generated unless given). Raises
    AccountsError when the username is taken.
    """
    if User.objects.filter(username__iexact=username).exists():
        raise AccountsError(f"The username “{username}” is already taken.")
    password = password or generate_password()
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password,
                                        is_staff=role != Role.ANNOTATOR)
        _verified_address(user)
        Membership.objects.create(user=user, organisation=organisation, role=role,
                                  can_annotate=can_annotate)
    return NewAccount(organisation=organisation, user=user, password=password)


def do_reset_password(user: User, password: str | None = None) -> str:
    """Give ``user`` a new password (generated unless given) and return it."""
    password = password or generate_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    return password
