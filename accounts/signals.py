"""Receivers: count failed and successful log-ins for the login throttle."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from .services import login_throttle


@receiver(user_login_failed)
def count_failed_login(sender, credentials, request=None, **kwargs):
    login_throttle.record_failure(request, login_throttle.login_name(credentials))


@receiver(user_logged_in)
def clear_login_failures(sender, request, user, **kwargs):
    login_throttle.record_success(request, user.get_username())
    if user.email:
        login_throttle.record_success(request, user.email)
