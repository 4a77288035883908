"""TensorBoard logs beside history.json: the GAN's scalars and preview grids, the classifier's scalars."""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("tensorboard")

from conftest import make_folder_dataset
from xgan.classifier.config import ClassifierConfig
from xgan.classifier.train import train_classifier
from xgan.gan import GanConfig, train_gan
from xgan.errors import UserError
from xgan.runtime.tensorboard_logs import TENSORBOARD_DIR, ImageLogger


def logged(folder) -> dict[str, dict[str, list[int]]]:
    """{sub-folder: {tag: [steps]}} of every TensorBoard event file under `folder`."""
    found = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        tags = found.setdefault(path.parent.name, {})
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(int(event.step))
    return found


@pytest.mark.slow  # a whole (tiny) GAN run: over 10 s on two shared cores
def test_gan_run_logs_scalars_and_the_preview_grid(tmp_path):
    data = make_folder_dataset(tmp_path / "xrays", {"covid": 12, "normal": 20})
    config = GanConfig(data=str(data), image_size=32, width=4, latent_dim=8, batch_size=4, epochs=2, preview_every=5,
                       checkpoint_every=5, snapshot_every=5, out=str(tmp_path / "runs"), tensorboard=True)
    run_dir = train_gan(config)
    tags = logged(run_dir / TENSORBOARD_DIR)["train"]
    assert tags["epoch_d_loss"] == [0, 1] and tags["epoch_g_loss"] == [0, 1]
    assert tags["preview"] == [1]  # the last epoch's grid (none at epoch 1 with preview_every=5), 0-based like the scalars
    assert [p.name for p in (run_dir / "previews").glob("epoch_*.png")] == ["epoch_0002.png"]


def test_image_logger_writes_only_the_epochs_that_have_an_image(tmp_path):
    images = {2: np.full((4, 6), 9, np.uint8)}
    logger = ImageLogger(tmp_path, "preview", images.get)
    for epoch in range(3):
        logger.on_epoch_end(epoch)
    logger.on_train_end()
    assert logged(tmp_path / TENSORBOARD_DIR) == {"train": {"preview": [1]}}


def test_missing_tensorboard_is_a_user_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install tensorboard"):
        GanConfig(tensorboard=True)


def test_classifier_logs_training_and_validation_scalars(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (24, 16, 16), dtype=np.uint8)
    labels = np.array([0, 1] * 12)
    config = ClassifierConfig(image_size=16, conv_filters=(4,), dense_units=(8,), epochs=2, patience=5)
    train_classifier(config, images, labels, validation=(images[:8], labels[:8]), tensorboard_run=tmp_path)
    found = logged(tmp_path / TENSORBOARD_DIR)
    assert found["train"]["epoch_loss"] == [0, 1]
    assert found["validation"]["epoch_auc"] == [0, 1] and found["validation"]["epoch_loss"] == [0, 1]
