"""Personal API tokens: made (the key shown once), checked, revoked."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from core.exceptions import AccessDenied

from ..models import ApiToken

PREFIX = "tt_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def do_create_api_token(user, name: str, *, acting_user) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it and its key (never stored, shown once).

    People make tokens for themselves; site staff for anyone.
    """
    if acting_user != user and not acting_user.is_superuser:
        raise AccessDenied("You can make API tokens only for yourself.")
    key = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name.strip() or "API token",
                                    key_hash=key_hash(key))
    return token, key


def do_revoke_api_tokens(tokens, *, acting_user) -> int:
    """Revoke ``tokens`` (a queryset) the acting user owns (staff: any); return how many."""
    if not acting_user.is_superuser:
        tokens = tokens.filter(user=acting_user)
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_for_key(key: str) -> ApiToken | None:
    """The live token with this key, its last use noted (at most once a minute)."""
    token = (ApiToken.objects.select_related("user")
             .filter(key_hash=key_hash(key), revoked_at__isnull=True).first())
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
