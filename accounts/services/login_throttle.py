"""Slowing down password guessing, on every login form, without locking owners out.

Failed log-ins are counted per client address and per account name in the
cache (shared through Redis in production). Past a few free failures each
further attempt must wait a delay that doubles with every failure: up to
15 minutes for an address, but at most ``ACCOUNT_MAX_DELAY`` for an account,
so that a stranger guessing someone's password slows that account down but
cannot lock its owner out. A successful log-in clears both counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache

WINDOW_SECONDS = 3600  # counts are forgotten an hour after the last failure
ADDRESS_FREE, ADDRESS_MAX_DELAY = 10, 15 * 60
ACCOUNT_FREE, ACCOUNT_MAX_DELAY = 5, 30


@dataclass(frozen=True)
class Throttle:
    key: str
    free: int
    max_delay: int

    def wait(self) -> float:
        """Seconds before the next attempt is allowed (0: now)."""
        state = cache.get(self.key)
        return max(0.0, state["until"] - time.time()) if state else 0.0

    def fail(self) -> None:
        state = cache.get(self.key) or {"count": 0, "until": 0.0}
        state["count"] += 1
        over = state["count"] - self.free
        if over > 0:
            state["until"] = time.time() + min(2 ** (over - 1), self.max_delay)
        cache.set(self.key, state, WINDOW_SECONDS)

    def clear(self) -> None:
        cache.delete(self.key)


def client_address(request) -> str:
    """The client's address (daphne sets it from X-Forwarded-For with --proxy-headers)."""
    return (request.META.get("REMOTE_ADDR") or "unknown") if request is not None else "unknown"


def throttles_for(request, login: str | None) -> list[Throttle]:
    found = [Throttle(f"login-throttle:addr:{client_address(request)}",
                      ADDRESS_FREE, ADDRESS_MAX_DELAY)]
    if login:
        found.append(Throttle(f"login-throttle:acct:{login.strip().lower()[:150]}",
                              ACCOUNT_FREE, ACCOUNT_MAX_DELAY))
    return found


def login_wait(request, login: str | None) -> float:
    """Seconds this client must wait before trying ``login`` again (0: it may try now)."""
    return max(t.wait() for t in throttles_for(request, login))


def record_failure(request, login: str | None) -> None:
    for throttle in throttles_for(request, login):
        throttle.fail()


def record_success(request, login: str | None) -> None:
    for throttle in throttles_for(request, login):
        throttle.clear()


def login_name(credentials: dict) -> str | None:
    """The account name a login form sent (username or email)."""
    return credentials.get("username") or credentials.get("email") or credentials.get("login")
