"""The DCGAN generator and discriminator (Radford et al., 2016), for one gray channel.

Generator: a projection of the latent vector to a 4x4 map, then strided transposed convolutions
(kernel 4, stride 2), each followed by batch norm and ReLU, halving the channels while doubling the
size, and a last transposed convolution to one channel with tanh. Discriminator: the mirror image,
strided convolutions with LeakyReLU 0.2 and batch norm on every layer but the first, ending in one
logit. Weights start from N(0, 0.02) as in the paper.
"""

import math

import keras
import tensorflow as tf
from keras import layers

from ..errors import invalid_argument
from ..runtime.batch_norm import FusedBatchNormalization
from ..runtime.precision import OUTPUT_DTYPE
from .config import IMAGE_SIZES, UPSAMPLINGS


BATCH_NORM_MOMENTUM = 0.9  # moving statistics follow the last ~10 steps, as in the reference DCGAN code


def _batch_norm(name: str, seeds) -> layers.Layer:
    return FusedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, gamma_initializer=_gamma_init(seeds), name=name)


def _num_resamplings(image_size: int) -> int:
    """How many stride-2 layers lie between a 4x4 map and an image of `image_size`."""
    if image_size not in IMAGE_SIZES:
        raise invalid_argument("image_size", f"one of {IMAGE_SIZES}", received=f"image_size={image_size}", error=ValueError)
    return int(math.log2(image_size // 4))


def _conv_init(seed):
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02, seed=seed)


def _gamma_init(seed):
    return keras.initializers.RandomNormal(mean=1.0, stddev=0.02, seed=seed)


def build_generator(image_size: int = 64, latent_dim: int = 100, width: int = 64, seed: int | None = None,
                    upsample: str = "transpose") -> keras.Model:
    """Build the DCGAN generator.

    Args:
        image_size: 32, 64 or 128; the output is (image_size, image_size, 1).
        latent_dim: length of the latent vector.
        width: channels of the last hidden layer; each earlier layer has twice as many, so the
            4x4 map of a 64 px generator has 8 * width channels (the paper's 1024 for width 128).
        seed: seed of the weight initialisers; None draws from Keras' global seed.
        upsample: "transpose" (the paper's stride-2 4x4 transposed convolutions) or "resize"
            (nearest-neighbour x2 then a 3x3 convolution, which leaves no checkerboard; Odena et al. 2016).

    Returns:
        A `keras.Model` named "generator" mapping (batch, latent_dim) to images in [-1, 1].
    """
    num_upsamplings = _num_resamplings(image_size)
    seeds = keras.random.SeedGenerator(seed) if seed is not None else None
    latent = keras.Input(shape=(latent_dim,), name="latent")
    return keras.Model(latent, generator_body(latent, width, num_upsamplings, seeds, upsample), name="generator")


def generator_body(x, width: int, num_upsamplings: int, seeds, upsample: str = "transpose"):
    """The generator from its input vector to the tanh image: project to 4x4, then upsample x2 per layer.

    Shared by the DCGAN's generator and the conditional one, with the same layer names, so both build,
    save and restore alike.
    """
    if upsample not in UPSAMPLINGS:
        raise invalid_argument("upsample", f"one of {UPSAMPLINGS}", upsample, error=ValueError)
    channels = width * 2 ** (num_upsamplings - 1)
    x = layers.Dense(4 * 4 * channels, use_bias=False, kernel_initializer=_conv_init(seeds), name="project")(x)
    x = layers.Reshape((4, 4, channels), name="project_reshape")(x)
    x = _batch_norm("project_bn", seeds)(x)
    x = layers.ReLU(name="project_relu")(x)
    for index in range(1, num_upsamplings):
        channels //= 2
        x = _upsampling(x, channels, index, seeds, upsample, use_bias=False)
        x = _batch_norm(f"up{index}_bn", seeds)(x)
        x = layers.ReLU(name=f"up{index}_relu")(x)
    x = _upsampling(x, 1, num_upsamplings, seeds, upsample, use_bias=True)
    return layers.Activation("tanh", dtype=OUTPUT_DTYPE, name="image")(x)


def _upsampling(x, channels: int, index: int, seeds, upsample: str, use_bias: bool):
    if upsample == "transpose":
        return layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=use_bias,
                                      kernel_initializer=_conv_init(seeds), name=f"up{index}")(x)
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{index}_resize")(x)
    return layers.Conv2D(channels, 3, padding="same", use_bias=use_bias, kernel_initializer=_conv_init(seeds),
                         name=f"up{index}")(x)


