"""Outgoing mail from one setting, ``EMAIL_URL`` (django-environ's ``email_url``).

``smtp+tls://user:password@mail.example.org:587`` (STARTTLS), ``smtp+ssl://…:465``,
``smtp://host:25``, ``consolemail://`` (the default: mail is written to the log),
``filemail:///path``, ``dummymail://`` (dropped). A password holding ``@``, ``:`` or
``/`` is written percent-encoded (``%40``, ``%3A``, ``%2F``).

A malformed URL is not a traceback: ``email_settings`` returns a one-line problem
(the URL shown without its user name and password) that the start-up checks
report (core.startup, and a system check for manage.py).
"""

from __future__ import annotations

import environ
from django.core.exceptions import ImproperlyConfigured

CONSOLE = "django.core.mail.backends.console.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


def shown(url: str) -> str:
    """``url`` without its user name and password."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(not a URL)"
    host = rest.rpartition("@")[2] if "@" in rest else rest
    return f"{scheme}://{'…@' if '@' in rest else ''}{host}"


def email_settings(url: str) -> tuple[dict, str | None]:
    """(Django EMAIL_* settings, None) for a good ``url``; ({}, one-line problem) if not."""
    problem = None
    try:
        config = environ.Env.email_url_config(url)
    except ImproperlyConfigured:
        problem = f"the scheme {url.partition('://')[0]!r} is not one of smtp, smtp+tls, " \
                  "smtp+ssl, consolemail, filemail, dummymail"
    except ValueError:
        problem = "the port is not a number"
    else:
        if config.get("EMAIL_BACKEND") == SMTP and not config.get("EMAIL_HOST"):
            problem = "it names no mail server host"
    if "://" not in url:
        problem = "it is not a URL"
    if problem:
        return {}, (f"EMAIL_URL {shown(url)} cannot be used: {problem}. Write it as "
                    "smtp+tls://user:password@mail.example.org:587 (percent-encode @ : / "
                    "in the password), or consolemail:// to write mail to the log.")
    return config, None
