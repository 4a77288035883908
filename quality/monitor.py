"""`KidMonitor`: a cheap KID estimate every N epochs of GAN training, logged as `kid`.

Cost is bounded: at most `num_images` (128) generated images, compared with the GAN's real training
images in a fixed, cheap feature space (by default `PixelFeatures(16)`: each image shrunk to 16x16).
That extractor needs no training and no download, costs microseconds, and does not change while the
GAN trains, so successive values are comparable; it sees brightness, layout and coarse anatomy
but not fine texture, so it tracks trends (collapse, drift, divergence), not final quality. Pass
`ClassifierFeatures` for a more meaningful space. `xgan quality` gives the full measurement.

Latents are drawn from one seed every time (`gan.generate_images`), so changes between epochs come
from the generator, not from the draw.
"""

import logging

import keras
import numpy as np

from ..errors import invalid_argument
from .features import PixelFeatures
from .kid import kernel_inception_distance

log = logging.getLogger("xgan")

MONITOR_MAX_IMAGES = 128


class KidMonitor(keras.callbacks.Callback):
    """Adds `kid` (the KID mean over subsets) to the epoch logs every `every` epochs and at the last epoch.

    Only the mean is logged: every logged value becomes a panel of the loss plot, and with a few
    dozen real images (all of them in every subset) the spread over subsets is tiny and says little.

    Used with `gan.train_gan(config, callbacks=[KidMonitor(...)])`; `self.model` is the DCGAN, whose
    `ema_generator`, `latent_dim` and `training_images` it reads.

    Args:
        every: epochs between estimates; must be positive (leave the callback out to switch it off).
        num_images: generated images per estimate, 2 to 128.
        features: maps (N, S, S) uint8 images to (N, D) features; default `PixelFeatures(16)`.
        real_images: (N, S, S) uint8 reference; default the GAN's own training images.
        num_subsets: subsets KID is averaged over.
        seed: seed of the latents and of the KID subsets.
    """

    def __init__(self, every: int, num_images: int = MONITOR_MAX_IMAGES, features=None, real_images=None,
                 num_subsets: int = 50, seed: int = 0):
        super().__init__()
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise invalid_argument("every", "a positive integer", every, error=ValueError)
        if not isinstance(num_images, int) or not 2 <= num_images <= MONITOR_MAX_IMAGES:
            raise invalid_argument("num_images", f"an integer from 2 to {MONITOR_MAX_IMAGES}", num_images, error=ValueError)
        if num_subsets < 1:
            raise invalid_argument("num_subsets", "a positive integer", num_subsets, error=ValueError)
        self.every = every
        self.num_images = num_images
        self.features = features or PixelFeatures()
        self.real_images = real_images
        self.num_subsets = num_subsets
        self.seed = seed
        self._real_features = None

    def _reference_features(self) -> np.ndarray:
        if self._real_features is None:
            real = self.real_images if self.real_images is not None else getattr(self.model, "monitor_images", self.model.training_images)
            self._real_features = self.features(np.asarray(real))
        return self._real_features

    def estimate(self) -> tuple[float, float]:
        """KID (mean, std) of the model's sample generator against the real reference, now."""
        from ..gan import generate_images

        # A conditional GAN offers its smallest class, bound to one input, as `monitor_generator`.
        generator = getattr(self.model, "monitor_generator", None)
        if generator is None:
            generator = getattr(self.model, "ema_generator", None)
        if generator is None:
            generator = self.model.generator
        images = generate_images(generator, self.num_images, self.seed, int(self.model.latent_dim))
        result = kernel_inception_distance(self._reference_features(), self.features(images),
                                           num_subsets=self.num_subsets, seed=self.seed)
        return result.mean, result.std

    def on_train_begin(self, logs=None):
        self._reference_features()

    def on_epoch_end(self, epoch, logs=None):
        last = (self.params or {}).get("epochs")
        if (epoch + 1) % self.every and epoch + 1 != last:
            return
        mean, std = self.estimate()
        if logs is not None:
            logs["kid"] = mean
        log.info("epoch %d: KID x 1000 = %.2f +- %.2f (%s features, %d images)", epoch + 1, 1000 * mean, 1000 * std,
                 self.features.name, self.num_images)
