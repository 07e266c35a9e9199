"""Authentication entry point: the login throttle, in front of every other backend."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied

from .services import login_throttle


class LoginThrottleBackend:
    """Refuses an attempt while its address or account must wait; lets others decide otherwise.

    Listed first in AUTHENTICATION_BACKENDS, so the Django admin's login and
    the site's login (allauth) are both throttled. Raising PermissionDenied
    stops Django from trying the other backends. It has no ``get_user``: it
    never logs anyone in, so sessions always name the backend that did.
    """

    def authenticate(self, request, **credentials):
        login = login_throttle.login_name(credentials)
        wait = login_throttle.login_wait(request, login)
        if wait > 0:
            if request is not None and hasattr(request, "_messages"):
                messages.error(request, f"Too many failed log-ins; wait {wait:.0f} s and try "
                                        "again.")
            raise PermissionDenied("login throttled")
        return None
