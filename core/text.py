"""The one check that text from outside is text: valid UTF-8, no lone surrogates.

Python strings can hold what no encoder accepts: a JSON escape ``"\\ud800"``,
or a file name whose bytes were not UTF-8 (``os.fsdecode`` keeps each bad
byte as a surrogate, U+DC80-U+DCFF). Such a string crashes the database
driver's encoder at the first write (MySQLdb raises UnicodeEncodeError), far
from the input that carried it. Every input layer (websocket messages,
request bodies and query strings, import file names, package and CSV cells)
checks its strings here once, and refuses with a message naming the field.
"""

from __future__ import annotations

from .exceptions import UserError


class BadText(UserError, ValueError):
    """A string from outside that is not valid UTF-8 text; the message names its field."""

    def __init__(self, field: str, what: str = "text that is not valid UTF-8"):
        self.field = field
        super().__init__(
            f"{field} holds {what} (a lone surrogate or bytes that are not UTF-8): "
            "send it as UTF-8 text.")


def is_text(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8 (no lone surrogates)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: str, field: str) -> str:
    """``value`` unchanged; BadText naming ``field`` if it holds a lone surrogate."""
    if not is_text(value):
        raise BadText(field)
    return value


def decode_text(raw: bytes, field: str) -> str:
    """``raw`` decoded as UTF-8 (strict: no bad bytes, no encoded surrogates); else BadText."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadText(field) from exc


def check_strings(value, field: str = "the message") -> None:
    """BadText for the first string (key or value) in a JSON-like ``value`` that is not text.

    The error names where it is: ``note``, ``labels[2]``, ``rows[0].name``.
    """
    stack = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                name = check_text(str(key), f"a field name in {where}")
                stack.append((child, name if where == field else f"{where}.{name}"))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
