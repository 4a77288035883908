"""The one exception type for mistakes a user can fix."""


class UserError(Exception):
    """Bad input, a missing file, a refused overwrite: anything the user can act on.

    The CLI turns it into a one-line message and exit code 2; every other exception is a bug
    and keeps its traceback.
    """
