"""TensorBoard logs beside a run's history.json: Keras' own callback for the scalars, and images.

`tensorboard_callback` is `keras.callbacks.TensorBoard` with the settings every xgan run uses (epoch
scalars, no graph, no histograms); `ImageLogger` adds a picture per epoch, e.g. the GAN's preview grid,
to the same `train` run, at the same 0-based step as the scalars. `tensorboard --logdir <run>` shows both.
"""

import importlib.util
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from ..errors import UserError

TENSORBOARD_DIR = "tensorboard"


def require_tensorboard() -> None:
    """Raise a UserError saying how to install TensorBoard when it is not installed (TensorFlow does not bring it)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError("--tensorboard needs the tensorboard package, which is not installed: "
                        "pip install tensorboard (or pip install xgan[tensorboard])")


def tensorboard_dir(run_dir: Path) -> Path:
    """Where a run folder keeps its TensorBoard logs."""
    return Path(run_dir) / TENSORBOARD_DIR


def tensorboard_callback(run_dir: Path) -> keras.callbacks.Callback:
    """Keras' TensorBoard callback writing every epoch's logged scalars under `<run_dir>/tensorboard`."""
    return keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir(run_dir)), histogram_freq=0, write_graph=False,
                                       write_images=False, write_steps_per_second=False, update_freq="epoch",
                                       profile_batch=0)


class ImageLogger(keras.callbacks.Callback):
    """Writes an image into the run's TensorBoard logs at the end of the epochs that have one.

    Args:
        run_dir: the run folder (logs go to `<run_dir>/tensorboard/train`, beside Keras' scalars).
        name: the image's tag, e.g. "preview".
        image_for_epoch: called with the 1-based epoch just finished; returns an (H, W) or (H, W, 3)
            uint8 image, or None when that epoch has none. Put this callback after the one that makes it.
    """

    def __init__(self, run_dir: Path, name: str, image_for_epoch: Callable[[int], np.ndarray | None]):
        super().__init__()
        self.log_dir = tensorboard_dir(run_dir) / "train"
        self.name = name
        self.image_for_epoch = image_for_epoch
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        image = self.image_for_epoch(epoch + 1)
        if image is None:
            return
        image = np.asarray(image, np.uint8)
        if image.ndim == 2:
            image = image[..., None]
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        with self._writer.as_default():
            tf.summary.image(self.name, image[None], step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
