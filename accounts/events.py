"""Websocket events about a person's sessions and rights (core.consumers.MemberConsumer).

Sent through core.broadcast, after the change commits, from whichever process
made it (the web server at log-out, the admin, a command or a worker).
"""

from core.broadcast import broadcast
from core.consumers import session_group, user_group


def session_revoked(session_key: str) -> None:
    """The sockets opened under this login session stop (it logged out)."""
    broadcast(session_group(session_key), {"type": "session.revoked"})


def user_revoked(user_id: int) -> None:
    """Every socket of the user stops (deactivated, deleted, or the password changed)."""
    broadcast(user_group(user_id), {"type": "session.revoked"})


def access_changed(user_id: int, organisation_id: int) -> None:
    """The user's membership of the organisation changed or ended: sockets check again."""
    broadcast(user_group(user_id), {"type": "access.changed",
                                    "organisation_id": organisation_id})
