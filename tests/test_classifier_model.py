"""The CNN's layers, its config, a one-epoch fit, features, and the safe-mode save/load round trip."""

import keras
import numpy as np
import pytest
from keras import layers

from xgan.classifier import (ClassifierConfig, PENULTIMATE_LAYER, build_classifier, fit_real_classifier, load_classifier,
                             load_classifier_config, penultimate_features, predict_probabilities, save_classifier)
from xgan.classifier.model import build_optimizer
from xgan.errors import UserError


def _layers_of(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


def test_default_network_is_the_studys_best():
    model = build_classifier(ClassifierConfig(image_size=32))
    assert len(_layers_of(model, layers.Conv2D)) == 3
    assert len(_layers_of(model, layers.BatchNormalization)) == 3
    # Where each activation sits, not only that it exists: ReLU after every convolution block's batch
    # norm, LeakyReLU after every hidden dense layer (the last one is the penultimate features).
    block = [layers.Conv2D, layers.BatchNormalization, layers.ReLU, layers.MaxPooling2D]
    dense = [layers.Dense, layers.LeakyReLU, layers.Dropout]
    assert [type(layer) for layer in model.layers] == [
        layers.InputLayer, layers.Rescaling, *block * 3, layers.Flatten, *dense * 2, layers.Dense]
    assert [layer.negative_slope for layer in _layers_of(model, layers.LeakyReLU)] == pytest.approx([0.1, 0.1])
    assert model.get_layer(PENULTIMATE_LAYER) is _layers_of(model, layers.LeakyReLU)[-1]
    assert len(_layers_of(model, layers.Dense)) == 3
    assert [d.rate for d in _layers_of(model, layers.Dropout)] == [0.5, 0.5]
    assert model.input_shape == (None, 32, 32, 1)
    assert model.output_shape == (None, 1)
    assert model.get_layer("output").get_config()["activation"] == "sigmoid"
    assert model.get_layer(PENULTIMATE_LAYER).output.shape[-1] == 64


def test_augmentation_layers_only_in_the_classic_arm_and_never_a_flip():
    plain = build_classifier(ClassifierConfig(image_size=32))
    augmented = build_classifier(ClassifierConfig(image_size=32, augment=True))
    assert not any(layer.name.startswith("augment") for layer in plain.layers)
    kinds = {type(layer) for layer in augmented.layers}
    assert {layers.RandomRotation, layers.RandomTranslation, layers.RandomZoom, layers.RandomContrast} <= kinds
    assert layers.RandomFlip not in kinds
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 1)).astype("float32")
    for layer in augmented.layers:
        if layer.name.startswith("augment"):  # the identity at inference, a change in training
            assert np.allclose(layer(images, training=False), images)
            assert not np.allclose(layer(images, training=True), images)


@pytest.mark.parametrize("field, value, match", [
    ("image_size", 4, "argument `image_size`"),
    ("conv_filters", (8, 8, 8, 8, 8, 8), "at most 4 blocks for 16-px images"),
    ("dropout", 1.0, "argument `dropout`. Expected a float in \\[0, 1\\)"),
    ("optimizer", "rmsprop", "argument `optimizer`"),
    ("monitor", "val_f1", "argument `monitor`"),
    ("momentum", 1.5, "argument `momentum`"),
    ("class_names", ["a"], "two or more distinct class names"),
    ("class_names", ["a", "a"], "two or more distinct class names"),
    ("epochs", 0, "argument `epochs`. Expected a positive integer"),
])
def test_config_refuses_bad_values(field, value, match):
    values = {"image_size": 16, field: value}
    with pytest.raises(ValueError, match=match):
        ClassifierConfig(**values)


def test_config_round_trips_and_keeps_the_study_values():
    config = ClassifierConfig(image_size=28, class_names=["normal", "pneumonia"], positive_class="normal")
    assert ClassifierConfig.from_dict({**config.to_dict(), "arm": "baseline"}) == config
    assert config.negative_class == "pneumonia"
    study = ClassifierConfig.study(image_size=28)
    assert (study.optimizer, study.learning_rate, study.momentum, study.batch_size) == ("sgd", 1e-4, 5 / 6, 40)
    optimizer = build_optimizer(study)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert float(optimizer.momentum) == pytest.approx(5 / 6)
    assert float(optimizer.learning_rate) == pytest.approx(1e-4)


