"""Password guessing is stopped on both login forms; a stranger cannot lock an owner out.

django-axes with accounts.lockout's handler: LOGIN_FAILURE_LIMIT failures per address
(and per account from it) in LOGIN_COOLOFF_MINUTES, then refusals (429) before any
password is checked.
"""

import http.cookiejar
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F, Sum

from tests.conftest import free_port, subprocess_env
from tests.factories import OrganisationFactory, member

pytestmark = [pytest.mark.hostile, pytest.mark.django_db]

FORMS = {
    "admin": ("/admin/login/", "username"),
    "site": ("/accounts/login/", "login"),
}
RIGHT = "pass-word-123"


def attempt(client, form, username, password, address) -> str:
    """'in', 'failed' (password checked, wrong) or 'refused' (locked out, not checked)."""
    url, field = FORMS[form]
    client.logout()
    response = client.post(url, {field: username, "password": password,
                                 "next": "/admin/" if form == "admin" else "/"},
                           REMOTE_ADDR=address)
    if response.status_code == 429:
        return "refused"
    return "in" if "_auth_user_id" in client.session else "failed"


def cool_off_passes():
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES,
                                                   seconds=1))


@pytest.mark.parametrize("form", list(FORMS))
def test_guessing_is_stopped_but_the_owner_gets_in(client, form):
    member(OrganisationFactory(), "admin", username="boss")
    attacker, owner = "203.0.113.9", "198.51.100.7"
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        assert attempt(client, form, "boss", f"guess-{n}", attacker) == "failed"
    # Past the limit even the right password from the guessing address is refused…
    assert attempt(client, form, "boss", RIGHT, attacker) == "refused"
    assert attempt(client, form, "Boss", RIGHT, attacker) == "refused"  # case is one account
    # …while the owner, elsewhere, gets in at once: a stranger cannot lock them out.
    assert attempt(client, form, "boss", RIGHT, owner) == "in"
    # The guessing address is let in again after the cool-off.
    assert attempt(client, form, "boss", RIGHT, attacker) == "refused"
    cool_off_passes()
    assert attempt(client, form, "boss", RIGHT, attacker) == "in"


def test_an_address_guessing_many_accounts_is_stopped(client):
    for n in range(3):
        member(OrganisationFactory(), "admin", username=f"user-{n}")
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        assert attempt(client, "site", f"user-{n % 3}", "guess", "203.0.113.9") == "failed"
    assert attempt(client, "site", "user-2", RIGHT, "203.0.113.9") == "refused"
    assert attempt(client, "admin", "someone-else", RIGHT, "203.0.113.9") == "refused"


def test_a_few_mistakes_cost_nothing(client):
    member(OrganisationFactory(), "admin", username="clumsy", email="clumsy@example.org")
    for _ in range(2):  # a log-in forgets the account's mistakes from that address
        for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
            assert attempt(client, "site", "clumsy", f"typo-{n}", "192.0.2.1") == "failed"
        assert attempt(client, "site", "clumsy@example.org", RIGHT, "192.0.2.1") == "in"
    assert not AccessAttempt.objects.exists()


def test_logging_into_ones_own_account_does_not_reset_the_address(client):
    member(OrganisationFactory(), "admin", username="victim")
    member(OrganisationFactory(), "admin", username="attacker")
    for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert attempt(client, "admin", "victim", f"guess-{n}", "203.0.113.9") == "failed"
        assert attempt(client, "admin", "attacker", RIGHT, "203.0.113.9") == "in"
    assert attempt(client, "admin", "victim", "guess", "203.0.113.9") == "failed"
    assert attempt(client, "admin", "victim", RIGHT, "203.0.113.9") == "refused"


def test_refused_page_says_how_long_to_wait_and_what_sets_it(client):
    member(OrganisationFactory(), "admin", username="boss")
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        attempt(client, "admin", "boss", f"guess-{n}", "203.0.113.9")
    page = client.post("/admin/login/", {"username": "boss", "password": "x"},
                       REMOTE_ADDR="203.0.113.9")
    assert page.status_code == 429
    text = page.content.decode()
    assert "Too many failed log-ins; wait" in text and "LOGIN_FAILURE_LIMIT" in text
    assert "boss" not in text.split("<main>")[-1]  # nothing about the account guessed


def test_the_attempts_are_listed_in_the_admin(client):
    member(OrganisationFactory(), "admin", username="boss")
    attempt(client, "admin", "boss", "guess", "203.0.113.9")
    staff = member(OrganisationFactory(), "admin", username="root", is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and "203.0.113.9" in page.content.decode()


class LiveServer:
    """daphne on this test's database, as production runs it."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.log = open(tmp_path / "daphne.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "traptagger.asgi:application"],
            env=subprocess_env({"LOGIN_FAILURE_LIMIT": "10"}), stdout=self.log,
            stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("daphne did not start: " + (tmp_path / "daphne.log").read_text())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def post_login(url: str, username: str, password: str) -> int:
    """One browser's log-in: fetch the form (CSRF cookie and token), send it; the status."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/admin/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token, "next": "/admin/"}).encode()
    request = urllib.request.Request(url + "/admin/login/", data=body,
                                     headers={"Referer": url + "/admin/login/"})
    try:
        return opener.open(request, timeout=180).status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_thirty_wrong_passwords_in_parallel_are_counted_exactly(tmp_path):
    member(OrganisationFactory(), "admin", username="boss")
    server = LiveServer(tmp_path)
    try:
        with ThreadPoolExecutor(30) as pool:
            codes = list(pool.map(lambda n: post_login(server.url, "boss", f"guess-{n}"),
                                  range(30)))
        # Every attempt is counted, each once…
        counted = AccessAttempt.objects.aggregate(n=Sum("failures_since_start"))["n"]
        assert counted == 30, codes
        # …no more than the limit had their password checked (the login form again, 200),
        # the rest were refused before it (429)…
        assert codes.count(200) + codes.count(429) == 30 and codes.count(200) <= 10, codes
        # …and the address stays refused, the right password too.
        assert post_login(server.url, "boss", RIGHT) == 429
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_parallel_attempts_are_checked_and_counted_in_one_step(monkeypatch):
    """30 threads call authenticate() at once (password hashing lets them overlap): at most
    the limit get their password checked, as if they had come one after the other."""
    import threading

    from django.contrib.auth import authenticate
    from django.db import connection
    from django.test import RequestFactory

    from accounts.models import User

    member(OrganisationFactory(), "admin", username="boss")
    checked, lock = set(), threading.Lock()
    real_check = User.check_password

    def noting_check(user, raw_password):
        with lock:
            checked.add(raw_password)
        return real_check(user, raw_password)

    monkeypatch.setattr(User, "check_password", noting_check)
    factory = RequestFactory()

    def guess(n):
        try:
            request = factory.post("/admin/login/", REMOTE_ADDR="203.0.113.9")
            return authenticate(request, username="boss", password=f"guess-{n}")
        finally:
            connection.close()

    with ThreadPoolExecutor(30) as pool:
        assert not any(pool.map(guess, range(30)))
    counted = AccessAttempt.objects.aggregate(n=Sum("failures_since_start"))["n"]
    assert counted == 30
    assert 0 < len(checked) <= settings.LOGIN_FAILURE_LIMIT, len(checked)
