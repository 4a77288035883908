"""`DiffusionModel`: a small denoising diffusion model sampled by DDIM, the generator of `xgan train --model ddim`.

After keras-io's "Denoising Diffusion Implicit Models" (Keras 3): a residual U-Net predicts the noise in a
noisy image at a continuous diffusion time (cosine schedule, signal rates 0.95 to 0.02; mean absolute error on
the noise; AdamW), and an exponential moving average of its weights denoises when drawing. DDIM draws an image
deterministically from one starting noise image in `sampling_steps` network calls.

It fits the DCGAN's run folder and tools as they are: the model keeps its training images and draws every
random number (batch order, noise, times) from its `SeedGenerator`, so its variables and its optimizer's are the
complete training state (exact resume); `ema_generator` is a latent-to-image `keras.Model` whose latent is the
starting noise, flattened (one value per pixel), so previews, snapshots, `load_generator`, `xgan sample`,
`quality` and `run` take it as they take a DCGAN generator. Its weights are the averaged U-Net's plus the
training images' mean and spread (which normalise the U-Net's inputs), so a snapshot draws on its own.
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from .dcgan import checked_training_images, draw_real_batch, move_average

MAX_SIGNAL_RATE = 0.95  # keras-io's schedule: the least and the most noise a training image gets
MIN_SIGNAL_RATE = 0.02
EMBEDDING_DIMS = 32
EMBEDDING_MAX_FREQUENCY = 1000.0
WEIGHT_DECAY = 1e-4  # AdamW's, keras-io's
LEVELS = {32: 3, 64: 4, 128: 5}  # U-Net levels: the lowest is 8x8 at every size
BLOCK_DEPTH = 1  # residual blocks a level (keras-io: 2; 1 measured in benchmarks/bench_diffusion.py)
BATCH_NORM_MOMENTUM = 0.99


def unet_widths(image_size: int, width: int) -> tuple[int, ...]:
    """The U-Net's channels per level: width, 2 x width, then 4 x width for every lower level."""
    return tuple(width * min(2 ** level, 4) for level in range(LEVELS[image_size]))


def diffusion_rates(times):
    """(noise rates, signal rates) at diffusion times in [0, 1]: the cosine schedule, their squares summing to 1."""
    start_angle = math.acos(MAX_SIGNAL_RATE)
    end_angle = math.acos(MIN_SIGNAL_RATE)
    angles = start_angle + times * (end_angle - start_angle)
    return ops.sin(angles), ops.cos(angles)


class NoiseEmbedding(layers.Layer):
    """A noise variance (batch, 1, 1, 1) as sinusoids of `EMBEDDING_DIMS // 2` frequencies, (batch, 1, 1, EMBEDDING_DIMS)."""

    def call(self, variances):
        frequencies = ops.exp(ops.linspace(0.0, math.log(EMBEDDING_MAX_FREQUENCY), EMBEDDING_DIMS // 2))
        angular_speeds = ops.cast(2.0 * math.pi * frequencies, variances.dtype)
        return ops.concatenate([ops.sin(angular_speeds * variances), ops.cos(angular_speeds * variances)], axis=3)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, 1, EMBEDDING_DIMS)


def build_unet(image_size: int, width: int, name: str = "unet") -> keras.Model:
    """keras-io's residual U-Net: (noisy images, noise variances) in, predicted noise out.

    Every layer is named, so the variables' paths (and the files that store them by path) are the same in
    every process. Weights start from Keras' default initializers, drawn from the global seed.
    """
    widths = unet_widths(image_size, width)
    noisy_images = keras.Input((image_size, image_size, 1), name="noisy_images")
    noise_variances = keras.Input((1, 1, 1), name="noise_variances")
    embedding = NoiseEmbedding(name="embedding")(noise_variances)
    embedding = layers.UpSampling2D(size=image_size, interpolation="nearest", name="embedding_up")(embedding)
    x = layers.Concatenate(name="input_concat")([layers.Conv2D(widths[0], 1, name="input_conv")(noisy_images), embedding])

    def residual_block(x, width, block):
        residual = x if x.shape[3] == width else layers.Conv2D(width, 1, name=f"{block}_skip")(x)
        x = layers.BatchNormalization(center=False, scale=False, momentum=BATCH_NORM_MOMENTUM, name=f"{block}_bn")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="swish", name=f"{block}_conv1")(x)
        x = layers.Conv2D(width, 3, padding="same", name=f"{block}_conv2")(x)
        return layers.Add(name=f"{block}_add")([x, residual])

    skips = []
    for level, level_width in enumerate(widths[:-1], start=1):
        for index in range(BLOCK_DEPTH):
            x = residual_block(x, level_width, f"down{level}_{index}")
            skips.append(x)
        x = layers.AveragePooling2D(2, name=f"down{level}_pool")(x)
    for index in range(BLOCK_DEPTH):
        x = residual_block(x, widths[-1], f"middle_{index}")
    for level, level_width in reversed(list(enumerate(widths[:-1], start=1))):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level}_upsample")(x)
        for index in range(BLOCK_DEPTH):
            x = layers.Concatenate(name=f"up{level}_{index}_concat")([x, skips.pop()])
            x = residual_block(x, level_width, f"up{level}_{index}")
    outputs = layers.Conv2D(1, 1, kernel_initializer="zeros", name="output_conv")(x)
    return keras.Model([noisy_images, noise_variances], outputs, name=name)


