"""Storage helpers: the one place that asks what kind of storage holds the files."""

from __future__ import annotations

from django.core.files.storage import default_storage


def local_path(key: str) -> str | None:
    """The file's path on this machine, or None when the storage is remote (S3)."""
    try:
        return default_storage.path(key)
    except NotImplementedError:
        return None


def url(key: str) -> str:
    """A URL for the object (signed on S3)."""
    return default_storage.url(key)
