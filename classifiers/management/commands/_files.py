"""What register_classifier and register_detector share: reading the files they are given."""

from pathlib import Path

from django.core.management.base import CommandError


def read_file(path: str, what: str) -> tuple[str, bytes]:
    """(file name, bytes) of the file given as --``what``; CommandError when there is none."""
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"--{what}: there is no file {path!r}.")
    return file.name, file.read_bytes()
