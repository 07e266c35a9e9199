"""Password guessing is slowed on both login forms; a stranger cannot lock an owner out."""

import pytest

from accounts.services import login_throttle
from tests.factories import OrganisationFactory, member

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]

FORMS = {
    "admin": ("/admin/login/", "username"),
    "site": ("/accounts/login/", "login"),
}


class Clock:
    def __init__(self, monkeypatch):
        self.now = 1_000_000.0
        monkeypatch.setattr(login_throttle.time, "time", lambda: self.now)


def attempt(client, form, username, password, address):
    url, field = FORMS[form]
    client.logout()
    client.post(url, {field: username, "password": password,
                      "next": "/admin/" if form == "admin" else "/"}, REMOTE_ADDR=address)
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("form", list(FORMS))
def test_guessing_is_slowed_but_the_owner_gets_in(client, monkeypatch, form):
    clock = Clock(monkeypatch)
    member(OrganisationFactory(), "admin", username="boss")
    attacker, owner = "203.0.113.9", "198.51.100.7"
    for n in range(25):
        assert not attempt(client, form, "boss", f"guess-{n}", attacker)
    # The right password from the guessing address is refused while it must wait…
    assert not attempt(client, form, "boss", "pass-word-123", attacker)
    # …and the owner, elsewhere, waits at most the account's short delay.
    assert not attempt(client, form, "boss", "pass-word-123", owner)
    clock.now += login_throttle.ACCOUNT_MAX_DELAY + 1
    assert attempt(client, form, "boss", "pass-word-123", owner)
    # The guessing address is still slowed (its delay grew with every failure).
    assert not attempt(client, form, "boss", "pass-word-123", attacker)
    clock.now += login_throttle.ADDRESS_MAX_DELAY + 1
    assert attempt(client, form, "boss", "pass-word-123", attacker)


def test_a_few_mistakes_cost_nothing(client, monkeypatch):
    Clock(monkeypatch)
    member(OrganisationFactory(), "admin", username="clumsy")
    for n in range(login_throttle.ACCOUNT_FREE):
        assert not attempt(client, "site", "clumsy", f"typo-{n}", "192.0.2.1")
    assert attempt(client, "site", "clumsy", "pass-word-123", "192.0.2.1")


def test_throttled_page_says_how_long_to_wait(client, monkeypatch):
    Clock(monkeypatch)
    member(OrganisationFactory(), "admin", username="boss")
    for n in range(login_throttle.ADDRESS_FREE + 2):
        attempt(client, "admin", "boss", f"guess-{n}", "203.0.113.9")
    page = client.post("/admin/login/", {"username": "boss", "password": "x"},
                       REMOTE_ADDR="203.0.113.9", follow=True)
    assert "Too many failed log-ins; wait" in page.content.decode()
