"""Model and optimizer variables as arrays named by their path, and back: a mismatch is refused by name.

Restoring by position trusts that a model lists its variables in the order it did when it was saved;
batch normalization's gamma, beta, mean and variance share a shape, so a changed order (a Keras upgrade,
another strategy on resume) would restore the wrong arrays without a word. Names do not depend on the order.
"""

import re

import numpy as np

_NUMBERED = re.compile(r"_\d+$")


def variable_names(variables, optimizer: bool = False) -> list[str]:
    """A stable name per variable: its Keras path (`up1_bn/gamma`), `#2`, `#3`... added to a repeated path.

    Args:
        optimizer: the variables are an optimizer's. Their path starts with the optimizer's own name,
            which Keras numbers in the order optimizers are created in a process (`adam`, `adam_1`):
            that number is dropped, so a state saved by one process restores in another.
    """
    names, seen = [], {}
    for variable in variables:
        name = variable.path
        if optimizer and "/" in name:
            head, rest = name.split("/", 1)
            name = f"{_NUMBERED.sub('', head)}/{rest}"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return names


def named_arrays(variables, optimizer: bool = False) -> dict[str, np.ndarray]:
    """{name (see `variable_names`): the variable's value as a numpy array}."""
    variables = list(variables)
    return {name: np.asarray(variable.numpy()) for name, variable in zip(variable_names(variables, optimizer), variables)}


def assign_named(variables, arrays: dict[str, np.ndarray], where: str, optimizer: bool = False) -> None:
    """Assign each variable the array of its name; nothing is assigned unless every name and shape matches.

    Args:
        where: what holds the arrays, for the message (a file, "the best epoch's weights").

    Raises:
        ValueError: one line naming the first variable without an array, an array of no variable, or a
            shape that differs.
    """
    variables = list(variables)
    names = variable_names(variables, optimizer)
    for name, variable in zip(names, variables):
        if name not in arrays:
            raise ValueError(f"{where}: holds no array for variable {name!r}; the model has {len(names)} variables, "
                             f"the file {len(arrays)}")
        if tuple(arrays[name].shape) != tuple(variable.shape):
            raise ValueError(f"{where}: variable {name!r} has shape {tuple(arrays[name].shape)}; the model expects "
                             f"{tuple(variable.shape)}")
    unknown = sorted(set(arrays) - set(names))
    if unknown:
        raise ValueError(f"{where}: holds variable {unknown[0]!r}, which the model does not have")
    for name, variable in zip(names, variables):
        variable.assign(arrays[name])


def training_state(model) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A compiled model's training state as named arrays: (every variable of the model: weights, batch-norm statistics,
    seed states; every variable of its optimizer: slots, step, learning rate), named as an optimizer's (`variable_names`),
    so that another process or another model of the same network takes them. Builds the optimizer's slots first when no
    `fit` has yet."""
    _build_optimizer(model)
    return named_arrays(model.variables, optimizer=True), named_arrays(model.optimizer.variables, optimizer=True)


def assign_training_state(model, arrays: dict[str, np.ndarray], optimizer_arrays: dict[str, np.ndarray], where: str) -> None:
    """Assign a compiled model the `training_state` arrays (its optimizer's slots built first when no `fit` has yet);
    a mismatch is refused by name (`assign_named`)."""
    _build_optimizer(model)
    assign_named(model.variables, arrays, where, optimizer=True)
    assign_named(model.optimizer.variables, optimizer_arrays, where, optimizer=True)


def _build_optimizer(model) -> None:
    if not model.optimizer.built:  # else built at the first step of `fit`: its slots must exist to be read or assigned
        model.optimizer.build(model.trainable_variables)
