from core.exceptions import UserError


class PipelineError(UserError):
    """The data pipeline cannot run as asked; the message names the option, file or column."""


class TrainingError(UserError):
    """A classifier cannot be trained as asked; the message names the file, row or option."""
