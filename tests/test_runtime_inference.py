"""Traced inference (`runtime.inference`): max pooling first gives Keras' own outputs to the bit, whatever the weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from xgan.classifier.config import STUDY_OPTIMIZER, ClassifierConfig
from xgan.classifier.model import build_classifier
from xgan.classifier.train import penultimate_features, run_in_batches, to_model_input
from xgan.runtime.inference import _Forward, _PoolingFirst, inference_function, pooling_first_plan
from xgan.runtime.precision import precision_policy


def _randomize(model, seed: int = 0, gamma=None):
    """Batch-normalization statistics and scales away from their initial 1 and 0, so that every block's affine map
    matters; `gamma(channels, rng)` overrides the positive scales."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign((np.abs(rng.normal(1, 0.5, channels)) + 0.05 if gamma is None else gamma(channels, rng)).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.5, channels).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.5, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.05, 3, channels).astype("float32"))


def _keras_outputs(model, images):
    """The model's own traced call in inference mode, batch by batch as `run_in_batches` (Keras' order of layers)."""
    spec = tf.TensorSpec((None, *images.shape[1:], 1), tf.float32)
    function = tf.function(lambda x: model(x, training=False), input_signature=[spec])
    return np.concatenate([function(to_model_input(images[start:start + 1024])).numpy() for start in range(0, len(images), 1024)])


def _moved(plan):
    return [([layer.name for layer in run], pooling.name) for run, pooling in (step for step in plan if isinstance(step, tuple))]


def test_the_cnn_pools_each_block_first():
    model = build_classifier(ClassifierConfig(image_size=32, augment=True, **STUDY_OPTIMIZER))
    plan = pooling_first_plan(model)
    assert _moved(plan) == [([f"batch_norm_{b}", f"relu_{b}"], f"pool_{b}") for b in (1, 2, 3)]
    # Every other layer once, in order: the augmentation layers (identities at inference) and the head included.
    names = [step.name if not isinstance(step, tuple) else None for step in plan]
    assert [n for n in names if n] == [layer.name for layer in model.layers[1:] if not layer.name.startswith(("batch_norm", "relu_", "pool_"))]


@pytest.mark.parametrize("augment, classes, gamma", [
    (False, 2, None),
    (True, 2, None),
    (False, 3, None),
    # A negative scale on one channel of one block: that block keeps Keras' order (the graph's other branch).
    (False, 2, lambda channels, rng: np.where(np.arange(channels) == 1, -0.7, np.abs(rng.normal(1, 0.5, channels)) + 0.05)),
    # Zero scales on some channels: a constant per channel; still Keras' order, as the check asks gamma > 0.
    (True, 2, lambda channels, rng: np.where(np.arange(channels) % 3 == 0, 0.0, 1.0)),
])
def test_pooling_first_gives_keras_outputs_to_the_bit(augment, classes, gamma):
    names = ("normal", "pneumonia") if classes == 2 else ("covid", "normal", "pneumonia")
    config = ClassifierConfig(image_size=32, augment=augment, class_names=names, seed=3, **STUDY_OPTIMIZER)
    model = build_classifier(config)
    _randomize(model, seed=classes, gamma=gamma)
    images = np.random.default_rng(1).integers(0, 256, (1500, 32, 32), dtype=np.uint8)  # one full batch and a partial one
    outputs = run_in_batches(model, images)
    assert isinstance(inference_function(model, (32, 32, 1)).python_function, _PoolingFirst)
    assert np.array_equal(outputs, _keras_outputs(model, images))
    # The penultimate layer's features (a sub-model of the same chain) too.
    extractor = keras.Model(model.input, model.get_layer("penultimate").output)
    assert np.array_equal(penultimate_features(model, images[:300]), _keras_outputs(extractor, images[:300]))


def test_pooling_first_follows_the_weights_between_calls():
    """The branch is chosen in the graph: a model whose scales turn negative after its first call (an epoch's
    validation, then training) still gives Keras' outputs from the same trace."""
    model = build_classifier(ClassifierConfig(image_size=32, **STUDY_OPTIMIZER))
    images = np.random.default_rng(2).integers(0, 256, (64, 32, 32), dtype=np.uint8)
    for gamma in (None, lambda channels, rng: -np.abs(rng.normal(1, 0.5, channels)), None):
        _randomize(model, seed=5, gamma=gamma)
        assert np.array_equal(run_in_batches(model, images), _keras_outputs(model, images))
    assert inference_function(model, (32, 32, 1)).experimental_get_tracing_count() == 1


def test_a_mixed_precision_cnn_pools_first_to_the_same_bits():
    with precision_policy("mixed"):
        model = build_classifier(ClassifierConfig(image_size=32, precision="mixed", **STUDY_OPTIMIZER))
    _randomize(model, seed=7)
    images = np.random.default_rng(3).integers(0, 256, (200, 32, 32), dtype=np.uint8)
    assert _moved(pooling_first_plan(model))
    assert np.array_equal(run_in_batches(model, images), _keras_outputs(model, images))


def _functional(outputs_of):
    inputs = keras.Input((8, 8, 2))
    return keras.Model(inputs, outputs_of(inputs))


@pytest.mark.parametrize("build, moved", [
    # No per-element layer before the pooling: nothing to move, Keras' own call.
    (lambda: _functional(lambda x: keras.layers.MaxPooling2D(2)(keras.layers.Conv2D(3, 3)(x))), []),
    # A branch (a residual sum): not a chain, Keras' own call.
    (lambda: _functional(lambda x: keras.layers.MaxPooling2D(2)(keras.layers.Add()([keras.layers.ReLU()(x), x]))), []),
    # Average pooling does not commute with a ReLU: kept.
    (lambda: _functional(lambda x: keras.layers.AveragePooling2D(2)(keras.layers.ReLU()(x))), []),
    # A per-element layer that is not monotone (an absolute value) stops the run: only the ReLU after it moves.
    (lambda: _functional(lambda x: keras.layers.MaxPooling2D(2)(keras.layers.ReLU()(keras.layers.Lambda(tf.abs)(x)))),
     [(["re_lu"], "max_pooling2d")]),
])
def test_only_runs_that_commute_with_max_pooling_move(build, moved):
    keras.backend.clear_session()
    model = build()
    plan = pooling_first_plan(model)
    assert _moved(plan) == moved
    images = np.random.default_rng(4).normal(size=(5, 8, 8, 2)).astype("float32")
    function = inference_function(model, "check")
    assert isinstance(function.python_function, _PoolingFirst if moved else _Forward)
    np.testing.assert_array_equal(function(images).numpy(), tf.function(lambda x: model(x, training=False))(images).numpy())
