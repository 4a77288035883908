"""Class-conditional DCGAN networks: a generator with a class embedding, a projection discriminator.

Generator: the DCGAN generator whose input is the latent vector concatenated with a learned
embedding of the class (as in BAGAN, one generator for every class, so a small class borrows the
anatomy the large ones teach). Discriminator: the DCGAN discriminator's convolutions, then the
projection head of Miyato & Koyama (2018): logit = w . h + embed(class) . h, where h is the
flattened 4x4 feature map. The same batch norm, LeakyReLU 0.2 and N(0, 0.02) weights as `models.py`.
"""

import keras
from keras import layers

from ..errors import invalid_argument
from ..runtime.precision import OUTPUT_DTYPE
from .models import _conv_init, _num_resamplings, discriminator_body, generator_body


def build_conditional_generator(image_size: int = 64, latent_dim: int = 100, width: int = 64, num_classes: int = 2,
                                seed: int | None = None) -> keras.Model:
    """Build the class-conditional generator.

    Args:
        image_size: 32, 64 or 128; the output is (image_size, image_size, 1).
        latent_dim: length of the latent vector, and of the class embedding concatenated to it.
        width: channels of the last hidden layer, as for `build_generator`.
        num_classes: number of classes; labels are integers 0..num_classes-1.
        seed: seed of the weight initialisers; None draws from Keras' global seed.

    Returns:
        A `keras.Model` named "generator" mapping [(batch, latent_dim) latents, (batch,) int labels]
        to images in [-1, 1].
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise invalid_argument("num_classes", "an integer of at least 2", num_classes, error=ValueError)
    num_upsamplings = _num_resamplings(image_size)
    seeds = keras.random.SeedGenerator(seed) if seed is not None else None
    latent = keras.Input(shape=(latent_dim,), name="latent")
    label = keras.Input(shape=(), dtype="int32", name="label")
    embedding = layers.Embedding(num_classes, latent_dim, embeddings_initializer=_conv_init(seeds), name="class_embedding")(label)
    x = layers.Concatenate(name="latent_and_class")([latent, embedding])
    image = generator_body(x, width, num_upsamplings, seeds)
    return keras.Model([latent, label], image, name="generator")


def build_projection_discriminator(image_size: int = 64, width: int = 64, num_classes: int = 2,
                                   seed: int | None = None) -> keras.Model:
    """Build the projection discriminator.

    Args:
        image_size: 32, 64 or 128; the input images are (image_size, image_size, 1) in [-1, 1].
        width: channels of the first layer; each later layer has twice as many.
        num_classes: number of classes; labels are integers 0..num_classes-1.
        seed: seed of the weight initialisers; None draws from Keras' global seed.

    Returns:
        A `keras.Model` named "discriminator" mapping [images, (batch,) int labels] to one logit
        each, shape (batch, 1).
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise invalid_argument("num_classes", "an integer of at least 2", num_classes, error=ValueError)
    num_downsamplings = _num_resamplings(image_size)
    seeds = keras.random.SeedGenerator(seed) if seed is not None else None
    image = keras.Input(shape=(image_size, image_size, 1), name="image")
    label = keras.Input(shape=(), dtype="int32", name="label")
    x = discriminator_body(image, width, num_downsamplings, seeds)
    features = layers.Flatten(name="features")(x)
    unconditional = layers.Dense(1, kernel_initializer=_conv_init(seeds), name="logit_dense")(features)
    embedding = layers.Embedding(num_classes, int(features.shape[-1]), embeddings_initializer=_conv_init(seeds),
                                 name="class_projection")(label)
    projection = layers.Dot(axes=1, name="projection")([embedding, features])
    logit = layers.Add(dtype=OUTPUT_DTYPE, name="logit")([unconditional, projection])
    return keras.Model([image, label], logit, name="discriminator")
