"""Errors a user can fix, and the one-line form every error takes for a person."""


class UserError(ValueError):
    """Bad input or settings, described in one line for the person who gave them."""


class SetupError(UserError):
    """Not bad usage but a failing environment (a Ray cluster that cannot start or be reached): one line too, and
    the commands exit 1, not 2."""


class Interrupted(Exception):
    """Raised inside the optimisation loop when a callback asks the run to stop (Ctrl-C, SIGTERM, a web page)."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when the message is empty."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class Converged(Exception):
    """Raised inside the optimisation loop when the loss stopped improving (--min-improvement over --patience)."""
