from core.exceptions import UserError


class ExportError(UserError):
    """An export cannot be made as asked; the message names the option or object to fix."""


class PackageError(UserError):
    """A Camtrap DP package cannot be imported; the message names the file, row and field."""
