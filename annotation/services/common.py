"""Rules every annotation service shares: who may change a survey's tasks, the special labels."""

from __future__ import annotations

from accounts.access import check_capability
from accounts.taxonomy import Capability
from core.exceptions import AccessDenied
from surveys.models import Survey

from ..exceptions import NotAllowed
from ..models import Label
from ..taxonomy import SPECIAL_LABELS


def ensure_special_labels() -> None:
    """Create the labels every task shares (Nothing, Unknown, …) if they are missing."""
    for name, hotkey, exclusive in SPECIAL_LABELS:
        Label.objects.get_or_create(
            task=None, parent=None, name=name,
            defaults={"hotkey": hotkey, "exclusive": exclusive},
        )


def check_may_change(user, survey: Survey, action: str) -> None:
    """Raise NotAllowed unless ``user`` may change the survey's tasks.

    ``user`` None is an operator at the command line (as in surveys.services.surveys),
    who may; every view and admin action passes the request's user.
    """
    if user is None:
        return
    try:
        check_capability(user, survey, Capability.CHANGE)
    except AccessDenied as exc:
        raise NotAllowed(
            f"Only admins and writers of the survey's organisation {action}.") from exc