def _tiny_data(num=24, size=16, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.array([0, 1] * (num // 2))
    images = rng.integers(0, 120, (num, size, size)).astype(np.uint8)
    images[labels == 1, 4:12, 4:12] = 250  # the positive class carries a bright square
    return images, labels


def test_fit_real_classifier_features_and_safe_mode_round_trip(tmp_path):
    images, labels = _tiny_data()
    model = fit_real_classifier(images, labels, epochs=1, seed=0, validation=(images[:8], labels[:8]))
    features = penultimate_features(model, images)
    assert features.shape == (24, 64) and features.dtype == np.float32
    config = ClassifierConfig(image_size=16, class_names=["covid", "normal"], positive_class="normal")
    save_classifier(tmp_path / "run", model, config, arm="baseline")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.keras"]
    loaded = load_classifier(tmp_path / "run" / "model.keras")
    np.testing.assert_allclose(predict_probabilities(loaded, images), predict_probabilities(model, images), atol=1e-6)
    loaded_config, details = load_classifier_config(tmp_path / "run")
    assert loaded_config == config and details["arm"] == "baseline"
    assert getattr(loaded, "optimizer", None) is None  # saved without optimizer state


def test_fit_refuses_labels_that_are_not_binary():
    images, _ = _tiny_data(num=6)
    with pytest.raises(ValueError, match="Expected 0 \\(negative\\) and 1 \\(positive\\) only"):
        fit_real_classifier(images, np.array([0, 1, -1, 0, 1, -1]), epochs=1, seed=0)


@pytest.mark.parametrize("name, content, match", [
    ("missing", None, "no classifier here"),
    ("model.h5", b"not a model", "native Keras format"),
    ("model.keras", b"not a zip", "cannot load the model"),
])
def test_load_classifier_errors_are_one_line_user_errors(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
        (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match=match):
        load_classifier(path)


@pytest.mark.parametrize("augment, schedule", [(True, "constant"), (False, "plateau")])
def test_a_model_trained_by_a_reused_stand_in_is_the_one_a_fresh_stand_in_gives(augment, schedule):
    """The second model of a network trains through the stand-in the first one traced (on another number of images); it
    comes out as a model trained alone does (history, weights, seed states, optimizer slots), keeps its own seeds, and leaves the first model as it was."""
    from xgan.classifier import train

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (48, 16, 16), dtype=np.uint8)
    labels = np.tile([0, 1], 24)
    validation = (images[:16], labels[:16])

    def config(seed):
        return ClassifierConfig(image_size=16, conv_filters=(4, 8), dense_units=(8,), batch_size=8, epochs=3, patience=5,
                                augment=augment, schedule=schedule, seed=seed)

    train._RUNNERS.clear()
    first = train.train_classifier(config(0), images, labels, validation)
    kept = [v.numpy().copy() for v in first.model.variables]
    # Fewer images than the first model's (5 batches, the last a partial one, against 6): the stand-in's step takes them.
    reused = train.train_classifier(config(1), images[:36], labels[:36], validation)
    assert len(train._RUNNERS) == 1 and all(r is not reused.model and r is not first.model for r in train._RUNNERS.values())
    train._RUNNERS.clear()
    alone = train.train_classifier(config(1), images[:36], labels[:36], validation)
    assert reused.history == alone.history
    for got, expected in zip(reused.model.variables, alone.model.variables):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    for got, expected in zip(reused.model.optimizer.variables, alone.model.optimizer.variables):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_array_equal(reused.validation_outputs, alone.validation_outputs)
    assert reused.model.get_layer("dropout_1").seed == alone.model.get_layer("dropout_1").seed == 1 + 11
    for got, expected in zip(first.model.variables, kept):
        np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("augment, class_weight", [(False, None), (True, {0: 2.0, 1: 0.5})])
def test_several_steps_per_call_train_the_weights_of_one_step_per_call(monkeypatch, augment, class_weight):
    """The stand-in runs `execution_steps` steps per call of its traced step: the same model to the bit as one step per
    call, with calls that end inside an epoch (7 steps an epoch, 3 per call) and class weights."""
    from xgan.classifier import model as model_module
    from xgan.classifier import train

    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (54, 16, 16), dtype=np.uint8)
    labels = np.tile([0, 1], 27)
    config = ClassifierConfig(image_size=16, conv_filters=(4, 8), dense_units=(8,), batch_size=8, epochs=3, patience=5,
                              augment=augment, seed=2)
    results = {}
    for pixels in (16 * 16, 3 * 16 * 16):
        monkeypatch.setattr(model_module, "EXECUTION_PIXELS", pixels)
        train._RUNNERS.clear()
        results[pixels] = train.train_classifier(config, images, labels, (images[:16], labels[:16]), class_weight=class_weight)
        (runner,) = train._RUNNERS.values()
        assert runner.steps_per_execution == pixels // (16 * 16)
    train._RUNNERS.clear()
    one, several = results.values()
    assert one.history == several.history
    for got, expected in zip(several.model.variables, one.model.variables):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    monkeypatch.undo()
    assert model_module.execution_steps(ClassifierConfig(image_size=32)) == 32
    assert model_module.execution_steps(ClassifierConfig(image_size=224)) == 1


def test_the_stand_in_trains_batch_norm_fused_and_the_saved_model_keeps_keras_layers(tmp_path):
    """The stand-in's batch normalization is the fused kernel's; the trained model, and its model.keras, hold Keras' own
    layer; the outcome is plain `model.fit`'s up to float rounding (one epoch here, so rounding has not grown)."""
    import json
    import zipfile

    from xgan.classifier import train
    from xgan.classifier.model import compile_classifier
    from xgan.classifier.train import make_dataset
    from xgan.runtime.batch_norm import FusedBatchNormalization

    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (48, 16, 16), dtype=np.uint8)
    labels = np.tile([0, 1], 24)
    config = ClassifierConfig(image_size=16, conv_filters=(4, 8), dense_units=(8,), batch_size=8, epochs=1, dropout=0.0, seed=5)
    train._RUNNERS.clear()
    result = train.train_classifier(config, images, labels)
    (runner,) = train._RUNNERS.values()
    train._RUNNERS.clear()
    assert [type(layer) for layer in runner.layers if isinstance(layer, layers.BatchNormalization)] == [FusedBatchNormalization] * 2
    assert [type(layer) for layer in result.model.layers if isinstance(layer, layers.BatchNormalization)] == [layers.BatchNormalization] * 2
    save_classifier(tmp_path, result.model, config)
    with zipfile.ZipFile(tmp_path / "model.keras") as archive:
        saved = json.loads(archive.read("config.json"))
    assert "FusedBatchNormalization" not in json.dumps(saved)

    keras.utils.set_random_seed(config.seed)
    plain = compile_classifier(build_classifier(config), config, steps_per_epoch=6)
    plain.fit(make_dataset(images, labels, config.batch_size, shuffle_seed=config.seed), epochs=1, shuffle=False, verbose=0)
    assert result.history[0]["loss"] == pytest.approx(plain.history.history["loss"][0], rel=1e-5)
    for got, expected in zip(result.model.variables, plain.variables):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_inference_traces_once_per_model_warns_of_no_retracing_and_keeps_no_model_alive(caplog):
    import gc
    import logging
    import weakref

    from xgan.classifier import train
    from xgan.runtime import inference

    images = np.random.default_rng(0).integers(0, 256, (7, 32, 32), dtype=np.uint8)
    models = [build_classifier(ClassifierConfig(image_size=32, seed=seed)) for seed in range(7)]
    with caplog.at_level(logging.WARNING):
        for model in models:  # a full batch and a smaller one: the same trace
            outputs = train.run_in_batches(model, images)
            assert np.array_equal(train.run_in_batches(model, images[:3]), outputs[:3])
            # The eager call's outputs, to the few float32 units the fused sigmoid may move them by (1.8e-7 measured).
            np.testing.assert_allclose(outputs, model(images[..., None].astype(np.float32), training=False).numpy(), rtol=0, atol=1e-6)
            (function,) = inference._functions[model].values()
            assert function.experimental_get_tracing_count() == 1
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    references = [weakref.ref(model) for model in models]
    del models, model
    gc.collect()
    assert all(reference() is None for reference in references)  # the cache and its functions keep no model alive
