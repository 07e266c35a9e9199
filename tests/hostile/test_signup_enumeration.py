"""Sign-up does not tell a stranger whether an address has an account; its owner can recover.

The same sign-up, once with a new address and once with a registered one (in
another case), must give the same status, redirect and page; the registered
address's owner gets a mail (locmem backend) that leads to a password reset, and
the reset works.
"""

import re

import pytest
from django.core import mail

from accounts.models import User
from tests.factories import UserFactory

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def sign_up(client, username, email):
    response = client.post("/accounts/signup/", {
        "username": username, "email": email,
        "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase",
    }, follow=True)
    page = re.sub(re.escape(email), "EMAIL", _TOKEN.sub("", response.content.decode()),
                  flags=re.IGNORECASE)  # the page repeats the address typed
    return response.status_code, response.redirect_chain, page


def test_a_registered_address_gets_the_same_answer_as_a_new_one(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    owner = UserFactory(username="owner", email="owner@example.org")
    new = sign_up(client, "stranger1", "nobody@example.org")
    client.logout()
    taken = sign_up(client, "stranger2", "OWNER@example.org")
    assert taken == new
    assert "already" not in taken[2].lower()
    # No second account holds the address; the owner's password is unchanged.
    assert not User.objects.filter(username="stranger2").exists()
    assert User.objects.filter(email__iexact="owner@example.org").count() == 1
    owner.refresh_from_db()
    assert owner.check_password("pass-word-123")
    # Each address got one mail: a confirmation for the new one, a "you already have an
    # account" with a way back in for the owner.
    by_address = {m.to[0].lower(): m for m in mail.outbox}
    assert set(by_address) == {"nobody@example.org", "owner@example.org"}
    assert "confirm" in by_address["nobody@example.org"].body.lower()
    notice = by_address["owner@example.org"].body
    assert "already exists" in notice

    # The owner recovers the account from that mail.
    reset_page = re.search(r"http://\S+/accounts/password/reset/\S*", notice).group(0)
    mail.outbox.clear()
    client.post(reset_page, {"email": "owner@example.org"})
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+",
                     mail.outbox[-1].body).group(0)
    page = client.get(link, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    client.post(form_url, {"password1": "brand-new-phrase-42",
                           "password2": "brand-new-phrase-42"})
    client.post("/accounts/login/", {"login": "owner", "password": "brand-new-phrase-42"})
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_a_new_account_does_not_log_in_before_its_address_is_confirmed(client):
    sign_up(client, "fresh", "fresh@example.org")
    assert "_auth_user_id" not in client.session
    client.post("/accounts/login/", {"login": "fresh", "password": "a-long-pass-phrase"})
    assert "_auth_user_id" not in client.session
