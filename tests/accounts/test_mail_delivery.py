"""Mail reaches a real SMTP server: STARTTLS and a log-in, as a production EMAIL_URL says.

An aiosmtpd server on loopback with a self-signed certificate (trusted by this test only,
through SSL_CERT_FILE) and a user name and password receives the enquiry notice to site
staff, the approval with the new admin's credentials, an invitation and a password reset,
each read back from what the server received.
"""

import email
import re
import socket
import ssl
import subprocess
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core import mail
from django.urls import reverse

from accounts.models import Enquiry, Organisation, User
from accounts.services.organisations import do_invite
from accounts.taxonomy import Role
from tests.factories import UserFactory
from traptagger import mail_config

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((session.authenticated, envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"

    def to(self, address):
        found = [m for _, rcpt, m in self.messages if address in rcpt]
        assert found, f"nothing reached {address}: {[r for _, r, _ in self.messages]}"
        return found[-1]


def accept_one_login(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == b"s3cret:pass/word"
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server(tmp_path, settings, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=accept_one_login,
                            auth_require_tls=True)
    controller.start()
    try:
        config, problem = mail_config.email_settings(
            f"smtp+tls://mailer:s3cret%3Apass%2Fword@127.0.0.1:{port}")
        assert problem is None
        for name, value in config.items():
            setattr(settings, name, value)
        settings.DEFAULT_FROM_EMAIL = "traptagger@field.example"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test's own certificate
        yield inbox
    finally:
        controller.stop()


def test_enquiry_approval_invitation_and_reset_reach_a_real_smtp_server(
        smtp_server, client, django_capture_on_commit_callbacks):
    staff = UserFactory(username="siteops", email="ops@field.example", is_superuser=True,
                        is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("enquiry"), {"organisation_name": "Niassa Lions",
                                         "email": "lead@niassa.example",
                                         "contact_name": "Agostinho"})
    notice = smtp_server.to("ops@field.example")
    assert "Niassa Lions" in notice["Subject"]
    assert "/admin/accounts/enquiry/" in notice.get_content()
    assert notice["From"] == "traptagger@field.example"

    client.force_login(staff)
    enquiry_id = str(Enquiry.objects.get().pk)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:accounts_enquiry_changelist"),
                    {"action": "approve", "_selected_action": [enquiry_id]})
    approval = smtp_server.to("lead@niassa.example").get_content()
    password = re.search(r"Password: (\S+)", approval).group(1)
    new_admin = User.objects.get(email="lead@niassa.example")
    assert new_admin.check_password(password)

    organisation = Organisation.objects.get(name="Niassa Lions")
    with django_capture_on_commit_callbacks(execute=True):
        do_invite(organisation, acting_user=new_admin, email="spotter@niassa.example",
                  role=Role.ANNOTATOR)
    assert "Niassa Lions" in smtp_server.to("spotter@niassa.example").get_content()

    client.logout()
    client.post("/accounts/password/reset/", {"email": "lead@niassa.example"})
    reset = smtp_server.to("lead@niassa.example").get_content()
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+", reset).group(0)
    page = client.get(link, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    client.post(form_url, {"password1": "a-new-field-phrase-7",
                           "password2": "a-new-field-phrase-7"})
    new_admin.refresh_from_db()
    assert new_admin.check_password("a-new-field-phrase-7")
    assert all(authenticated for authenticated, _, _ in smtp_server.messages)
    assert mail.outbox == []  # everything went through SMTP, not the test outbox


def test_an_unreachable_mail_server_keeps_the_enquiry(settings, client,
                                                       django_capture_on_commit_callbacks,
                                                       caplog):
    UserFactory(username="siteops", email="ops@field.example", is_superuser=True)
    config, _ = mail_config.email_settings("smtp://127.0.0.1:9")  # nothing listens on port 9
    for name, value in config.items():
        setattr(settings, name, value)
    settings.EMAIL_TIMEOUT = 2
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("enquiry"), {"organisation_name": "Selous",
                                                    "email": "x@selous.example"})
    assert response.status_code == 200
    assert Enquiry.objects.filter(organisation_name="Selous").exists()
    assert "check EMAIL_URL" in caplog.text
