"""The base of every error a user can act on.

Each app's domain errors derive from ``UserError``. Its message is written for
the person who must act (name the file, field or object and what to do), so
edges show it as it is; the pipeline conductor records it as a failed stage's
detail without a traceback.
"""


class UserError(Exception):
    """An error whose message tells a user what went wrong and what to do."""


class AccessDenied(UserError):
    """The acting user lacks the capability (see accounts.access)."""
