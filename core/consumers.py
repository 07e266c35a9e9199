"""The apps' websocket consumers stand on this: the socket's life, and refusing,
parsing and pacing input.

``MemberConsumer`` ties a socket to the session and the memberships that let
it open. On connect it joins two groups, ``user.<id>`` and ``session.<key>``;
accounts.events sends them

``session.revoked``  {}                  the session logged out, or the user was
                                         deactivated or deleted: close 4401
``access.changed``   {organisation_id}   a membership there changed or went: the
                                         consumer asks the access gateway again
                                         and closes 4403 if it lost its right

so that a socket stops when its session or right ends without a query per
message. Whatever way a socket ends (closed by the page, refused, revoked, a
crash, the channel layer failing under it), ``release()`` runs once.
"""

import asyncio
import json
import logging
import time

from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .broadcast import relay
from .text import BadText, check_strings

logger = logging.getLogger(__name__)
# How long a socket that is ending waits for the channel layer to let it
# leave its groups; a layer that is down must not hold up the rest.
LEAVE_GROUPS_SECONDS = 2
# Close codes of a page that closed its socket on purpose (closed or left the page).
NORMAL_CLOSES = (1000, 1001)


def user_group(user_id: int) -> str:
    """The channel-layer group of every socket of one user."""
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    """The channel-layer group of the sockets opened under one login session."""
    return f"session.{session_key}"


class MemberConsumer(AsyncJsonWebsocketConsumer):
    """A socket of a logged-in member: stops when the session or the right to it ends.

    Subclasses call ``join_member_groups()`` once the user passed their
    access check, set ``organisation_id`` to the organisation whose data
    the socket serves, and override ``still_allowed()`` (asked again on
    ``access.changed``) and ``release()`` (what to give back when the socket ends).
    """

    organisation_id: int | None = None

    async def __call__(self, scope, receive, send):
        self.member_groups: list[str] = []
        self.ending = False
        self._released = False
        # Whether the socket dropped (a network fault, the server or channel layer
        # failing) rather than being closed by the page or stopped by a revocation:
        # the page will reconnect, so what it held is given back after a grace.
        self.dropped = True
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Runs on every exit: a normal close, a revocation, an exception in
            # a handler, the channel layer's receive failing (Redis gone), or
            # the server cancelling the consumer. websocket_disconnect does
            # not run in most of these.
            await self._wind_up()

    async def join_member_groups(self) -> None:
        """Join the user's and the session's groups (revocations arrive there)."""
        user, session = self.scope["user"], self.scope.get("session")
        groups = [user_group(user.pk)]
        if session is not None and session.session_key:
            groups.append(session_group(session.session_key))
        for group in groups:
            await self.join_group(group)
        relay.ensure_running()  # embedded mode: events of other processes come from the outbox

    async def join_group(self, group: str) -> None:
        """Join ``group``; the socket leaves it however it ends."""
        self.member_groups.append(group)
        await self.channel_layer.group_add(group, self.channel_name)

    async def still_allowed(self) -> bool:
        """Whether the user still holds the right this socket was opened with."""
        return False

    async def release(self) -> None:
        """Give back what this socket holds; called once when it ends, by whatever path
        (``dropped`` says whether the page is likely to come back)."""

    async def end(self, code: int) -> None:
        """Stop taking messages, give back what is held, and close with ``code``."""
        self.ending = True
        self.dropped = False
        await self._release_once()
        await self.close(code=code)

    async def session_revoked(self, event):
        await self.end(4401)

    async def access_changed(self, event):
        if self.ending or event.get("organisation_id") != self.organisation_id:
            return
        if not await self.still_allowed():
            await self.end(4403)

    async def dispatch(self, message):
        """Channels' dispatch without its per-message ``close_old_connections`` (a hop to
        the process's one database thread for every frame, queued behind every other
        socket's): the consumers' database work runs on core.db_threads, whose threads
        keep and check their own connections, or through ``database_sync_to_async``,
        which closes old connections around each call itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_receive(self, message):
        if self.ending:  # frames already queued when the socket was revoked
            return
        await super().websocket_receive(message)

    async def websocket_disconnect(self, message):
        # Channels' own version leaves static groups first and never reaches
        # disconnect() when that raises (the channel layer is down).
        self.dropped = message.get("code") not in NORMAL_CLOSES
        await self._wind_up()
        await self.disconnect(message["code"])
        await aclose_old_connections()
        raise StopConsumer()

    async def _release_once(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            await self.release()
        except Exception:  # the rest of the wind-up still runs; leases then expire
            logger.exception("socket of user %s could not release what it held",
                             getattr(self.scope.get("user"), "pk", None))

    async def _wind_up(self) -> None:
        self.ending = True
        await self._release_once()
        groups, self.member_groups = self.member_groups, []
        if not groups:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(
                self.channel_layer.group_discard(group, self.channel_name) for group in groups
            )), LEAVE_GROUPS_SECONDS)
        except Exception as exc:  # the layer's group expiry drops them later
            logger.warning("socket could not leave its groups %s: %r", groups, exc)


async def refuse(consumer, code: int) -> None:
    """Accept then close, so that the browser sees why (4401 log in, 4403 not allowed).

    Closing before accepting would reject the handshake and lose the code.
    """
    await consumer.accept()
    await consumer.close(code=code)


class BadMessage(ValueError):
    """A websocket message that cannot be taken; the text says why (sent to the page)."""


MAX_MESSAGE_CHARS = 16_384
MAX_DEPTH = 8
MAX_ID = 2**63 - 1


def _reject_constant(name: str):
    raise BadMessage(f"{name} is not a number this server accepts.")


def parse_message(text_data: str | None, bytes_data: bytes | None = None) -> dict:
    """The JSON object of one websocket frame; BadMessage for anything else.

    Binary frames, oversized or deeply nested messages, NaN/Infinity,
    strings that are not UTF-8 text (a ``"\\ud800"`` escape) and anything
    but an object with a text ``type`` are refused.
    """
    if text_data is None:
        raise BadMessage("Send JSON text frames, not binary ones.")
    if len(text_data) > MAX_MESSAGE_CHARS:
        raise BadMessage(f"A message may hold at most {MAX_MESSAGE_CHARS} characters.")
    try:
        content = json.loads(text_data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # the parser refuses very deep nesting itself
        raise BadMessage("The message is not valid JSON.") from exc
    if _deeper_than(content, MAX_DEPTH):
        raise BadMessage("The message is nested too deeply.")
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise BadMessage("A message is a JSON object with a text 'type'.")
    try:
        check_strings(content)
    except BadText as exc:
        raise BadMessage(str(exc)) from exc
    return content


def _deeper_than(value, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels deep."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level if isinstance(item, dict | list)
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


def parse_id(value) -> int:
    """A database id from a message: a positive integer within 64 bits (not a float or bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise BadMessage(f"{value!r} is not a valid id.")
    return value


class RateLimit:
    """A token bucket per socket: ``rate`` messages a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.refused = 0

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.refused += 1
        return False
