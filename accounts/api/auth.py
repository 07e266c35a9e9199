"""REST API authentication by personal token, and rate limits per token."""

import functools

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, throttling

from ..models import ApiToken
from ..services.api_tokens import token_for_key


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token tt_…``; the token's user acts, with their memberships."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the header as 'Authorization: Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not valid text.") from exc
        token = token_for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "Unknown or revoked token; make a new one in the admin (API tokens).")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


def token_or_login_required(view):
    """A plain view (a file download) that API clients reach with their token too.

    ``Authorization: Token …`` acts as the token's user, scoped by their memberships as
    the API is; a wrong or revoked token is a 401 naming the problem, never the login
    page. Without the header it is ``login_required`` (the session).
    """
    session_view = login_required(view)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            found = ApiTokenAuthentication().authenticate(request)
        except exceptions.AuthenticationFailed as exc:
            return JsonResponse({"detail": str(exc.detail)}, status=401,
                                headers={"WWW-Authenticate": ApiTokenAuthentication.keyword})
        if found is None:
            return session_view(request, *args, **kwargs)
        request.user = found[0]
        return view(request, *args, **kwargs)

    return wrapper


class TokenRateThrottle(throttling.SimpleRateThrottle):
    """Requests per token (or per signed-in user) in API_RATE_LIMIT, e.g. 600/min."""

    scope = "api"

    def get_rate(self):
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the schema describes the token (drf-spectacular finds it by target class)."""

    target_class = "accounts.api.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "Token-based: 'Token tt_…' (make one in the admin)."}
