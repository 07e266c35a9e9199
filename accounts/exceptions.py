class AccountsError(Exception):
    """A rule of the accounts domain was broken; the message is for the user."""


class PermissionDenied(AccountsError):
    pass


class DuplicateOrganisation(AccountsError):
    pass