def build_discriminator(image_size: int = 64, width: int = 64, seed: int | None = None, *,
                        spectral_norm: bool = False, minibatch_std: bool = False) -> keras.Model:
    """Build the DCGAN discriminator.

    Args:
        image_size: 32, 64 or 128; the input is (image_size, image_size, 1) in [-1, 1].
        width: channels of the first layer; each later layer has twice as many.
        seed: seed of the weight initialisers; None draws from Keras' global seed.
        spectral_norm: wrap every convolution in spectral normalization (Miyato et al. 2018) and drop
            the batch norm, which it replaces as the discriminator's stabiliser.
        minibatch_std: append the batch's mean feature standard deviation as one more channel of
            the 4x4 map (Karras et al. 2018), so the discriminator can see a collapsed batch.

    Returns:
        A `keras.Model` named "discriminator" mapping images to one logit each, shape (batch, 1).
    """
    num_downsamplings = _num_resamplings(image_size)
    seeds = keras.random.SeedGenerator(seed) if seed is not None else None
    image = keras.Input(shape=(image_size, image_size, 1), name="image")
    x = discriminator_body(image, width, num_downsamplings, seeds, spectral_norm=spectral_norm)
    if minibatch_std:
        x = MinibatchStandardDeviation(name="minibatch_std")(x)
    x = _spectral(layers.Conv2D(1, 4, padding="valid", kernel_initializer=_conv_init(seeds), name="logit_conv"),
                  spectral_norm)(x)
    logit = layers.Flatten(dtype=OUTPUT_DTYPE, name="logit")(x)
    return keras.Model(image, logit, name="discriminator")


def discriminator_body(x, width: int, num_downsamplings: int, seeds, spectral_norm: bool = False):
    """The discriminator's strided convolutions down to 4x4, shared with the projection discriminator (same layer names)."""
    channels = width
    for index in range(1, num_downsamplings + 1):
        x = _spectral(layers.Conv2D(channels, 4, strides=2, padding="same", use_bias=index == 1 or spectral_norm,
                                    kernel_initializer=_conv_init(seeds), name=f"down{index}"), spectral_norm)(x)
        if index > 1 and not spectral_norm:
            x = _batch_norm(f"down{index}_bn", seeds)(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"down{index}_lrelu")(x)
        channels *= 2
    return x


def _spectral(layer: layers.Layer, spectral_norm: bool) -> layers.Layer:
    if not spectral_norm:
        return layer
    return layers.SpectralNormalization(layer, power_iterations=1, name=f"{layer.name}_sn")


class MinibatchStandardDeviation(layers.Layer):
    """Append one channel: the standard deviation of every feature over the batch, averaged to one number.

    A discriminator that sees it can tell a batch of near-identical fakes from a varied real batch,
    which pushes the generator towards variety (ProGAN's minibatch standard deviation, one group).
    Under a tf.distribute strategy the statistic is the replica's own batch.
    """

    def call(self, inputs):
        values = tf.cast(inputs, "float32")
        deviation = tf.sqrt(tf.math.reduce_variance(values, axis=0) + 1e-8)
        statistic = tf.reduce_mean(deviation)
        shape = tf.shape(inputs)
        channel = tf.fill([shape[0], shape[1], shape[2], 1], statistic)
        return tf.concat([inputs, tf.cast(channel, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def count_training_flops(image_size: int = 64, latent_dim: int = 100, width: int = 64, batch_size: int = 32) -> dict[str, float]:
    """Floating-point operations of the model, counted analytically from its layers.

    Counts multiply-adds of the dense and convolution layers as 2 FLOPs each (batch norm and
    activations are a few per element and ignored). A backward pass costs about twice a forward
    pass (gradients with respect to inputs and to weights).

    Returns:
        Forward FLOPs per image of the generator and the discriminator, and the FLOPs of one
        training step of `DCGAN.train_step` (one generator forward shared by both updates, the
        discriminator on the real and the fake batch, then the generator update through it).
    """
    num = _num_resamplings(image_size)
    channels = width * 2 ** (num - 1)
    generator = latent_dim * 16 * channels
    size = 4
    for index in range(1, num + 1):
        out_channels = 1 if index == num else channels // 2
        generator += size * size * channels * out_channels * 16  # each input pixel feeds a 4x4 output patch
        channels, size = out_channels, size * 2
    discriminator, size, in_channels, channels = 0, image_size, 1, width
    for _ in range(num):
        size //= 2
        discriminator += size * size * in_channels * channels * 16
        in_channels, channels = channels, channels * 2
    discriminator += 16 * in_channels
    generator_flops, discriminator_flops = 2.0 * generator, 2.0 * discriminator
    # D update: G forward, D forward+backward on real and fake. G update: D forward and backward
    # (input gradients only, about one forward) on the fakes, then G backward.
    per_image = (generator_flops + 2 * 3 * discriminator_flops) + (2 * discriminator_flops + 2 * generator_flops)
    return {
        "generator_forward_per_image": generator_flops,
        "discriminator_forward_per_image": discriminator_flops,
        "train_step": per_image * batch_size,
    }
