"""KidMonitor, tested by calling its hooks directly on a tiny stand-in for the DCGAN."""

import types

import keras
import numpy as np
import pytest

from conftest import synthetic_xray
from xgan.gan import generate_images
from xgan.quality.features import PixelFeatures
from xgan.quality.monitor import KidMonitor

LATENT_DIM = 4


def tiny_generator(seed=0):
    inputs = keras.Input((LATENT_DIM,))
    x = keras.layers.Dense(16 * 16, activation="tanh",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed))(inputs)
    return keras.Model(inputs, keras.layers.Reshape((16, 16, 1))(x), name="generator")


def stand_in_gan(training_images, generator=None):
    return types.SimpleNamespace(ema_generator=generator or tiny_generator(), latent_dim=LATENT_DIM,
                                 training_images=training_images)


def monitor_on(model, epochs, **kwargs):
    monitor = KidMonitor(**kwargs)
    monitor.set_model(model)
    monitor.set_params({"epochs": epochs})
    monitor.on_train_begin()
    return monitor


def test_kid_is_logged_every_n_epochs_and_at_the_end():
    rng = np.random.default_rng(0)
    real = np.stack([synthetic_xray(rng, 16, bright=True) for _ in range(20)])
    monitor = monitor_on(stand_in_gan(real), epochs=5, every=2, num_images=16, num_subsets=5)
    logged = {}
    for epoch in range(5):
        logs = {"d_loss": 1.0}
        monitor.on_epoch_end(epoch, logs)
        logged[epoch + 1] = logs
    assert [epoch for epoch, logs in logged.items() if "kid" in logs] == [2, 4, 5]
    assert all(np.isfinite(logs["kid"]) for logs in logged.values() if "kid" in logs)
    assert logged[2]["kid"] == logged[4]["kid"]  # same generator, same latents: the same estimate


def test_kid_is_near_zero_against_the_generators_own_images_and_larger_against_other_images():
    generator = tiny_generator()
    own = generate_images(generator, 128, 1, LATENT_DIM)  # other latents than the monitor's
    rng = np.random.default_rng(0)
    other = np.stack([synthetic_xray(rng, 16, bright=True) for _ in range(128)])
    options = dict(every=1, num_images=128, num_subsets=10, features=PixelFeatures(8))
    near = monitor_on(stand_in_gan(own, generator), 1, **options).estimate()
    far = monitor_on(stand_in_gan(other, generator), 1, **options).estimate()
    assert abs(near[0]) < 0.1 * far[0]


def test_reference_images_can_be_given():
    rng = np.random.default_rng(0)
    given = np.stack([synthetic_xray(rng, 16, bright=False) for _ in range(10)])
    monitor = monitor_on(stand_in_gan(given[:0]), 1, every=1, num_images=8, real_images=given, num_subsets=3)
    logs = {}
    monitor.on_epoch_end(0, logs)
    assert np.isfinite(logs["kid"])


@pytest.mark.parametrize("kwargs, match", [
    ({"every": 0}, "every=0"),
    ({"every": 1, "num_images": 129}, "from 2 to 128"),
    ({"every": 1, "num_subsets": 0}, "num_subsets=0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KidMonitor(**kwargs)
