"""errors.invalid_argument: the one argument-check message, for a user's input and for a library caller's."""

import pytest

from xgan.errors import UserError, invalid_argument


def test_a_user_input_gets_a_user_error_in_keras_shape():
    error = invalid_argument("rate", "a float between 0 and 1", 1.5)
    assert type(error) is UserError
    assert str(error) == "Invalid value received for argument `rate`. Expected a float between 0 and 1. Received: rate=1.5"


def test_a_library_argument_gets_a_plain_value_error_that_the_cli_does_not_take_for_a_user_mistake():
    error = invalid_argument("name", "one of a, b", "c", error=ValueError)
    assert type(error) is ValueError and not isinstance(error, UserError)
    with pytest.raises(ValueError, match=r"^Invalid value received for argument `name`\. Expected one of a, b\. Received: name='c'$"):
        raise error


@pytest.mark.parametrize("arguments, received, message", [
    (("negative", "positive"), "0 and 3 scores", "`negative`/`positive`. Expected x. Received: 0 and 3 scores"),
    (("size",), None, "`size`. Expected x. Received: size=7"),
    ("size", "size=7 (odd)", "`size`. Expected x. Received: size=7 (odd)"),
])
def test_several_arguments_are_named_together(arguments, received, message):
    error = invalid_argument(arguments, "x", 7, received=received, error=ValueError)
    assert str(error) == "Invalid value received for argument " + message


def test_the_option_follows_the_argument():
    error = invalid_argument("class_name", "a class of the folder", "cat", option="--class")
    assert str(error).startswith("Invalid value received for argument `class_name` (--class). Expected")
