"""Errors a user can fix: the command line prints them as one line and exits 2."""


class UserError(ValueError):
    """Bad input or settings, described in one line for the person who gave them."""


class Interrupted(Exception):
    """Raised inside the optimisation loop when SIGINT or SIGTERM arrives."""
