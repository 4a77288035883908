"""`ConditionalDCGAN`: one DCGAN for every class of the training split, labels in both networks.

It keeps `DCGAN`'s property that the model owns its whole training state (images, labels, the seed
generator, the EMA generator), so a run resumes exactly. Real batches are drawn class-balanced
(each image's chance is 1 / (num_classes * its class's count)): with 99 normal and 3,300 pneumonia
images a proportional batch would hold one normal image, and the generator would hardly learn the
class it exists for. The fakes take the real batch's labels.
"""

import keras
import numpy as np
import tensorflow as tf

from ..errors import invalid_argument
from .dcgan import DCGAN


class ConditionalDCGAN(DCGAN):
    """A `DCGAN` whose generator and discriminator take `[input, label]`.

    Attributes beyond `DCGAN`'s:
        training_labels: (N,) int class index of each training image.
        class_names: the class of each index.
        monitor_class: the index of the smallest class; `monitor_generator` draws it, and
            `monitor_images` are its training images (for the KID monitor).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, training_images: np.ndarray,
                 training_labels: np.ndarray, class_names: list[str], **kwargs):
        super().__init__(generator, discriminator, training_images, **kwargs)
        labels = np.asarray(training_labels)
        self.class_names = list(class_names)
        num_classes = len(self.class_names)
        if labels.shape != (len(self.training_images),) or not np.issubdtype(labels.dtype, np.integer) \
                or labels.min() < 0 or labels.max() >= num_classes:
            raise invalid_argument("training_labels", f"one integer in 0..{num_classes - 1} per training image ({len(self.training_images)})",
                                   received=f"shape={labels.shape}, dtype={labels.dtype}", error=ValueError)
        counts = np.bincount(labels, minlength=num_classes)
        if (counts == 0).any():
            missing = self.class_names[int(np.argmin(counts))]
            raise invalid_argument("training_labels", "images of every class", received=f"none of class {missing!r}", error=ValueError)
        self.training_labels = labels.astype(np.int32)
        self.class_counts = counts
        self.monitor_class = int(np.argmin(counts))
        self._label_pool = tf.constant(self.training_labels)
        self._log_weights = tf.constant(np.log(1.0 / (num_classes * counts[labels])).astype(np.float32)[None, :])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def sample_training_batch(self):
        """A class-balanced batch of training images in [-1, 1] and their int labels."""
        indices = keras.random.categorical(self._log_weights, self.batch_size, seed=self.seed_generator)[0]
        real = tf.cast(tf.gather(self._real_pool, indices), "float32") / 127.5 - 1.0
        return real, tf.gather(self._label_pool, indices)

    def generate(self, latents, labels, training=False):
        return self.generator([latents, labels], training=training)

    def discriminate(self, images, labels, training=False):
        return self.discriminator([images, labels], training=training)

    def call(self, inputs, training=False):
        latents, labels = inputs
        return self.ema_generator([latents, labels], training=training)

    @property
    def monitor_generator(self) -> keras.Model:
        """The EMA generator bound to the smallest class: takes latents only (built once, shares the weights)."""
        if getattr(self, "_monitor_generator", None) is None:
            self._monitor_generator = bind_class(self.ema_generator, self.monitor_class)
        return self._monitor_generator

    @property
    def monitor_images(self) -> np.ndarray:
        return self.training_images[self.training_labels == self.monitor_class]


def bind_class(generator: keras.Model, class_index: int) -> keras.Model:
    """A one-input model: latents -> `generator([latents, class_index])`, sharing its weights.

    Everything that samples from a generator by latents alone (`generate_images`, the quality
    report, checkpoint selection) then works on one class of a conditional generator.
    """
    latent = keras.Input(shape=(int(generator.inputs[0].shape[-1]),), name="latent")
    labels = keras.layers.Lambda(lambda z: tf.fill([tf.shape(z)[0]], tf.constant(class_index, tf.int32)),
                                 name=f"class_{class_index}")(latent)
    return keras.Model(latent, generator([latent, labels]), name=f"{generator.name}_class{class_index}")
