from core.exceptions import AccessDenied, UserError


class AnnotationError(UserError):
    """A rule of annotation was broken; the message is for the annotator."""


class StaleLease(AnnotationError):
    """The cluster is no longer leased to this annotator; the write is refused."""


class NotAllowed(AnnotationError, AccessDenied):
    pass
