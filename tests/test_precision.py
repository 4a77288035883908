"""--precision mixed: float16 computation with float32 outputs, loss scaling, exact GAN resume, no policy leak.

On a CPU float16 is slow, so the models here are tiny; what is checked is correctness, not speed
(benchmarks/README.md says how to measure the speed on a GPU).
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from conftest import make_folder_dataset
from xgan.classifier.config import ClassifierConfig
from xgan.classifier.model import build_classifier
from xgan.classifier.saving import load_classifier, save_classifier
from xgan.classifier.train import predict_probabilities, run_in_batches, train_classifier
from xgan.errors import UserError
from xgan.gan import GanConfig, resume_gan, train_gan
from xgan.gan.fit import build_model
from xgan.gan.run_state import STATE_FILE, load_generator, read_arrays
from xgan.runtime.precision import loss_scaled, precision_policy


@pytest.fixture(autouse=True)
def float32_after_every_test():
    """Each test must leave Keras' global policy as it found it; checked here, so a leak fails the test that made it."""
    yield
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.fixture(scope="module")
def xrays(tmp_path_factory):
    """12 covid / 20 normal 32 px images; the split puts 8 covid images in train."""
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "xrays", {"covid": 12, "normal": 20})


def tiny_gan_config(data, out, **changes):
    values = dict(data=str(data), image_size=32, width=4, latent_dim=8, batch_size=4, epochs=2, precision="mixed",
                  preview_every=1, checkpoint_every=1, snapshot_every=1, out=str(out))
    return GanConfig(**(values | changes))


def test_the_policy_is_restored_after_the_block_even_on_an_error():
    with pytest.raises(RuntimeError, match="inside"):
        with precision_policy("mixed"):
            assert keras.mixed_precision.global_policy().name == "mixed_float16"
            raise RuntimeError("inside")
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize("make", [
    lambda: GanConfig(precision="float16"),
    lambda: ClassifierConfig(precision="bfloat16"),
    lambda: loss_scaled(keras.optimizers.Adam(), "half"),
])
def test_an_unknown_precision_is_refused_by_name(make):
    with pytest.raises(UserError, match=r"argument `precision`. Expected one of float32, mixed \(option --precision\). Received: precision="):
        make()


