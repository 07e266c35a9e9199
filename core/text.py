"""Text files people give us: where one stops being UTF-8, said so that they can fix it.

A CSV saved by a spreadsheet in Latin-1 or Windows-1252 fails to decode deep inside
``csv``; the importers catch ``UnicodeDecodeError`` and raise their own UserError with
``not_utf8_message``, which names the byte, line and column (found by reading the
file again line by line: the error's own offset counts from the last buffer, not the
file, and a UTF-8 character never holds a newline byte, so lines decode on their own).
"""

from __future__ import annotations

from pathlib import Path


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
