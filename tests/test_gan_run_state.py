"""GAN training state saved and restored by variable path: a changed order still restores right, a mismatch is refused by name."""

import numpy as np
import pytest

from xgan.errors import UserError
from xgan.gan import run_state
from xgan.gan.config import GanConfig
from xgan.gan.fit import build_model
from xgan.runtime.variable_state import variable_names


def _model(seed):
    return build_model(GanConfig(image_size=32, width=8, batch_size=4, seed=seed), np.zeros((8, 32, 32), np.uint8))


def _values(model):
    return {prefix: {name: np.array(variable.numpy()) for name, variable in
                     zip(variable_names(variables, prefix in run_state.OPTIMIZER_GROUPS), variables)}
            for prefix, variables in run_state.training_state_groups(model).items()}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A state file of a model of seed 1 whose optimizer moments are not zero, and that model's values by name."""
    run_dir = tmp_path_factory.mktemp("run")
    model = _model(1)
    for variable in model.g_optimizer.variables + model.d_optimizer.variables:
        variable.assign(np.random.default_rng(len(variable.path)).random(variable.shape).astype(variable.dtype))
    run_state.save_training_state(run_dir, model, epoch=3, history=[])
    return run_dir, _values(model)


def _assert_restored(model, expected):
    for prefix, values in _values(model).items():
        for name, value in values.items():
            np.testing.assert_array_equal(value, expected[prefix][name], err_msg=f"{prefix}/{name}")


def test_the_state_is_keyed_by_group_and_variable_path(saved):
    run_dir, _ = saved
    arrays, _ = run_state.read_arrays(run_dir / run_state.STATE_FILE)
    assert {"generator/up1_bn/gamma", "generator/up1_bn/moving_variance", "discriminator/down2_bn/beta",
            "g_optimizer/adam/up1_kernel_momentum", "d_optimizer/adam/iteration", "seed/training_seed/seed_generator_state"} <= set(arrays)


def test_a_model_made_later_in_the_process_restores_every_variable(saved):
    run_dir, expected = saved
    model = _model(2)  # its optimizers are adam_2 and adam_3 in this process: the number is not part of the name
    assert model.g_optimizer.variables[0].path.split("/")[0] != "adam"
    run_state.restore_training_state(run_dir, model)
    _assert_restored(model, expected)


def test_variables_listed_in_another_order_get_their_own_arrays(saved, monkeypatch):
    run_dir, expected = saved
    model = _model(2)
    groups = run_state.training_state_groups(model)
    monkeypatch.setattr(run_state, "training_state_groups", lambda m: {k: list(reversed(v)) for k, v in groups.items()})
    run_state.restore_training_state(run_dir, model)
    _assert_restored(model, expected)


@pytest.mark.parametrize("change, message", [
    ("drop", r"\(generator\): holds no array for variable 'up1_bn/gamma'"),
    ("extra", r"\(generator\): holds variable 'up1_bn/gamma_old', which the model does not have"),
    ("reshape", r"\(generator\): variable 'up1_bn/gamma' has shape \(3,\); the model expects \(16,\)"),
])
def test_a_mismatch_is_refused_by_name_and_nothing_is_assigned(saved, tmp_path, change, message):
    run_dir, _ = saved
    arrays, meta = run_state.read_arrays(run_dir / run_state.STATE_FILE)
    if change == "drop":
        del arrays["generator/up1_bn/gamma"]
    elif change == "extra":
        arrays["generator/up1_bn/gamma_old"] = arrays["generator/up1_bn/gamma"]
    else:
        arrays["generator/up1_bn/gamma"] = arrays["generator/up1_bn/gamma"][:3]
    run_state.write_arrays(tmp_path / run_state.STATE_FILE, arrays, meta)
    model = _model(2)
    before = _values(model)["generator"]
    with pytest.raises(UserError, match=message):
        run_state.restore_training_state(tmp_path, model)
    after = _values(model)["generator"]
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_a_positional_state_file_of_before_still_restores(saved, tmp_path):
    run_dir, expected = saved
    source = _model(1)
    for prefix, variables in run_state.training_state_groups(source).items():
        for name, variable in zip(variable_names(variables, prefix in run_state.OPTIMIZER_GROUPS), variables):
            variable.assign(expected[prefix][name])
    old = {f"{prefix}.{index:04d}": np.asarray(variable.numpy())  # how xgan wrote state files before
           for prefix, variables in run_state.training_state_groups(source).items() for index, variable in enumerate(variables)}
    run_state.write_arrays(tmp_path / run_state.STATE_FILE, old, {"epoch": 3, "step": 0, "history": []})
    model = _model(2)
    assert run_state.restore_training_state(tmp_path, model)["epoch"] == 3
    _assert_restored(model, expected)
