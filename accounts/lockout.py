"""Password guessing stopped on every login form: django-axes, and the glue it needs.

django-axes does the work (settings AXES_*): its backend refuses a locked-out attempt
before any password is checked, its middleware answers with our page, its database
handler keeps the attempts (the admin lists them under Axes) and forgets them after the
cool-off. Lockout is per address (any accounts) and per account from that address,
never per account alone: a stranger elsewhere cannot lock the owner out, and one who
shares the owner's address only for LOGIN_COOLOFF_MINUTES.

What we add is ``AtomicAttemptHandler``. Axes checks the count before the password and
records the failure after it: 30 wrong passwords sent in parallel were all checked (none
refused; our earlier cache throttle also counted only 17 of them). Here each attempt is
counted *before* its password is checked (an atomic ``failures + 1`` on its row, committed
at once) and then allowed only if the count it reads is within LOGIN_FAILURE_LIMIT. The
k-th increment to commit reads at least k, so at most LOGIN_FAILURE_LIMIT passwords are
checked per address in a cool-off whatever the concurrency, and every attempt is counted
exactly once.
"""

from __future__ import annotations

from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit, get_query_str
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import F
from django.shortcuts import render
from django.utils import timezone


def login_name(request, credentials: dict | None) -> str:
    """The account a login form named: the admin sends ``username``, allauth ``login``
    (its backend is called with ``username`` or ``email``). Case does not make a new
    account for counting."""
    found = None
    if credentials:
        found = (credentials.get("username") or credentials.get("email")
                 or credentials.get("login"))
    if found is None and request is not None:
        data = getattr(request, "data", None) or request.POST
        found = data.get("login") or data.get("username")
    # "" rather than None: one row per address for nameless attempts (NULLs are not unique).
    return str(found).strip().lower()[:255] if found else ""


def cool_off(request=None) -> timedelta:
    return timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)


def lockout_response(request, original_response=None, credentials=None):
    """The page a refused log-in gets (429): how long to wait, and what sets it."""
    context = {"failure_limit": get_failure_limit(request, credentials),
               "minutes": f"{settings.LOGIN_COOLOFF_MINUTES:g}"}
    return render(request, "accounts/lockout.html", context,
                  status=settings.AXES_HTTP_RESPONSE_CODE)


class AtomicAttemptHandler(AxesDatabaseHandler):
    """Axes' database handler, each attempt counted before it is checked (see above).

    A refused attempt stays counted, so a burst leaves as many failures as attempts. A
    successful log-in removes the account's failures from that address (never other
    accounts' rows, or an attacker could reset the address's count by logging into an
    account of their own). An ``authenticate()`` that succeeds without logging in (none
    of our forms does) would leave its attempt counted.
    """

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if not settings.AXES_LOCK_OUT_AT_FAILURE:
            return False
        fields = {"get_data": get_query_str(request.GET).replace("\0", "0x00"),
                  "post_data": get_query_str(request.POST).replace("\0", "0x00"),
                  "http_accept": request.axes_http_accept,
                  "path_info": request.axes_path_info}
        # One row per (account, address, user agent), unique in the database: a parallel
        # create of the same row loses the race and gets the winner's row.
        row, created = AccessAttempt.objects.get_or_create(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address, user_agent=request.axes_user_agent,
            defaults={**fields, "failures_since_start": 1})
        if not created:
            AccessAttempt.objects.filter(pk=row.pk).update(
                failures_since_start=F("failures_since_start") + 1,
                attempt_time=timezone.now(), **fields)
        return self.get_failures(request, credentials) > get_failure_limit(request, credentials)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        """The attempt is already counted (is_locked); only say whether it was refused."""
        if request is None:
            return
        self.clean_expired_user_attempts(request, credentials)
        if getattr(request, "axes_locked_out", False):
            request.axes_credentials = credentials
            user_locked_out.send("axes", request=request,
                                 username=get_client_username(request, credentials),
                                 ip_address=request.axes_ip_address)

    def user_logged_in(self, sender, request, user, **kwargs):
        super().user_logged_in(sender, request, user, **kwargs)
        names = {user.get_username().lower(), (user.email or "").lower()} - {""}
        AccessAttempt.objects.filter(username__in=names,
                                     ip_address=request.axes_ip_address).delete()
