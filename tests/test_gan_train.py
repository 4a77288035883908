"""GAN training runs on a tiny dataset: the run folder, what was read, exact resume, stops and NaN."""

import json
import math
import os
import signal

import keras
import numpy as np
import pytest

from conftest import make_folder_dataset
from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from xgan.gan import GanConfig, TrainingStopped, list_checkpoints, resume_gan, train_gan, training_problems
from xgan.gan.run_state import STATE_FILE, read_arrays
from xgan.datasets.splits import resolve_splits


@pytest.fixture(scope="module")
def xrays(tmp_path_factory):
    """12 covid / 20 normal 32 px images; the split puts 8 covid images in train."""
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "xrays", {"covid": 12, "normal": 20})


def tiny_config(data, out, **changes):
    values = dict(data=str(data), image_size=32, width=4, latent_dim=8, batch_size=4, epochs=2,
                  preview_every=1, checkpoint_every=1, snapshot_every=1, out=str(out))
    return GanConfig(**(values | changes))


class LogEpoch(keras.callbacks.Callback):
    """An extra callback putting its own value into the logs, as a KID monitor would."""

    def on_epoch_end(self, epoch, logs=None):
        logs["kid"] = 0.5 / (epoch + 1)
        assert self.model.ema_generator is not None and self.model.latent_dim == 8


class SignalAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, signal_number, times=1):
        super().__init__()
        self.epoch, self.signal_number, self.times = epoch, signal_number, times

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signal_number)


class NanAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            logs["d_loss"] = math.nan


def state(run_dir):
    arrays, meta = read_arrays(run_dir / STATE_FILE)
    return arrays, meta


@pytest.fixture(scope="module")
def uninterrupted(xrays, tmp_path_factory, ):
    """A 2-epoch run that also reads which image files the GAN opened."""
    import xgan.gan.data as gan_data

    opened = []
    original = gan_data.read_gray
    gan_data.read_gray = lambda path: opened.append(path) or original(path)
    try:
        run_dir = train_gan(tiny_config(xrays, tmp_path_factory.mktemp("runs")), callbacks=[LogEpoch()])
    finally:
        gan_data.read_gray = original
    return run_dir, opened


