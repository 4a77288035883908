"""The DCGAN networks: shapes, output range, the fused batch norm in their layers, the analytic FLOP count."""

import keras
import numpy as np
import pytest

from xgan.gan.models import build_discriminator, build_generator, count_training_flops
from xgan.runtime.batch_norm import FusedBatchNormalization


@pytest.mark.parametrize("image_size", [32, 64])
def test_generator_maps_latents_to_gray_images_in_tanh_range(image_size):
    generator = build_generator(image_size, latent_dim=8, width=4, seed=0)
    latents = np.random.default_rng(0).normal(size=(3, 8)).astype("float32") * 50  # saturate tanh
    for training in (False, True):
        images = keras.ops.convert_to_numpy(generator(latents, training=training))
        assert images.shape == (3, image_size, image_size, 1)
        assert images.min() >= -1.0 and images.max() <= 1.0


@pytest.mark.parametrize("image_size", [32, 64])
def test_discriminator_gives_one_logit_per_image(image_size):
    discriminator = build_discriminator(image_size, width=4, seed=0)
    logits = discriminator(np.zeros((5, image_size, image_size, 1), "float32"))
    assert tuple(logits.shape) == (5, 1)


def test_layout_follows_dcgan():
    generator = build_generator(64, latent_dim=100, width=64)
    transposed = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in transposed] == [256, 128, 64, 1]
    assert generator.layers[-1].activation.__name__ == "tanh"
    discriminator = build_discriminator(64, width=64)
    convolutions = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convolutions] == [64, 128, 256, 512, 1]
    assert all(layer.negative_slope == pytest.approx(0.2) for layer in discriminator.layers if isinstance(layer, keras.layers.LeakyReLU))
    batch_norms = [layer.name for layer in discriminator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms == ["down2_bn", "down3_bn", "down4_bn"]  # none on the first layer


def test_seeded_builds_are_identical():
    first, second = build_generator(32, 8, 4, seed=3), build_generator(32, 8, 4, seed=3)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("image_size", [30, 256])
def test_bad_image_size_is_refused(image_size):
    with pytest.raises(ValueError, match=f"Expected one of \\(32, 64, 128\\). Received: image_size={image_size}"):
        build_generator(image_size)


def test_the_networks_train_their_batch_norm_through_the_fused_kernel():
    """(The layer itself: tests/test_runtime_batch_norm.py.)"""
    for model in (build_generator(32, latent_dim=8, width=4, seed=0), build_discriminator(32, width=4)):
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and all(type(layer) is FusedBatchNormalization for layer in norms)


@pytest.mark.parametrize("image_size, width", [(32, 4), (64, 8)])
def test_flop_count_matches_the_layers(image_size, width):
    """Forward multiply-adds counted from the built layers' kernels and input sizes."""
    generator = build_generator(image_size, latent_dim=10, width=width)
    discriminator = build_discriminator(image_size, width=width)
    def multiply_adds(model):
        total = 0
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                total += int(np.prod(layer.kernel.shape))
            elif isinstance(layer, keras.layers.Conv2DTranspose):
                total += int(np.prod(layer.input.shape[1:3])) * int(np.prod(layer.kernel.shape))
            elif isinstance(layer, keras.layers.Conv2D):
                total += int(np.prod(layer.output.shape[1:3])) * int(np.prod(layer.kernel.shape))
        return total
    flops = count_training_flops(image_size, latent_dim=10, width=width, batch_size=2)
    assert flops["generator_forward_per_image"] == 2 * multiply_adds(generator)
    assert flops["discriminator_forward_per_image"] == 2 * multiply_adds(discriminator)
    assert flops["train_step"] == 2 * (3 * flops["generator_forward_per_image"] + 8 * flops["discriminator_forward_per_image"])
