"""Errors meant for the user: the CLI prints them as one line naming the fix."""


class UserError(ValueError):
    """Bad input from the user (unknown id, malformed file, missing directory); message says the fix."""
