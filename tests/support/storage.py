"""A storage that refuses every write, as read-only credentials would."""

from django.core.files.storage import FileSystemStorage


class ReadOnlyStorage(FileSystemStorage):
    def _save(self, name, content):
        raise PermissionError(f"read-only storage: cannot write {name}")

    def delete(self, name):
        raise PermissionError(f"read-only storage: cannot delete {name}")
