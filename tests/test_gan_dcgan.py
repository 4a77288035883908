"""The DCGAN step itself: which network each update moves, the EMA's half-life and ramp-up, the real batches."""

import keras
import numpy as np
import pytest

from xgan.gan.dcgan import DCGAN
from xgan.gan.models import build_discriminator, build_generator

NUM_IMAGES = 10


def tiny_dcgan(batch_size=4, num_images=NUM_IMAGES, d_rate=0.1, g_rate=0.1, **options):
    """A 32 px DCGAN whose image i is filled with gray level 20 * i, so a real batch tells which images it holds."""
    images = np.stack([np.full((32, 32), 20 * i, np.uint8) for i in range(num_images)])
    model = DCGAN(build_generator(32, 8, 4, seed=0), build_discriminator(32, 4, seed=1), images,
                  batch_size=batch_size, seed=0, **options)
    model.compile(d_optimizer=keras.optimizers.SGD(d_rate), g_optimizer=keras.optimizers.SGD(g_rate))
    model.build_optimizers()
    return model


def values(variables):
    return [np.array(variable.numpy()) for variable in variables]


def changed(before, variables):
    return [not np.array_equal(old, new.numpy()) for old, new in zip(before, variables)]


def test_the_discriminator_update_moves_only_the_discriminator():
    model = tiny_dcgan(g_rate=0.0)
    generator, discriminator = values(model.generator.trainable_variables), values(model.discriminator.trainable_variables)
    model.train_step(None)
    assert not any(changed(generator, model.generator.trainable_variables))
    assert all(changed(discriminator, model.discriminator.trainable_variables))


def test_the_generator_update_moves_only_the_generator_and_reaches_every_layer():
    model = tiny_dcgan(d_rate=0.0)
    generator, discriminator = values(model.generator.trainable_variables), values(model.discriminator.trainable_variables)
    model.train_step(None)
    assert not any(changed(discriminator, model.discriminator.trainable_variables))
    assert all(changed(generator, model.generator.trainable_variables))  # the generator tape saw the whole forward pass
    assert int(model.g_optimizer.iterations.numpy()) == int(model.d_optimizer.iterations.numpy()) == 1


def set_weights(model, generator_value, ema_value, iterations):
    for variable in model.generator.weights:
        variable.assign(np.full(variable.shape, generator_value, variable.dtype))
    for variable in model.ema_generator.weights:
        variable.assign(np.full(variable.shape, ema_value, variable.dtype))
    model.g_optimizer.iterations.assign(iterations)


def ema_value(model):
    found = {float(np.unique(variable.numpy()).item()) for variable in model.ema_generator.weights}
    assert len(found) == 1
    return found.pop()


@pytest.mark.parametrize("ema_kimg, ema_rampup, iterations, beta", [
    (1.0, 0.05, 10, 0.5 ** (4 / 2)),      # 40 images seen: the ramp-up caps the half-life at 2 images
    (0.001, 0.05, 10_000, 0.5 ** (4 / 1)),  # the cap (2000 images) is above the 1-image half-life
    (0.004, 0.0, 1, 0.5),                  # no ramp-up: a half-life of one batch halves the distance
    (0.0, 0.05, 10, 0.0),                  # no averaging: the EMA is the generator
])
def test_ema_moves_by_the_half_life_capped_by_the_ramp_up(ema_kimg, ema_rampup, iterations, beta):
    model = tiny_dcgan(ema_kimg=ema_kimg, ema_rampup=ema_rampup)
    set_weights(model, 1.0, 0.0, iterations)
    model.update_ema()
    assert ema_value(model) == pytest.approx(1.0 - beta, abs=1e-6)


def test_after_one_half_life_of_images_the_ema_has_come_half_way():
    model = tiny_dcgan(batch_size=4, ema_kimg=0.016, ema_rampup=0.0)  # 16 images: 4 steps of 4
    set_weights(model, 1.0, 0.0, 1000)
    for _ in range(4):
        model.update_ema()
    assert ema_value(model) == pytest.approx(0.5, abs=1e-6)


def batch_indices(model):
    gray = np.rint((model.sample_real_batch().numpy()[..., 0] + 1.0) * 127.5)
    assert (gray == gray[:, :1, :1]).all()
    return sorted(int(value) // 20 for value in gray[:, 0, 0])


def test_a_batch_larger_than_the_images_holds_every_image():
    model = tiny_dcgan(batch_size=12, num_images=5)
    indices = batch_indices(model)
    assert len(indices) == 12 and set(indices) == set(range(5))
    assert all(indices.count(i) >= 2 for i in range(5))  # two whole permutations before the third starts


def test_a_batch_as_large_as_the_images_holds_each_exactly_once():
    assert batch_indices(tiny_dcgan(batch_size=NUM_IMAGES)) == list(range(NUM_IMAGES))


def test_smaller_batches_hold_distinct_images_and_reach_every_image():
    model = tiny_dcgan(batch_size=4)
    seen = set()
    for _ in range(30):
        indices = batch_indices(model)
        assert len(set(indices)) == 4
        seen.update(indices)
    assert seen == set(range(NUM_IMAGES))
