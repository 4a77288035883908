"""No synthetic, training or GAN-seen image ever reaches an evaluation set; arrays from splits and manifests."""

import csv
import json

import numpy as np
import pytest

from xgan.balance import TrainingRow, build_training_set
from xgan.classifier.data import (LabeledImages, check_evaluation_set, choose_positive, default_image_size, rows_to_images,
                                  split_images)
from xgan.datasets.dataset import load_dataset
from xgan.errors import UserError
from xgan.datasets.images import write_png
from xgan.datasets.splits import resolve_splits

from conftest import synthetic_xray

SYNTHETIC_COLUMNS = ["file", "label", "dataset", "dataset_fingerprint", "run", "checkpoint", "checkpoint_step", "seed", "index"]


def make_synthetic_folder(root, dataset, splits, label, count, *, leak_key=None, size=32, seed=0):
    """A stand-in for a GAN run folder and an `xgan sample` folder (contracts 1 and 2).

    The run's training_keys.json lists the class's training keys, plus `leak_key` when given.
    Returns (synthetic folder, run folder).
    """
    run = root / "gan-run"
    run.mkdir(parents=True)
    keys = sorted(r.key for r in dataset.records if r.label == label and splits.assignments[r.key] == "train")
    (run / "training_keys.json").write_text(json.dumps(sorted(keys + ([leak_key] if leak_key else []))))
    (run / "config.json").write_text(json.dumps({"dataset_fingerprint": dataset.fingerprint, "class_name": label}))
    folder = root / "synthetic"
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        file = f"{label}_{index:04d}.png"
        write_png(folder / file, synthetic_xray(rng, size, bright=True))
        rows.append([file, label, dataset.name, dataset.fingerprint, str(run), "snapshot_000010", 10, seed, index])
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SYNTHETIC_COLUMNS)
        writer.writerows(rows)
    return folder, run


@pytest.fixture
def experiment(folder_dataset):
    dataset = load_dataset(folder_dataset, 32)
    return dataset, resolve_splits(dataset)


def test_split_images_and_targets(experiment):
    dataset, splits = experiment
    test = split_images(dataset, splits, "test")
    assert test.keys == splits.keys("test")
    assert test.images.shape == (len(test), 32, 32)
    assert set(test.origins) == {"real"}
    assert test.targets("covid").tolist() == [int(label == "covid") for label in test.labels]


def test_choose_positive_defaults_to_the_minority(experiment):
    dataset, _ = experiment
    assert choose_positive(dataset) == "covid"
    assert choose_positive(dataset, "normal") == "normal"
    with pytest.raises(UserError, match="argument `positive`. Expected one of covid, normal. Received: positive='pneumonia'"):
        choose_positive(dataset, "pneumonia")


def test_gan_rows_become_arrays_and_the_test_split_stays_clean(tmp_path, experiment):
    dataset, splits = experiment
    needed = dataset.class_counts(set(splits.keys("train")))
    folder, run = make_synthetic_folder(tmp_path, dataset, splits, "covid", needed["normal"] - needed["covid"])
    rows = build_training_set(dataset, splits, "auto", method="gan", synthetic_dirs=[folder])
    training = rows_to_images(rows, dataset, splits)
    assert len(training) == len(rows) and training.images.shape[1:] == (32, 32)
    assert training.composition()["covid"]["synthetic"] == needed["normal"] - needed["covid"]
    assert training.gan_runs == [run.resolve()]
    test = split_images(dataset, splits, "test")
    check_evaluation_set(test, splits, [training, split_images(dataset, splits, "val")])  # passes: nothing leaks


def test_a_gan_that_read_a_test_image_is_refused(tmp_path, experiment):
    dataset, splits = experiment
    leak = splits.keys("test")[0]
    folder, run = make_synthetic_folder(tmp_path, dataset, splits, "covid", 3, leak_key=leak)
    rows = [TrainingRow(None, k, dataset.records[dataset.select([k])[0]].label, "real") for k in splits.keys("train")]
    rows.append(TrainingRow(folder / "covid_0000.png", None, "covid", "synthetic", run, 0))
    with pytest.raises(UserError, match="the GAN read 1 image"):
        rows_to_images(rows, dataset, splits)
    # And the evaluation guard says the same on its own, from training_keys.json.
    training = LabeledImages(np.zeros((1, 32, 32), np.uint8), ["covid"], [None], ["synthetic"], [run])
    with pytest.raises(UserError, match=f"evaluation image '{leak}' was read by GAN run"):
        check_evaluation_set(split_images(dataset, splits, "test"), splits, [training])


def test_a_manifest_row_from_the_test_split_is_refused(experiment):
    dataset, splits = experiment
    key = splits.keys("test")[0]
    rows = [TrainingRow(None, key, dataset.records[dataset.select([key])[0]].label, "real")]
    with pytest.raises(UserError, match="is in test, not in the train split"):
        rows_to_images(rows, dataset, splits)


@pytest.mark.parametrize("change, match", [
    ("synthetic", "holds a synthetic or oversampled image"),
    ("train_key", "is in the train split .*, not the test split"),
    ("seen", "is also a training image"),
])
def test_evaluation_guard_refuses(experiment, change, match):
    dataset, splits = experiment
    test = split_images(dataset, splits, "test")
    training = []
    if change == "synthetic":
        test.origins[0], test.keys[0] = "synthetic", None
    elif change == "train_key":
        test.keys[0] = splits.keys("train")[0]
    else:
        training = [LabeledImages(test.images[:1], test.labels[:1], test.keys[:1], ["oversampled"])]
    with pytest.raises(UserError, match=match):
        check_evaluation_set(test, splits, training)


def test_default_image_size(npz_dataset, folder_dataset):
    assert default_image_size(npz_dataset) == 28
    assert default_image_size(folder_dataset) == 64
    assert default_image_size(None) == 64
