"""Websocket authentication from the session cookie, with its queries off the single thread.

Channels' AuthMiddleware loads the session and the user through
``database_sync_to_async``: on the one thread every such call of a process shares,
opening and closing a database connection each time. When hundreds of pages connect
at once those loads queue behind each other past daphne's handshake timeout. This
stack is Channels' own, with the load run on core.db_threads' pool (kept connections).
"""

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware

from .db_threads import in_db_thread


class PooledAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        scope["user"]._wrapped = await in_db_thread(get_user.func, scope)


def AuthMiddlewareStack(inner):  # noqa: N802 - Channels' name, for the same stack
    return CookieMiddleware(SessionMiddleware(PooledAuthMiddleware(inner)))
