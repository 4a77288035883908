"""Variables to arrays by path and back (runtime/variable_state.py): order-free, mismatches refused by name."""

import keras
import numpy as np
import pytest

from xgan.runtime.variable_state import assign_named, named_arrays, variable_names


def _layer(name, size=3):
    layer = keras.layers.BatchNormalization(name=name)
    layer.build((None, size))
    for index, variable in enumerate(layer.weights):
        variable.assign(np.full(size, index + 1.0, np.float32))
    return layer


def test_same_shaped_variables_listed_in_another_order_get_their_own_arrays():
    saved = named_arrays(_layer("bn").weights)
    assert sorted(saved) == ["bn/beta", "bn/gamma", "bn/moving_mean", "bn/moving_variance"]
    target = keras.layers.BatchNormalization(name="bn")
    target.build((None, 3))
    assign_named(list(reversed(target.weights)), saved, "test")
    for variable in target.weights:
        np.testing.assert_array_equal(variable.numpy(), saved[variable.path])


def test_a_repeated_path_is_numbered_and_an_optimizer_name_loses_its_number():
    class Fake:
        def __init__(self, path):
            self.path = path

    assert variable_names([Fake("a/w"), Fake("a/w"), Fake("b/w")]) == ["a/w", "a/w#2", "b/w"]
    assert variable_names([Fake("adam_12/iteration"), Fake("loss_scale_optimizer_3/dynamic_scale")], optimizer=True) == [
        "adam/iteration", "loss_scale_optimizer/dynamic_scale"]


@pytest.mark.parametrize("change, message", [
    ("drop", r"^the file: holds no array for variable 'bn/gamma'"),
    ("extra", r"^the file: holds variable 'bn/other', which the model does not have$"),
    ("shape", r"^the file: variable 'bn/gamma' has shape \(2,\); the model expects \(3,\)$"),
])
def test_a_mismatch_is_refused_by_name_before_anything_is_assigned(change, message):
    saved = named_arrays(_layer("bn").weights)
    if change == "drop":
        del saved["bn/gamma"]
    elif change == "extra":
        saved["bn/other"] = saved["bn/beta"]
    else:
        saved["bn/gamma"] = saved["bn/gamma"][:2]
    saved = {name: value * 10 for name, value in saved.items()}
    target = _layer("bn")
    with pytest.raises(ValueError, match=message):
        assign_named(target.weights, saved, "the file")
    assert [float(v.numpy()[0]) for v in target.weights] == [1.0, 2.0, 3.0, 4.0]
