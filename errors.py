"""The one exception type for mistakes a user can fix, and the one way to say an argument is wrong."""


class UserError(ValueError):
    """Bad input, a missing file, a refused overwrite: anything the user can act on.

    The CLI turns it into a one-line message and exit code 2; every other exception is a bug
    and keeps its traceback. It is a `ValueError`, so code that checks arguments the Python way
    (`except ValueError`) catches it too.
    """


def invalid_argument(argument: str, expected: str, value) -> UserError:
    """The error for an argument outside what is allowed, in Keras' message shape.

    ``Invalid value received for argument `rate`. Expected a float between 0 and 1. Received: rate=1.5``

    Args:
        argument: the argument's name (add the CLI option in parentheses when it differs).
        expected: what is allowed, phrased to follow "Expected".
        value: what was received.

    Returns:
        A `UserError` to raise.
    """
    return UserError(f"Invalid value received for argument `{argument}`. Expected {expected}. Received: {argument}={value!r}")
