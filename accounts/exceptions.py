from core.exceptions import AccessDenied, UserError


class AccountsError(UserError):
    """A rule of the accounts domain was broken; the message is for the user."""


class PermissionDenied(AccountsError, AccessDenied):
    pass


class DuplicateOrganisation(AccountsError):
    pass
