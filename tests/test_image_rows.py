"""ImageRows views of the memory-mapped cache, and the classifier's input pipeline reading from them."""

import numpy as np
import pytest

from xgan.classifier.config import ClassifierConfig
from xgan.classifier.data import split_images
from xgan.classifier.train import make_dataset, run_in_batches, train_classifier
from xgan.datasets.dataset import load_dataset
from xgan.datasets.image_rows import ImageRows, image_rows
from xgan.datasets.splits import resolve_splits


@pytest.fixture
def mapped(tmp_path):
    array = np.lib.format.open_memmap(tmp_path / "pixels.npy", mode="w+", dtype=np.uint8, shape=(10, 4, 4))
    array[:] = np.arange(10, dtype=np.uint8)[:, None, None]
    array.flush()
    return np.load(tmp_path / "pixels.npy", mmap_mode="r")


def test_a_view_reads_only_when_indexed_and_behaves_like_the_copy(mapped):
    rows = [7, 2, 2, 9]
    view = image_rows(mapped, rows)
    assert isinstance(view, ImageRows) and view.shape == (4, 4, 4) and len(view) == 4
    np.testing.assert_array_equal(np.asarray(view), mapped[rows])
    np.testing.assert_array_equal(view[1:3], mapped[[2, 2]])
    np.testing.assert_array_equal(view[np.array([True, False, False, True])], mapped[[7, 9]])
    assert int(view[0][0, 0]) == 7
    np.testing.assert_array_equal(np.asarray(view.take([3, 0])), mapped[[9, 7]])


def test_rows_are_read_from_the_file_not_through_the_mapping(mapped):
    view = image_rows(mapped, [4, 1])
    assert view._file is not None
    np.testing.assert_array_equal(view[0], mapped[4])
    sliced = image_rows(mapped[2:], [0])  # a slice of the mapping: read through it, from the right place
    assert sliced._file is None
    np.testing.assert_array_equal(sliced[0], mapped[2])


def test_arrays_in_memory_are_still_copied(mapped):
    in_memory = np.asarray(mapped).copy()
    assert isinstance(image_rows(in_memory, [1, 2]), np.ndarray)


def test_rows_out_of_range_are_refused(mapped):
    with pytest.raises(ValueError, match=r"Expected indices in \[0, 10\)"):
        ImageRows(mapped, [10])


@pytest.mark.parametrize("num_replicas, batch_sizes", [(1, [3, 3, 3, 1]), (2, [3, 3, 3])])
def test_streamed_batches_equal_sliced_batches_epoch_after_epoch(mapped, num_replicas, batch_sizes):
    labels = np.arange(10) % 2
    view = image_rows(mapped, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    streamed = make_dataset(view, labels, batch_size=3, shuffle_seed=5, num_replicas=num_replicas)
    sliced = make_dataset(np.asarray(view), labels, batch_size=3, shuffle_seed=5, num_replicas=num_replicas)
    for _ in range(2):  # reshuffled alike in every epoch
        for (x_stream, y_stream), (x_slice, y_slice) in zip(streamed, sliced, strict=True):
            np.testing.assert_array_equal(x_stream.numpy(), x_slice.numpy())
            np.testing.assert_array_equal(y_stream.numpy(), y_slice.numpy())
    assert [len(y) for _, y in streamed] == batch_sizes  # the last batch cut to a multiple of the replicas
    assert next(iter(streamed))[0].shape == (3, 4, 4, 1)


@pytest.mark.slow
def test_training_from_the_cache_view_equals_training_from_memory(folder_dataset):
    dataset = load_dataset(folder_dataset, 16)
    assert isinstance(dataset.images, np.memmap)
    splits = resolve_splits(dataset, None, 0)
    train, val = split_images(dataset, splits, "train"), split_images(dataset, splits, "val")
    assert isinstance(train.images, ImageRows)
    config = ClassifierConfig(image_size=16, epochs=1, batch_size=8, seed=3, patience=5)
    mapped = train_classifier(config, train.images, train.targets("covid"), (val.images, val.targets("covid")))
    copied = train_classifier(config, np.asarray(train.images), train.targets("covid"),
                              (np.asarray(val.images), val.targets("covid")))
    assert [h["loss"] for h in mapped.history] == pytest.approx([h["loss"] for h in copied.history], rel=1e-5)
    np.testing.assert_allclose(run_in_batches(mapped.model, val.images), run_in_batches(copied.model, np.asarray(val.images)), rtol=1e-4, atol=1e-6)
