"""Text files people give us: where one stops being UTF-8, said so that they can fix it.

A CSV saved by a spreadsheet in Latin-1 or Windows-1252 fails to decode deep inside
``csv``; the importers catch ``UnicodeDecodeError`` and raise their own UserError with
``not_utf8_message``, which names the byte, line and column (found by reading the
file again line by line: the error's own offset counts from the last buffer, not the
file, and a UTF-8 character never holds a newline byte, so lines decode on their own).
"""

from __future__ import annotations

from pathlib import Path

from .exceptions import UserError


def _where(raw: bytes, line: int) -> str | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{raw[exc.start]:02x} on line {line}, column {exc.start + 1}"
    return None


def utf8_problem(data: bytes) -> str | None:
    """Where ``data`` stops being UTF-8 ("byte 0xe9 on line 3, column 7"), or None."""
    for line, raw in enumerate(data.splitlines(keepends=True), start=1):
        if (problem := _where(raw, line)) is not None:
            return problem
    return None


def file_utf8_problem(path: Path) -> str | None:
    """Where the file stops being UTF-8, read line by line; None when it is UTF-8."""
    with open(path, "rb") as fh:
        for line, raw in enumerate(fh, start=1):
            if (problem := _where(raw, line)) is not None:
                return problem
    return None


def not_utf8_message(name: str, where: str | None) -> str:
    """The message for a file that is not UTF-8: what is wrong, where, what to do."""
    return (f"{name} is not UTF-8 text" + (f" ({where})" if where else "")
            + ". Save it as UTF-8 (in a spreadsheet: “CSV UTF-8”) and try again.")


# Strings from outside: valid UTF-8 text, no lone surrogates -------------------------
#
# Python strings can hold what no encoder accepts: a JSON escape "\ud800", or a
# file name or command-line argument whose bytes were not UTF-8 (Python keeps each
# bad byte as a surrogate, U+DC80-U+DCFF). Such a string crashes the database
# driver's encoder at the first write (MySQLdb raises UnicodeEncodeError), far from
# the input that carried it. Every input layer checks its strings here once and
# refuses with a message naming the field: websocket messages
# (core.consumers.parse_message), request query strings and bodies
# (core.middleware.TextInputMiddleware), command-line arguments (manage.py), import
# folder and file names (surveys.services.importing).


class BadText(UserError, ValueError):
    """A string from outside that is not valid UTF-8 text; the message names its field."""

    def __init__(self, field: str, what: str = "text that is not valid UTF-8"):
        self.field = field
        super().__init__(
            f"{field}: {what} (a lone surrogate, or bytes that are not UTF-8); "
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
