from core.exceptions import UserError


class ClassifierError(UserError):
    """A model could not be loaded or used; the message says what to fix."""
