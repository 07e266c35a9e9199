"""Helpers for the apps' websocket consumers: refusing, parsing and pacing input."""

import json
import time


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

    Binary frames, oversized or deeply nested messages, NaN/Infinity and
    anything but an object with a text ``type`` are refused.
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
