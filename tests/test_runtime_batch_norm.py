"""The fused batch normalization (`runtime.batch_norm`): Keras' results, moving statistics and gradients, up to rounding."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from xgan.runtime.batch_norm import FusedBatchNormalization


def _pair(shape, **options):
    plain, fused = keras.layers.BatchNormalization(momentum=0.9, **options), FusedBatchNormalization(momentum=0.9, **options)
    plain.build(shape)
    fused.build(shape)
    for layer in (plain, fused):  # not the initial 1 and 0, so that a swapped gamma and beta would show
        layer.gamma.assign(np.linspace(0.5, 1.5, shape[-1]).astype("float32"))
        layer.beta.assign(np.linspace(-1.0, 1.0, shape[-1]).astype("float32"))
    return plain, fused


def test_fused_batch_norm_matches_keras_batch_norm():
    x = np.random.default_rng(0).normal(2.0, 3.0, (8, 5, 5, 3)).astype("float32")
    keras_layer, fused_layer = _pair(x.shape)
    np.testing.assert_allclose(fused_layer(x, training=True), keras_layer(x, training=True), atol=1e-5)
    np.testing.assert_allclose(fused_layer.moving_mean.numpy(), keras_layer.moving_mean.numpy(), atol=1e-6)
    # The biased variance, as Keras averages it: the fused kernel's unbiased one would be 200/199 of it.
    np.testing.assert_allclose(fused_layer.moving_variance.numpy(), keras_layer.moving_variance.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused_layer(x), keras_layer(x), atol=1e-5)


def test_fused_batch_norm_gradients_match_keras_batch_norm():
    x = tf.constant(np.random.default_rng(1).normal(-1.0, 2.0, (6, 4, 4, 5)).astype("float32"))
    weights = tf.constant(np.random.default_rng(2).normal(size=(6, 4, 4, 5)).astype("float32"))
    gradients = []
    for layer in _pair(x.shape):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weights)
        gradients.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for plain, fused in zip(*gradients):
        np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["frozen", "renorm", "dense"])
def test_fused_batch_norm_leaves_what_it_does_not_fuse_to_keras(case):
    """A frozen layer (inference mode), batch renormalization and 2-D inputs take Keras' own path: the same bits."""
    shape = (8, 6) if case == "dense" else (8, 3, 3, 6)
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    plain, fused = _pair(shape, **({"renorm": True} if case == "renorm" else {}))
    if case == "frozen":
        plain.trainable = fused.trainable = False
    np.testing.assert_array_equal(fused(x, training=True).numpy(), plain(x, training=True).numpy())
    np.testing.assert_array_equal(fused.moving_variance.numpy(), plain.moving_variance.numpy())