class DDIMSampler(layers.Layer):
    """Flattened starting noise (batch, size * size) to images (batch, size, size, 1) in [-1, 1], by DDIM.

    Holds the network it denoises with and the training images' mean and spread (non-trainable weights,
    set by `DiffusionModel` from its images and restored from a snapshot with the network's weights).
    """

    def __init__(self, network: keras.Model, sampling_steps: int, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.sampling_steps = int(sampling_steps)
        self.image_size = int(network.inputs[0].shape[1])
        self.data_mean = self.add_weight(shape=(), initializer="zeros", trainable=False, name="data_mean")
        self.data_std = self.add_weight(shape=(), initializer="ones", trainable=False, name="data_std")

    def call(self, latents):
        size = self.image_size
        noisy = ops.reshape(latents, (-1, size, size, 1))
        ones = ops.ones_like(noisy[:, :1, :1, :1])
        step_size = 1.0 / self.sampling_steps
        for step in range(self.sampling_steps):
            noise_rate, signal_rate = diffusion_rates(ones * (1.0 - step * step_size))
            predicted_noise = self.network([noisy, noise_rate ** 2], training=False)
            predicted_image = (noisy - noise_rate * predicted_noise) / signal_rate
            next_noise_rate, next_signal_rate = diffusion_rates(ones * (1.0 - (step + 1) * step_size))
            noisy = next_signal_rate * predicted_image + next_noise_rate * predicted_noise
        return ops.clip(predicted_image * self.data_std + self.data_mean, -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.image_size, self.image_size, 1)


def build_sampler(network: keras.Model, sampling_steps: int) -> keras.Model:
    """The latent-to-image generator around `network`: latents (batch, size * size) to (batch, size, size, 1)."""
    size = int(network.inputs[0].shape[1])
    latents = keras.Input((size * size,), name="latents")
    return keras.Model(latents, DDIMSampler(network, sampling_steps, name="ddim")(latents), name="ddim_generator")


class DiffusionModel(keras.Model):
    """The U-Net being trained, its weight average and the DDIM generator drawing with the average.

    Attributes, named as the DCGAN's so that callbacks, checkpoints and sampling treat both alike:
        generator: the U-Net being trained ((noisy images, variances) to noise).
        ema_network: its weight average; ema_generator: the DDIM generator around it (latents to images).
        g_optimizer: the AdamW optimizer; latent_dim, image_size, batch_size, training_images as the DCGAN's.
    """

    def __init__(self, network: keras.Model, ema_network: keras.Model, training_images: np.ndarray, *,
                 sampling_steps: int, batch_size: int = 32, ema_kimg: float = 4.4, ema_rampup: float = 0.05, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        images = checked_training_images(training_images)
        self.generator = network
        self.ema_network = ema_network
        self.ema_network.set_weights(network.get_weights())
        self.ema_generator = build_sampler(ema_network, sampling_steps)
        sampler = self.ema_generator.get_layer("ddim")
        scaled = images.astype(np.float64) / 127.5 - 1.0
        sampler.data_mean.assign(float(scaled.mean()))
        sampler.data_std.assign(max(float(scaled.std()), 1e-3))
        self.data_mean, self.data_std = sampler.data_mean, sampler.data_std
        self.image_size = int(images.shape[1])
        self.latent_dim = self.image_size ** 2
        self.training_images = images
        self.batch_size = int(batch_size)
        self.ema_kimg = float(ema_kimg)
        self.ema_rampup = float(ema_rampup)
        self.seed_generator = keras.random.SeedGenerator(seed, name="training_seed")
        self._real_pool = tf.constant(images[..., None])

    def compile(self, optimizer: keras.optimizers.Optimizer, **kwargs):
        """Set the optimizer (kept as `g_optimizer`, the name checkpoints and callbacks read)."""
        super().compile(**kwargs)
        self.g_optimizer = optimizer
        self.noise_loss_tracker = keras.metrics.Mean(name="noise_loss")

    @property
    def metrics(self):
        return [self.noise_loss_tracker]

    def build_optimizers(self) -> None:
        """Create the optimizer's variables now (before the first step), so a checkpoint can fill them."""
        self.g_optimizer.build(self.generator.trainable_variables)

    def call(self, latents, training=False):
        return self.ema_generator(latents, training=training)

    def train_step(self, data):
        del data  # a placeholder from fit's iterator: the batch comes from the model itself
        real = draw_real_batch(self._real_pool, len(self.training_images), self.batch_size, self.seed_generator)
        images = (real - self.data_mean) / self.data_std
        noises = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        times = keras.random.uniform((self.batch_size, 1, 1, 1), seed=self.seed_generator)
        noise_rates, signal_rates = diffusion_rates(times)
        noisy_images = signal_rates * images + noise_rates * noises
        with tf.GradientTape() as tape:
            predicted_noises = self.generator([noisy_images, noise_rates ** 2], training=True)
            noise_loss = ops.mean(ops.abs(noises - predicted_noises))
        gradients = tape.gradient(noise_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(gradients, self.generator.trainable_weights))
        self.update_ema()
        self.noise_loss_tracker.update_state(noise_loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def update_ema(self):
        """Move the average towards the network, batch-norm statistics included (the DCGAN's half-life rule)."""
        move_average(self.ema_network.weights, self.generator.weights, self.g_optimizer.iterations, self.batch_size,
                     self.ema_kimg, self.ema_rampup)
