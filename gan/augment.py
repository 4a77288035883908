"""Differentiable augmentation for small-data GAN training, after DiffAugment (Zhao et al., 2020).

The same random transformations are applied to real and generated images in front of the
discriminator, so it cannot memorise a few hundred training images, while the generator still
receives gradients through them. Only operations that make sense for one gray channel are offered.
Every operation is a pure function of the images and a seed, and runs inside the compiled step.
"""

import keras
import tensorflow as tf

from .config import AUGMENT_OPERATIONS, parse_policy

TRANSLATION_RATIO = 0.125  # largest shift, as a fraction of the image side
CUTOUT_RATIO = 0.5  # side of the blanked square, as a fraction of the image side


def augment(images, policy: str | tuple[str, ...], seed, probability=None):
    """Apply the policy's random transformations, drawn independently for every image.

    Args:
        images: (batch, height, width, 1) float tensor in [-1, 1].
        policy: a policy string or the tuple `parse_policy` returns.
        seed: a `keras.random.SeedGenerator` (or anything `keras.random` accepts as a seed).
        probability: None (every image transformed), or a scalar in [0, 1]: each image is
            transformed with this probability and left as it is otherwise (adaptive augmentation,
            whose probability the training step tunes). The random draws are the same either way,
            plus one uniform number per image for the choice.

    Returns:
        A tensor of the same shape; the input itself when the policy is empty.
    """
    operations = parse_policy(policy) if isinstance(policy, str) else policy
    original = images
    for name in operations:
        images = _OPERATIONS[name](images, seed)
    if probability is None or not operations:
        return images
    chosen = keras.random.uniform((tf.shape(original)[0], 1, 1, 1), dtype=original.dtype, seed=seed) < tf.cast(probability, original.dtype)
    return tf.where(chosen, images, original)


def random_brightness(images, seed):
    """Add one offset in [-0.5, 0.5) to each image."""
    offset = keras.random.uniform((tf.shape(images)[0], 1, 1, 1), dtype=images.dtype, seed=seed) - 0.5
    return images + offset


def random_contrast(images, seed):
    """Scale each image's deviation from its mean by a factor in [0.5, 1.5)."""
    factor = keras.random.uniform((tf.shape(images)[0], 1, 1, 1), dtype=images.dtype, seed=seed) + 0.5
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * factor + mean


def random_translation(images, seed):
    """Shift each image by up to 1/8 of its side in each direction, filling with zeros.

    The shift is applied as two products with 0/1 shift matrices, which is exact, cheap at these
    sizes and compiles to plain batched matrix products.
    """
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    shift_y = _random_shifts(batch, height, seed)
    shift_x = _random_shifts(batch, width, seed)
    # rows[b, i, j] = 1 where output row i reads input row j = i + shift.
    rows = tf.one_hot(tf.range(height)[None, :] + shift_y[:, None], height, dtype=images.dtype)
    columns = tf.one_hot(tf.range(width)[None, :] + shift_x[:, None], width, dtype=images.dtype)
    shifted = tf.matmul(rows, images[..., 0])
    shifted = tf.matmul(shifted, columns, transpose_b=True)
    return shifted[..., None]


def random_cutout(images, seed):
    """Blank (set to zero) a square of half the image side at a random place in each image."""
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    inside_y = _random_window(batch, height, seed)
    inside_x = _random_window(batch, width, seed)
    keep = 1.0 - tf.cast(inside_y[:, :, None] & inside_x[:, None, :], images.dtype)
    return images * keep[..., None]


def _random_shifts(batch, size: int, seed):
    limit = int(size * TRANSLATION_RATIO + 0.5)
    return keras.random.randint((batch,), -limit, limit + 1, seed=seed, dtype="int32")


def _random_window(batch, size: int, seed):
    """(batch, size) booleans marking a random run of `size * CUTOUT_RATIO` positions."""
    length = int(size * CUTOUT_RATIO + 0.5)
    centre = keras.random.randint((batch, 1), 0, size + (1 - length % 2), seed=seed, dtype="int32")
    positions = tf.range(size)[None, :]
    return (positions >= centre - length // 2) & (positions < centre - length // 2 + length)


_OPERATIONS = {
    "brightness": random_brightness,
    "contrast": random_contrast,
    "translation": random_translation,
    "cutout": random_cutout,
}
