from core.exceptions import UserError


class SurveyError(UserError):
    """A rule of the surveys domain was broken; the message is for the user."""


class ImportSourceError(SurveyError):
    pass


class UnreadableImage(SurveyError):
    """One file could not be taken; recorded as an ImportIssue, the import goes on.

    ``hint`` says what a person can do about it (services.hints)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint
