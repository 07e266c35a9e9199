from core.exceptions import UserError


class InsightsInputError(UserError):
    """A filter of the insights page cannot be used; ``field`` names which one."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
