"""DiffAugment-style augmentation: shapes, exact effects of each operation, the policy string."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from xgan.errors import UserError
from xgan.gan.augment import augment, random_brightness, random_contrast, random_cutout, random_translation
from xgan.gan.config import AUGMENT_OPERATIONS, parse_policy


def images(batch=6, size=16, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, 1)).astype("float32"))


@pytest.mark.parametrize("policy", ["translation", "cutout", "brightness", "contrast", "translation,cutout,brightness,contrast"])
def test_shape_and_dtype_are_kept(policy):
    x = images()
    y = augment(x, policy, keras.random.SeedGenerator(1))
    assert y.shape == x.shape and y.dtype == x.dtype


def test_empty_policy_is_a_no_op():
    x = images()
    assert augment(x, "", keras.random.SeedGenerator(1)) is x
    assert augment(x, " , ", keras.random.SeedGenerator(1)) is x


@pytest.mark.parametrize("policy", ["color", "translation,saturation", "Cutout"])
def test_unknown_operation_is_a_clear_error(policy):
    with pytest.raises(UserError, match=r"Invalid value received for argument `augment`. Expected a comma-separated list "
                                        r"of brightness, contrast, cutout, translation \(or an empty string for none\)"):
        parse_policy(policy)


def test_policy_is_a_set_applied_in_a_fixed_order():
    assert parse_policy("cutout, translation,cutout") == ("translation", "cutout")
    assert parse_policy("translation,cutout,brightness,contrast") == AUGMENT_OPERATIONS


def test_same_seed_state_gives_the_same_augmentation():
    x = images()
    first = augment(x, "translation,cutout,brightness,contrast", keras.random.SeedGenerator(7))
    second = augment(x, "translation,cutout,brightness,contrast", keras.random.SeedGenerator(7))
    np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_translation_is_a_zero_filled_shift_of_at_most_an_eighth():
    x = images(batch=8, size=16)
    y = random_translation(x, keras.random.SeedGenerator(3)).numpy()[..., 0]
    source = x.numpy()[..., 0]
    shifts = []
    for image, shifted in zip(source, y):
        padded = np.pad(image, 2)
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(shifted, padded[2 + dy:18 + dy, 2 + dx:18 + dx])]
        assert matches, "every output must be the input shifted by at most 2 pixels with zero fill"
        shifts.append(matches[0])
    assert len(set(shifts)) > 1


def test_cutout_blanks_one_square_of_half_the_side():
    x = images(batch=8, size=16) + 2.0  # no zeros in the input
    y = random_cutout(x, keras.random.SeedGenerator(2)).numpy()[..., 0]
    for image in y:
        rows, columns = np.nonzero(image == 0)
        assert rows.max() - rows.min() + 1 <= 8 and columns.max() - columns.min() + 1 <= 8
        assert len(rows) == (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)  # a rectangle
    assert (y == 0).sum(axis=(1, 2)).max() == 64


def test_brightness_adds_one_offset_per_image_and_contrast_keeps_the_mean():
    x = images()
    offsets = (random_brightness(x, keras.random.SeedGenerator(4)) - x).numpy()
    per_image = offsets.reshape(len(offsets), -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image), atol=1e-6)
    assert np.all(np.abs(per_image[:, 0]) <= 0.5)
    contrasted = random_contrast(x, keras.random.SeedGenerator(5)).numpy()
    np.testing.assert_allclose(contrasted.mean(axis=(1, 2, 3)), x.numpy().mean(axis=(1, 2, 3)), atol=1e-5)


def test_gradients_flow_through_every_operation():
    x = tf.Variable(images())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(augment(x, "translation,cutout,brightness,contrast", keras.random.SeedGenerator(0)) ** 2)
    gradient = tape.gradient(loss, x)
    assert gradient is not None and np.isfinite(gradient.numpy()).all() and np.abs(gradient.numpy()).sum() > 0
