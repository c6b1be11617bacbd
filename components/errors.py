"""The one exception type whose message is meant for the user, never a traceback."""


class ModpipeError(Exception):
    """Bad input or a failed precondition; the CLI prints the message and exits non-zero."""