@pytest.mark.parametrize("conditional", [False, True])
def test_a_mixed_gan_computes_in_float16_and_gives_float32_images_and_logits(conditional):
    images = np.random.default_rng(0).integers(0, 255, (8, 32, 32), dtype=np.uint8)
    labels = np.array([0, 1] * 4, np.int32) if conditional else None
    config = GanConfig(image_size=32, width=4, latent_dim=8, batch_size=4, conditional=conditional, precision="mixed")
    model = build_model(config, images, labels, ["covid", "normal"] if conditional else None)
    assert keras.mixed_precision.global_policy().name == "float32"
    for network in (model.generator, model.ema_generator, model.discriminator):
        assert network.dtype_policy.name == "mixed_float16", network.name
        assert {layer.compute_dtype for layer in network.layers if layer.weights} == {"float16"}, network.name
        assert {variable.dtype for variable in network.weights} == {"float32"}, network.name
    for optimizer in (model.g_optimizer, model.d_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    latents = keras.ops.zeros((2, 8))
    label_batch = keras.ops.convert_to_tensor(np.array([0, 1], np.int32))
    fakes = model.generate(latents, label_batch if conditional else None)
    logits = model.discriminate(fakes, label_batch if conditional else None)
    assert fakes.dtype == logits.dtype == "float32"
    logs = model.train_step(None)
    assert all(np.isfinite(float(value)) for value in logs.values()), logs
    assert int(model.g_optimizer.iterations.numpy()) == 1  # the step was applied, not skipped for an overflow


MIRRORED_MIXED_STEP = textwrap.dedent("""
    import json
    import tensorflow as tf
    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from xgan.runtime.distribute import make_strategy
    from xgan.gan.config import GanConfig
    from xgan.gan.fit import build_model, fit_model
    config = GanConfig(image_size=32, width=4, latent_dim=8, batch_size=4, precision="mixed", strategy="mirrored")
    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = build_model(config, np.random.default_rng(0).integers(0, 255, (8, 32, 32), dtype=np.uint8))
    fit_model(model, config, 1, 0, 8, [])
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "steps": int(model.g_optimizer.iterations.numpy()),
                      "losses": [float(metric.result()) for metric in model.metrics[:2]]}))
""")


@pytest.mark.slow
def test_a_mixed_gan_steps_under_a_mirrored_strategy_with_float32_batch_statistics():
    # Two replicas take the synchronized batch-norm branch, which computes its statistics in float32.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", MIRRORED_MIXED_STEP], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["steps"] == 2 and np.isfinite(result["losses"]).all(), result


def test_a_float32_gan_is_unchanged_float32():
    images = np.random.default_rng(0).integers(0, 255, (8, 32, 32), dtype=np.uint8)
    model = build_model(GanConfig(image_size=32, width=4, latent_dim=8, batch_size=4), images)
    assert {layer.compute_dtype for layer in model.generator.layers + model.discriminator.layers} == {"float32"}
    assert not isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.fixture(scope="module")
def mixed_uninterrupted(xrays, tmp_path_factory):
    return train_gan(tiny_gan_config(xrays, tmp_path_factory.mktemp("runs")))


def test_a_mixed_run_records_its_precision_and_finite_losses(mixed_uninterrupted):
    config = json.loads((mixed_uninterrupted / "config.json").read_text())
    assert config["precision"] == "mixed"
    history = json.loads((mixed_uninterrupted / "history.json").read_text())
    assert len(history) == 2 and all(np.isfinite(entry[key]) for entry in history for key in ("d_loss", "g_loss"))
    arrays, _ = read_arrays(mixed_uninterrupted / STATE_FILE)
    float32_model = build_model(GanConfig.from_dict({**config, "precision": "float32"}), np.zeros((8, 32, 32), np.uint8))
    for name in ("g_optimizer", "d_optimizer"):
        # Saved with each optimizer: the wrapper's own iteration and learning-rate variables, its loss scale
        # (Keras' initial 2 ** 15, not yet grown or halved) and the scale's step counter.
        stored = [key for key in arrays if key.startswith(name + "/")]
        assert len(stored) == len(getattr(float32_model, name).variables) + 4, name
        assert arrays[f"{name}/loss_scale_optimizer/dynamic_scale"] == 2.0 ** 15, name
        assert {f"{name}/loss_scale_optimizer/{v}" for v in ("iteration", "learning_rate", "step_counter")} <= set(stored)


def test_a_mixed_run_resumes_exactly_under_its_own_precision(mixed_uninterrupted, xrays, tmp_path):
    run_dir = train_gan(tiny_gan_config(xrays, tmp_path, epochs=1))
    resume_gan(run_dir, epochs=2)  # no precision given: the run's own, from config.json
    expected_arrays, expected_meta = read_arrays(mixed_uninterrupted / STATE_FILE)
    arrays, meta = read_arrays(run_dir / STATE_FILE)
    assert meta["epoch"] == 2 and meta["step"] == expected_meta["step"]
    assert sorted(arrays) == sorted(expected_arrays)
    for key in arrays:  # weights, EMA, Adam moments, the loss scales and the random state, bit for bit
        np.testing.assert_array_equal(arrays[key], expected_arrays[key], err_msg=key)


def test_a_mixed_run_samples_with_a_float32_generator(mixed_uninterrupted):
    generator, info = load_generator(mixed_uninterrupted)  # snapshots hold float32 weights under either precision
    images = generator(keras.ops.zeros((2, info["latent_dim"])), training=False)
    assert generator.dtype_policy.name == "float32" and images.dtype == "float32" and np.isfinite(images).all()


def test_a_gan_config_from_before_the_precision_loads_as_float32(mixed_uninterrupted):
    saved = json.loads((mixed_uninterrupted / "config.json").read_text())
    del saved["precision"]
    assert GanConfig.from_dict(saved).precision == "float32"


def _tiny_classifier_data(num=24, size=16):
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * (num // 2))
    images = rng.integers(0, 120, (num, size, size)).astype(np.uint8)
    images[labels == 1, 4:12, 4:12] = 250
    return images, labels


def test_a_mixed_classifier_scales_its_loss_saves_and_loads_with_float32_probabilities(tmp_path):
    images, labels = _tiny_classifier_data()
    config = ClassifierConfig(image_size=16, conv_filters=(4, 8), dense_units=(8,), epochs=2, batch_size=8,
                              class_names=["covid", "normal"], positive_class="normal", precision="mixed")
    result = train_classifier(config, images, labels, validation=(images[:8], labels[:8]))
    model = result.model
    assert keras.mixed_precision.global_policy().name == "float32"
    assert model.get_layer("conv_1").compute_dtype == "float16" and model.get_layer("output").compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # added by compile for a mixed_float16 model
    assert all(np.isfinite(entry["loss"]) for entry in result.history)
    save_classifier(tmp_path / "run", model, config)
    loaded = load_classifier(tmp_path / "run")  # safe mode
    assert run_in_batches(loaded, images).dtype == np.float32  # the model's own output, before predict_probabilities' float64
    probabilities = predict_probabilities(loaded, images)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities, predict_probabilities(model, images), atol=1e-6)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == "mixed"
    assert build_classifier(ClassifierConfig(image_size=16)).get_layer("conv_1").compute_dtype == "float32"  # no leak


def test_a_classifier_config_from_before_the_precision_loads_as_float32():
    saved = ClassifierConfig(class_names=["a", "b"]).to_dict()
    del saved["precision"]
    assert ClassifierConfig.from_dict(saved).precision == "float32"
