"""Feature extractors for the quality metrics: each maps (N, S, S) uint8 images to (N, D) float features.

Three extractors, all available offline:

- `PixelFeatures`: the image shrunk to a few pixels a side. Needs no training and no download and
  costs microseconds, so it serves the KID monitor during GAN training; it sees brightness, layout and
  coarse anatomy but not fine texture, so its values show trends, not perceptual quality.
- `ClassifierFeatures`: the penultimate layer of the project's classifier trained on real images
  (`classifier.fit_real_classifier`), or of a saved one. Features that matter for chest X-rays,
  though learned from few images.
- `InceptionFeatures`: InceptionV3's pooled features, the usual choice for FID/KID, only from a local
  weights file the user passes; this module never downloads anything.
"""

import logging
from pathlib import Path

import numpy as np

from ..errors import UserError, invalid_argument
from ..datasets.images import resize_batch
from ..measures.pixels import DEFAULT_PIXEL_SIZE, PixelFeatures, check_images

log = logging.getLogger("xgan")

FEATURE_KINDS = ("classifier", "pixels", "inception")
INCEPTION_MIN_SIZE = 75  # InceptionV3's smallest accepted input side
INCEPTION_DEFAULT_SIZE = 299


class ClassifierFeatures:
    """The penultimate layer of a classifier of this project (`classifier.penultimate_features`).

    Images are resized to the model's input side first.
    """

    def __init__(self, model, description: str):
        self.model = model
        self.input_size = int(model.input_shape[1])
        self.name = "classifier"
        self.description = description

    def __call__(self, images) -> np.ndarray:
        from ..classifier.train import penultimate_features

        images = resize_batch(check_images(images), self.input_size)
        return np.asarray(penultimate_features(self.model, images), dtype=np.float32)


class InceptionFeatures:
    """InceptionV3 pooled features (2048) from a local weights file; gray is copied into 3 channels.

    Args:
        weights_file: a Keras InceptionV3 no-top weights file (`.h5`), read locally.
        size: input side; 299 is the network's own, 75 its minimum (cheaper, less faithful).
        batch_size: images per forward pass.

    Raises:
        UserError: the file is missing or not InceptionV3 no-top weights; a size below 75.
    """

    def __init__(self, weights_file: Path, size: int = INCEPTION_DEFAULT_SIZE, batch_size: int = 32):
        weights_file = Path(weights_file)
        if size < INCEPTION_MIN_SIZE:
            raise invalid_argument("inception_size", f"an integer >= {INCEPTION_MIN_SIZE}", received=f"inception_size={size}")
        if not weights_file.is_file():
            raise UserError(f"{weights_file}: no such weights file; expected a local InceptionV3 no-top weights "
                            "file (.h5); xgan never downloads weights")
        import keras

        try:
            self.model = keras.applications.InceptionV3(weights=str(weights_file), include_top=False,
                                                        pooling="avg", input_shape=(size, size, 3))
        except (ValueError, OSError) as error:
            raise UserError(f"{weights_file}: not usable as InceptionV3 no-top weights ({error})") from None
        self.size = size
        self.batch_size = batch_size
        self.name = "inception"
        self.description = (f"InceptionV3 pooled features (2048) from {weights_file.name}, gray copied to 3 "
                            f"channels, {size}x{size}")

    def __call__(self, images) -> np.ndarray:
        import keras

        images = resize_batch(check_images(images), self.size).astype(np.float32)
        rgb = np.repeat(images[..., None], 3, axis=-1)
        inputs = keras.applications.inception_v3.preprocess_input(rgb)
        return np.asarray(self.model.predict(inputs, batch_size=self.batch_size, verbose=0), dtype=np.float32)


def load_classifier_features(path: Path) -> ClassifierFeatures:
    """Feature extractor from a saved classifier (a run folder or its `model.keras`), loaded in safe mode."""
    from ..classifier.saving import load_classifier

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such model; expected a classifier run folder or its model.keras")
    model = load_classifier(path)
    return ClassifierFeatures(model, f"penultimate layer of the saved classifier {path.name}")


def fit_classifier_features(images: np.ndarray, labels: np.ndarray, class_names: list[str], *, epochs: int,
                            seed: int, validation=None) -> ClassifierFeatures:
    """Train the project's classifier on real training images of every class and use its penultimate layer.

    Args:
        images: (N, S, S) uint8 real training images, every class.
        labels: their integer classes.
        class_names: names of the classes, for the description.
        epochs: training epochs.
        seed: training seed.
        validation: optional (images, labels) of the real validation split, for early stopping.
    """
    from ..classifier.train import fit_real_classifier

    log.info("training the feature classifier on %d real training images (%d epochs)", len(images), epochs)
    model = fit_real_classifier(images, labels, epochs=epochs, seed=seed, validation=validation)
    counts = ", ".join(f"{name} {int((labels == i).sum())}" for i, name in enumerate(class_names))
    return ClassifierFeatures(model, f"penultimate layer of the project's classifier trained here for {epochs} "
                                     f"epochs on the real training split ({counts}), seed {seed}")