def test_run_folder_is_self_describing(uninterrupted, xrays):
    run_dir, _ = uninterrupted
    assert run_dir.name == "00000-gan-covid"
    for name in ("config.json", "training_keys.json", "reals.png", "history.json", "losses.png",
                 "previews/epoch_0001.png", "previews/epoch_0002.png", "checkpoints/state.npz"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    dataset = load_dataset(xrays)
    assert config["class_name"] == "covid" and config["num_training_images"] == 8
    assert config["dataset_fingerprint"] == dataset.fingerprint and config["splits"].endswith("splits.json")
    assert GanConfig.from_dict(config).epochs == 2
    assert config["real_preview_diversity"] > 0  # the yardstick training_problems judges collapse by
    assert list_checkpoints(run_dir) == ["epoch_0001", "epoch_0002"]


def test_history_records_every_metric_including_extra_callbacks(uninterrupted):
    history = json.loads((uninterrupted[0] / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == [1, 2]
    for entry in history:
        assert {"d_loss", "g_loss", "d_real_acc", "d_fake_acc", "kid", "step"} <= set(entry)
    assert [entry["kid"] for entry in history] == [0.5, 0.25]


@pytest.mark.parametrize("seconds, figures", [
    (0.0, [2, 4, 5]),  # every checkpoint and the last epoch
    (1e9, [2, 5]),  # at most once per FIGURE_SECONDS: the first checkpoint, then only the last epoch
])
def test_losses_figure_is_drawn_with_checkpoints_and_history_with_every_preview(xrays, tmp_path, monkeypatch, seconds, figures):
    import xgan.gan.callbacks as callbacks

    drawn, written = [], []
    monkeypatch.setattr(callbacks, "FIGURE_SECONDS", seconds)
    monkeypatch.setattr(callbacks, "plot_history", lambda history, path: drawn.append(history[-1]["epoch"]))
    original = callbacks.write_history
    monkeypatch.setattr(callbacks, "write_history", lambda run_dir, history: written.append(history[-1]["epoch"]) or original(run_dir, history))
    train_gan(tiny_config(xrays, tmp_path, epochs=5, checkpoint_every=2, snapshot_every=5))
    assert written == [1, 2, 3, 4, 5]
    assert drawn == figures


def test_a_stop_draws_the_losses_figure_whatever_the_time_since_the_last(xrays, tmp_path, monkeypatch):
    import xgan.gan.callbacks as callbacks

    drawn = []
    monkeypatch.setattr(callbacks, "FIGURE_SECONDS", 1e9)
    monkeypatch.setattr(callbacks, "plot_history", lambda history, path: drawn.append(history[-1]["epoch"]))
    with pytest.raises(TrainingStopped):
        train_gan(tiny_config(xrays, tmp_path, epochs=6, checkpoint_every=1), callbacks=[SignalAfterEpoch(3, signal.SIGINT)])
    assert drawn == [1, 3]  # the first checkpoint, then the stop's


def test_gan_reads_only_training_images_of_its_class(uninterrupted, xrays):
    run_dir, opened = uninterrupted
    dataset = load_dataset(xrays)
    splits = resolve_splits(dataset)
    expected = sorted(r.key for r in dataset.records if r.label == "covid" and r.key in set(splits.keys("train")))
    assert json.loads((run_dir / "training_keys.json").read_text()) == expected
    assert sorted(path.relative_to(xrays).as_posix() for path in opened) == expected


def test_resume_after_a_finished_run_equals_one_uninterrupted_run(uninterrupted, xrays, tmp_path):
    run_dir = train_gan(tiny_config(xrays, tmp_path, epochs=1), callbacks=[LogEpoch()])
    with pytest.raises(UserError, match="has already trained 1 of 1 epochs; pass --epochs larger than 1"):
        resume_gan(run_dir)
    resume_gan(run_dir, epochs=2, callbacks=[LogEpoch()])
    expected_arrays, expected_meta = state(uninterrupted[0])
    arrays, meta = state(run_dir)
    assert meta["epoch"] == 2 and meta["step"] == expected_meta["step"]
    assert meta["history"] == [{**e, "seconds": m["seconds"]} for e, m in zip(expected_meta["history"], meta["history"])]
    assert sorted(arrays) == sorted(expected_arrays)
    for key in arrays:  # weights, EMA, optimizer moments and the random state, bit for bit
        np.testing.assert_array_equal(arrays[key], expected_arrays[key], err_msg=key)


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_resume_continues_exactly(uninterrupted, xrays, tmp_path, signal_number):
    with pytest.raises(TrainingStopped, match=f"stopped by {signal.Signals(signal_number).name} after epoch 1 of 2; "
                                              "checkpoint saved. Resume with: xgan train --resume") as stopped:
        train_gan(tiny_config(xrays, tmp_path), callbacks=[LogEpoch(), SignalAfterEpoch(1, signal_number)])
    run_dir = stopped.value.run_dir
    assert stopped.value.signal_number == signal_number and state(run_dir)[1]["epoch"] == 1
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored
    resume_gan(parent=tmp_path, callbacks=[LogEpoch()])  # the latest run under the parent folder
    arrays, meta = state(run_dir)
    expected_arrays, _ = state(uninterrupted[0])
    assert [entry["epoch"] for entry in meta["history"]] == [1, 2]
    for key in arrays:
        np.testing.assert_array_equal(arrays[key], expected_arrays[key], err_msg=key)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(xrays, tmp_path):
    with pytest.raises(TrainingStopped, match="diverged at epoch 2 .NaN or infinite loss.; the last good checkpoint .epoch 1. is kept"):
        train_gan(tiny_config(xrays, tmp_path, epochs=3), callbacks=[NanAtEpoch(2)])
    run_dir = tmp_path / "00000-gan-covid"
    assert state(run_dir)[1]["epoch"] == 1
    history = json.loads((run_dir / "history.json").read_text())
    assert history[-1]["epoch"] == 2 and history[-1]["d_loss"] is None
    # After the process, the run folder alone still says why it failed.
    assert training_problems(run_dir) == ["training diverged at epoch 2: the losses became NaN or infinite"]


def test_unknown_class_is_refused_before_training(xrays, tmp_path):
    with pytest.raises(UserError, match=r"`class_name` \(--class\). Expected one of covid, normal. Received: class_name='cat'"):
        train_gan(tiny_config(xrays, tmp_path, class_name="cat"))
    assert not (tmp_path / "00000-gan-cat").exists()


def test_resume_refuses_a_folder_without_checkpoint(tmp_path):
    with pytest.raises(UserError, match="no GAN run with a checkpoint to resume"):
        resume_gan(parent=tmp_path)


def test_a_second_signal_stops_at_once_without_saving(xrays, tmp_path):
    with pytest.raises(TrainingStopped, match="stopped at once by a second SIGTERM, without saving; no checkpoint had been written yet"):
        train_gan(tiny_config(xrays, tmp_path), callbacks=[SignalAfterEpoch(1, signal.SIGTERM, times=2)])
    assert not (tmp_path / "00000-gan-covid" / STATE_FILE).exists()
