"""Receivers that stop websockets when a session or a right ends (accounts.events).

Revocation is pushed, not checked per message: these see every log-out and
every save and delete of users and memberships (admin, API, commands, cascades).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import receiver

from . import events
from .models import Membership

User = get_user_model()


@receiver(user_logged_out)
def stop_sockets_of_session(sender, request, user, **kwargs):
    # Sent before the session is flushed, so its key is still the one the
    # session's sockets joined with.
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        events.session_revoked(session.session_key)


@receiver(post_init, sender=User)
def remember_sign_in_state(sender, instance, **kwargs):
    # From __dict__: a deferred field must not cost a query per loaded user.
    instance._sign_in_state = (instance.__dict__.get("is_active"),
                               instance.__dict__.get("password"))


@receiver(post_save, sender=User)
def stop_sockets_of_disabled_user(sender, instance, created, **kwargs):
    was_active, password = getattr(instance, "_sign_in_state", (None, None))
    if not created and instance.pk and (
        (was_active and not instance.is_active)
        # A first password (none before) ends no session.
        or (password and instance.password != password)
    ):
        events.user_revoked(instance.pk)
    instance._sign_in_state = (instance.is_active, instance.password)


@receiver(post_delete, sender=User)
def stop_sockets_of_deleted_user(sender, instance, **kwargs):
    events.user_revoked(instance.pk)


@receiver(post_save, sender=Membership)
def recheck_sockets_of_changed_member(sender, instance, created, **kwargs):
    if not created:  # a new membership takes nothing away
        events.access_changed(instance.user_id, instance.organisation_id)


@receiver(post_delete, sender=Membership)
def recheck_sockets_of_removed_member(sender, instance, **kwargs):
    events.access_changed(instance.user_id, instance.organisation_id)
