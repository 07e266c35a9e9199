class ClassifierError(Exception):
    """A model could not be loaded or used; the message says what to fix."""
