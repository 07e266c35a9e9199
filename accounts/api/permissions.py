"""Who may call the REST API: the access gateway's capabilities, for every view at once.

Listed as DRF's default permission class, so every endpoint (and every one added later)
is checked here before a body is read: reads need the view's ``capability`` (VIEW), every
write (POST, PUT, PATCH, DELETE) the view's ``write_capability`` (CHANGE unless a view
says otherwise), both from accounts.taxonomy's matrix. Objects named in a write's URL are
checked against the write capability too; objects named in its body go through
``ScopedViewSet.scoped``. Services check again (they serve the admin and commands too).
"""

from rest_framework import permissions

from ..access import check_capability, check_capability_anywhere
from ..taxonomy import Capability


def write_capability(view) -> str:
    return getattr(view, "write_capability", Capability.CHANGE)


class HoldsCapability(permissions.IsAuthenticated):
    """Signed in; and, for a write, holding the view's write capability."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if request.method not in permissions.SAFE_METHODS:
            check_capability_anywhere(request.user, write_capability(view))
        return True

    def has_object_permission(self, request, view, obj):
        if request.method not in permissions.SAFE_METHODS:
            check_capability(request.user, obj, write_capability(view))
        return True
