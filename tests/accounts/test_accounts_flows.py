"""Enquiry → approval, annotator sign-up, invitations, create_organisation."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib import admin
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse

from accounts.admin import EnquiryAdmin
from accounts.exceptions import AccountsError
from accounts.models import Enquiry, Invitation, Membership, Organisation, User
from accounts.services.organisations import (
    do_approve_enquiry,
    do_create_organisation,
    do_invite,
)
from accounts.taxonomy import EnquiryStatus, InvitationStatus, Role
from tests.factories import OrganisationFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def test_enquiry_form_creates_enquiry(client):
    response = client.post(reverse("enquiry"), {
        "organisation_name": "Okavango Cats", "email": "lead@okavango.example",
        "contact_name": "Lead", "message": "Lion survey",
    })
    assert response.status_code == 200
    assert "We received your enquiry" in response.content.decode()
    enquiry = Enquiry.objects.get()
    assert (enquiry.organisation_name, enquiry.status) == ("Okavango Cats", EnquiryStatus.NEW)


@pytest.mark.parametrize("existing", ["org", "enquiry"])
def test_enquiry_refuses_duplicate_organisation_name(client, existing):
    if existing == "org":
        OrganisationFactory(name="Okavango Cats")
    else:
        Enquiry.objects.create(organisation_name="Okavango Cats", email="first@example.org")
    response = client.post(reverse("enquiry"), {
        "organisation_name": "okavango cats", "email": "second@example.org",
    })
    body = response.content.decode()
    assert response.status_code == 200
    assert "already" in body and "okavango cats" in body.lower()
    assert Enquiry.objects.filter(email="second@example.org").count() == 0


def test_enquiry_does_not_tell_whether_an_address_has_an_account(client):
    UserFactory(email="known@example.org")
    pages = []
    for name, email in (("First Org", "fresh@example.org"), ("Second Org", "KNOWN@example.org")):
        response = client.post(reverse("enquiry"), {"organisation_name": name, "email": email})
        pages.append((response.status_code, response.content.decode()
                      .replace(name, "NAME").replace(email, "EMAIL")))
    assert pages[0] == pages[1] and "We received your enquiry" in pages[1][1]
    # Staff learn it when they approve.
    staff = UserFactory(is_staff=True, is_superuser=True)
    with pytest.raises(AccountsError, match="already exists"):
        do_approve_enquiry(Enquiry.objects.get(organisation_name="Second Org"),
                           acting_user=staff)


def test_enquiry_refuses_bad_email(client):
    response = client.post(reverse("enquiry"), {"organisation_name": "X", "email": "not-an-email"})
    assert "Enter a valid email address" in response.content.decode()
    assert not Enquiry.objects.exists()


def test_staff_approve_enquiry_in_admin(client, django_capture_on_commit_callbacks):
    staff = UserFactory(is_staff=True, is_superuser=True)
    enquiry = Enquiry.objects.create(organisation_name="Kruger Counts",
                                     email="ranger@kruger.example", contact_name="Ranger")
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:accounts_enquiry_changelist"), {
            "action": "approve", "_selected_action": [enquiry.pk],
        }, follow=True)
    assert "Created Kruger Counts" in response.content.decode()
    enquiry.refresh_from_db()
    assert enquiry.status == EnquiryStatus.APPROVED
    org = Organisation.objects.get(name="Kruger Counts")
    admin_user = User.objects.get(email="ranger@kruger.example")
    assert admin_user.is_staff and not admin_user.is_superuser
    assert Membership.objects.get(user=admin_user, organisation=org).role == Role.ADMIN
    # The credentials were emailed and they work.
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ranger@kruger.example"]
    password = re.search(r"Password: (\S+)", mail.outbox[0].body).group(1)
    client.logout()
    # (through the login form: the lockout backend needs the request)
    client.post("/admin/login/", {"username": admin_user.username, "password": password,
                                  "next": "/admin/"})
    assert client.session.get("_auth_user_id") == str(admin_user.pk)
    # A second approval of the same enquiry is refused.
    with pytest.raises(AccountsError, match="already approved"):
        do_approve_enquiry(enquiry, acting_user=staff)
    assert Organisation.objects.filter(name="Kruger Counts").count() == 1


def test_only_superusers_approve():
    org = OrganisationFactory()
    org_admin = member(org, Role.ADMIN)
    enquiry = Enquiry.objects.create(organisation_name="New", email="n@example.org")
    with pytest.raises(AccountsError):
        do_approve_enquiry(enquiry, acting_user=org_admin)
    request = RequestFactory().get("/")
    request.user = org_admin
    assert not EnquiryAdmin(Enquiry, admin.site).has_module_permission(request)


def test_annotator_signs_up_confirms_the_address_then_logs_in(client):
    response = client.post("/accounts/signup/", {
        "username": "tagger1", "email": "tagger1@example.org",
        "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase",
    })
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(username="tagger1")
    assert not user.is_staff and not user.memberships.exists()
    assert "_auth_user_id" not in client.session  # not before the address is confirmed
    link = re.search(r"http://\S+/accounts/confirm-email/\S+", mail.outbox[-1].body).group(0)
    client.post(link)
    assert EmailAddress.objects.get(user=user).verified
    client.post("/accounts/login/", {"login": "tagger1", "password": "a-long-pass-phrase"})
    assert client.session["_auth_user_id"] == str(user.pk)


def test_sign_up_refuses_a_taken_username(client):
    UserFactory(username="taken", email="taken@example.org")
    response = client.post("/accounts/signup/", {
        "username": "taken", "email": "other@example.org",
        "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase",
    })
    assert "already" in response.content.decode().lower()
    assert not User.objects.filter(email="other@example.org").exists()


def test_accounts_made_by_operators_log_in_without_a_confirmation(client):
    new = do_create_organisation("Ops Org", admin_username="opsadmin",
                                 admin_email="ops@example.org")
    client.post("/accounts/login/", {"login": "opsadmin", "password": new.password})
    assert client.session["_auth_user_id"] == str(new.user.pk)
    assert mail.outbox == []


@pytest.mark.parametrize("by", ["username", "email"])
def test_invitation_accepted_makes_membership(client, by, django_capture_on_commit_callbacks):
    org = OrganisationFactory(name="Mara Watch")
    org_admin = member(org, Role.ADMIN)
    invitee = UserFactory(username="spotter", email="spotter@example.org")
    assert EmailAddress.objects.get(user=invitee, email="spotter@example.org").verified
    with django_capture_on_commit_callbacks(execute=True):
        invitation = do_invite(org, acting_user=org_admin,
                               **({"username": "Spotter"} if by == "username"
                                  else {"email": "SPOTTER@example.org"}))
    assert mail.outbox and mail.outbox[-1].to[0].lower() == "spotter@example.org"
    client.force_login(invitee)
    home = client.get("/").content.decode()
    assert "Mara Watch invites you" in home
    client.post(reverse("answer_invitation", args=[invitation.pk]), {"answer": "accept"})
    membership = Membership.objects.get(user=invitee, organisation=org)
    assert membership.role == Role.ANNOTATOR and membership.can_annotate
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ACCEPTED


def test_email_invitation_cannot_be_taken_with_an_unverified_address(client):
    """Sign-up is open: claiming the invited address is not proof of owning it."""
    org = OrganisationFactory(name="Private Org")
    org_admin = member(org, Role.ADMIN)
    invitation = do_invite(org, acting_user=org_admin, email="ranger@park.example",
                           role=Role.ADMIN)
    client.post("/accounts/signup/", {
        "username": "squatter", "email": "ranger@park.example",
        "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase",
    })
    squatter = User.objects.get(username="squatter")
    assert not EmailAddress.objects.get(user=squatter).verified
    client.force_login(squatter)  # (the site's log-in waits for the confirmation)
    assert "Private Org invites you" not in client.get("/").content.decode()
    response = client.post(reverse("answer_invitation", args=[invitation.pk]),
                           {"answer": "accept"})
    assert response.status_code == 404
    squatter.refresh_from_db()
    assert not squatter.memberships.exists() and not squatter.is_staff
    # Once the address is verified (the confirmation email was opened), it works.
    EmailAddress.objects.filter(user=squatter).update(verified=True)
    client.post(reverse("answer_invitation", args=[invitation.pk]), {"answer": "accept"})
    assert squatter.memberships.get().organisation == org


@pytest.mark.django_db(transaction=True)
def test_invitation_rolled_back_sends_no_mail():
    org = OrganisationFactory()
    org_admin = member(org, Role.ADMIN)
    with pytest.raises(RuntimeError), transaction.atomic():
        do_invite(org, acting_user=org_admin, email="later@example.org")
        raise RuntimeError("the admin's save failed after the invitation")
    assert not Invitation.objects.exists()
    assert mail.outbox == []
    do_invite(org, acting_user=org_admin, email="later@example.org")
    assert [m.to for m in mail.outbox] == [["later@example.org"]]


def test_username_invitation_needs_an_existing_account():
    org = OrganisationFactory()
    org_admin = member(org, Role.ADMIN)
    with pytest.raises(AccountsError, match="No account is called"):
        do_invite(org, acting_user=org_admin, username="not-yet-signed-up")


def test_invitation_cannot_be_answered_by_someone_else(client):
    org = OrganisationFactory()
    org_admin = member(org, Role.ADMIN)
    UserFactory(username="intended")
    invitation = do_invite(org, acting_user=org_admin, username="intended")
    intruder = UserFactory(username="intruder")
    client.force_login(intruder)
    response = client.post(reverse("answer_invitation", args=[invitation.pk]),
                           {"answer": "accept"})
    assert response.status_code == 404
    assert not Membership.objects.filter(user=intruder).exists()


def test_invitation_rules():
    org, other = OrganisationFactory(), OrganisationFactory()
    org_admin = member(org, Role.ADMIN)
    writer = member(org, Role.WRITE)
    UserFactory(username="x")
    with pytest.raises(AccountsError, match="Only an organisation admin"):
        do_invite(org, acting_user=writer, username="x")
    with pytest.raises(AccountsError, match="Only an organisation admin"):
        do_invite(other, acting_user=org_admin, username="x")
    with pytest.raises(AccountsError, match="already a member"):
        do_invite(org, acting_user=org_admin, username=writer.username)
    do_invite(org, acting_user=org_admin, email="new@example.org")
    with pytest.raises(AccountsError, match="pending invitation"):
        do_invite(org, acting_user=org_admin, email="NEW@example.org")
    with pytest.raises(AccountsError, match="username or an email"):
        do_invite(org, acting_user=org_admin)
    assert Invitation.objects.count() == 1


def test_admin_invites_through_the_admin(client):
    org = OrganisationFactory()
    org_admin = member(org, Role.ADMIN)
    client.force_login(org_admin)
    response = client.post(reverse("admin:accounts_invitation_add"), {
        "organisation": org.pk, "username": "", "email": "field@example.org", "role": "annotator",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Invitation.objects.get().email == "field@example.org"
    response = client.post(reverse("admin:accounts_invitation_add"), {
        "organisation": org.pk, "username": "", "email": "field@example.org", "role": "annotator",
    })
    assert "already has a pending invitation" in response.content.decode()


def test_create_organisation_command(capsys):
    call_command("create_organisation", "Gorongosa", "--admin", "gadmin",
                 "--email", "g@example.org")
    out = capsys.readouterr().out
    password = re.search(r"Admin password: (\S+)", out).group(1)
    user = User.objects.get(username="gadmin")
    assert user.check_password(password) and user.is_staff and not user.is_superuser
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_organisation", "gorongosa", "--admin", "other",
                     "--email", "o@example.org")


def test_password_reset_by_email(client):
    user = UserFactory(username="forgetful", email="forgetful@example.org")
    client.post("/accounts/password/reset/", {"email": "forgetful@example.org"})
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["forgetful@example.org"]
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+", mail.outbox[0].body).group(0)
    page = client.get(link, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    client.post(form_url, {"password1": "brand-new-phrase-42", "password2": "brand-new-phrase-42"})
    user.refresh_from_db()
    assert user.check_password("brand-new-phrase-42")
