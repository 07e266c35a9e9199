from core.exceptions import UserError


class ClassifierError(UserError):
    """A model could not be loaded or used; the message says what to fix."""


class DetectionsFileError(ClassifierError):
    """A detections file (MegaDetector batch output) cannot be read or breaks the format.

    The message names the file, the field or record and what to do; nothing
    stored changes.
    """


class MaskError(ClassifierError):
    """A mask cannot be saved as given (its polygon is not a polygon over the image)."""
