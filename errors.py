"""The one exception type for mistakes a user can fix, and the one way to say an argument is wrong."""


class UserError(ValueError):
    """Bad input, a missing file, a refused overwrite: anything the user can act on.

    The CLI turns it into a one-line message and exit code 2; every other exception is a bug
    and keeps its traceback. It is a `ValueError`, so code that checks arguments the Python way
    (`except ValueError`) catches it too.
    """


def invalid_argument(argument: str | tuple[str, ...], expected: str, value=None, *, option: str | None = None,
                     received: str | None = None, error: type[ValueError] = UserError) -> ValueError:
    """The error for an argument outside what is allowed, in Keras' message shape.

    ``Invalid value received for argument `rate`. Expected a float between 0 and 1. Received: rate=1.5``

    Every such message is made here (tests/test_house_rules.py looks for inline copies).

    Args:
        argument: the argument's name, or the names of arguments checked together (shown `a`/`b`).
        expected: what is allowed, phrased to follow "Expected".
        value: what was received.
        option: the CLI option, when its name differs from the argument's (shown after it: `class_name` (--class)).
        received: what follows "Received: " when `argument=value` does not say it (several values, a count).
        error: the exception class. `UserError` (the default) for what a user gave, which the CLI shows as one
            line; plain `ValueError` for a library function's argument, where a wrong value is the calling
            code's bug and keeps its traceback.

    Returns:
        An `error` to raise.
    """
    names = (argument,) if isinstance(argument, str) else tuple(argument)
    name = "/".join(f"`{each}`" for each in names) + (f" ({option})" if option else "")
    shown = received if received is not None else f"{'/'.join(names)}={value!r}"
    return error(f"Invalid value received for argument {name}. Expected {expected}. Received: {shown}")
