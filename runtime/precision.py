"""Mixed precision for GAN and classifier training: float16 computation with float32 weights.

`--precision mixed` builds a model's layers under Keras' "mixed_float16" dtype policy: each layer
computes in float16 and keeps its variables in float32. On a GPU with tensor cores (Volta and
later) that is the point: convolutions and matrix products run at several times the float32 rate
and activations take half the memory. On a CPU float16 is emulated and slower; `mixed` is for GPUs.

The policy is set only while the layers are created (`precision_policy`) and the previous one is
restored afterwards, so models built later in the same process (the arms of `classify --compare`,
the next test) are float32 unless they ask otherwise: a layer keeps the policy it was built with.
Outputs that feed a loss are float32 layers (`OUTPUT_DTYPE`), as Keras' mixed-precision guide
asks, so losses, probabilities and generated images are float32 under either precision.

Gradients of float16 activations underflow without loss scaling. `Model.fit` adds it itself for a
model built under "mixed_float16" (it wraps the optimizer in `keras.optimizers.LossScaleOptimizer`);
the DCGAN's own `train_step` wraps its optimizers and scales its losses (`loss_scaled`).
"""

import contextlib

from ..errors import invalid_argument

PRECISIONS = ("float32", "mixed")
POLICIES = {"float32": "float32", "mixed": "mixed_float16"}
OUTPUT_DTYPE = "float32"  # the dtype of every layer whose output feeds a loss or leaves the model


def check_precision(precision: str) -> str:
    """Return `precision` when it is one of PRECISIONS.

    Raises:
        UserError: any other value.
    """
    if precision not in PRECISIONS:
        raise invalid_argument("precision", f"one of {', '.join(PRECISIONS)} (option --precision)", precision)
    return precision


@contextlib.contextmanager
def precision_policy(precision: str):
    """Build layers under `precision`'s dtype policy inside the block; the previous global policy afterwards."""
    import keras

    check_precision(precision)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def loss_scaled(optimizer, precision: str):
    """`optimizer`, wrapped in a `LossScaleOptimizer` under mixed precision (dynamic scale, Keras' defaults).

    A custom `train_step` multiplies its loss by `optimizer.scale_loss(loss)` before taking gradients
    (the identity for a plain optimizer); `apply_gradients` divides them back and skips a step whose
    gradients are not finite, halving the scale.
    """
    import keras

    if check_precision(precision) == "mixed":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
