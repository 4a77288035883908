"""The images a GAN may learn from: one class of the training split, and nothing else.

Validation and test images are what the classifier is judged on, so no pixel of theirs may reach the
GAN. The dataset loader lists and hashes every file (the splitter needs that), but the pixels the
GAN trains on are read here, one training key at a time, by `read_images`.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.dataset import Dataset, load_dataset
from ..errors import UserError
from ..datasets.images import read_gray, resize_square, to_gray_uint8
from ..datasets.splits import Splits, cut_class, resolve_splits

log = logging.getLogger("xgan")


@dataclass
class TrainingData:
    """The real images of one GAN run and where they came from.

    Attributes:
        dataset: the loaded dataset (records only, no pixels).
        splits: its train/val/test assignment.
        class_name: the class the GAN learns.
        keys: sorted dataset keys of the images read: the training split of that class.
        images: (len(keys), size, size) uint8, in the order of `keys`.
        labels: for a conditional GAN, the class index (into `class_names`) of each image; else None.
        class_names: for a conditional GAN, the dataset's classes; else None.
    """

    dataset: Dataset
    splits: Splits
    class_name: str | None
    keys: list[str]
    images: np.ndarray
    labels: np.ndarray | None = None
    class_names: list[str] | None = None

    @property
    def description(self) -> str:
        """The run's name part: the class, "conditional", or "all" (every class as one set)."""
        if self.class_name is not None:
            return self.class_name
        return "conditional" if self.labels is not None else "all"


def choose_class(class_counts: dict[str, int], class_name: str | None) -> str:
    """The class to learn: `class_name` if the dataset has it, else the one with fewest training images.

    Raises:
        UserError: `class_name` is not a class of the dataset, or it has no training images.
    """
    if class_name is None:
        return cut_class(class_counts)
    cut_class(class_counts, class_name)  # refuses a class the dataset lacks
    if class_counts[class_name] == 0:
        raise UserError(f"class {class_name!r} has no images in the training split; a GAN needs at least one")
    return class_name


def load_training_data(data: str | Path | None, class_name: str | None, image_size: int,
                       splits_file: str | Path | None = None, split_seed: int | None = None,
                       conditional: bool = False, every_class: bool = False) -> TrainingData:
    """Load the training-split images of one class (or of every class), resized to `image_size`.

    Args:
        data: dataset source (see `load_dataset`); None = the bundled dataset.
        class_name: class to learn; None = the class with the fewest training images.
        image_size: side of the square images returned.
        splits_file, split_seed: as for `resolve_splits`.
        conditional: read every class's training images, with their labels (`class_name` must be None).
        every_class: read every class's training images as one unlabelled set (`class_name` must be
            None): a GAN pre-trained on them is a starting point for one class (transfer).

    Raises:
        UserError: bad dataset, unknown class, or a class without training images.
    """
    dataset = load_dataset(data)
    splits = resolve_splits(dataset, Path(splits_file) if splits_file else None, split_seed)
    train_keys = set(splits.keys("train"))
    if conditional:
        return _all_classes(dataset, splits, train_keys, image_size)
    if every_class:
        every = _all_classes(dataset, splits, train_keys, image_size)
        return TrainingData(dataset, splits, None, every.keys, every.images)
    class_name = choose_class(dataset.class_counts(train_keys), class_name)
    keys = sorted(r.key for r in dataset.records if r.key in train_keys and r.label == class_name)
    images = read_images(dataset, keys, image_size)
    log.info("GAN training images: %d of class %r from the training split of %s", len(keys), class_name, dataset.source)
    return TrainingData(dataset, splits, class_name, keys, images)


def _all_classes(dataset: Dataset, splits: Splits, train_keys: set[str], image_size: int) -> TrainingData:
    class_names = list(dataset.class_names)
    counts = dataset.class_counts(train_keys)
    empty = [name for name in class_names if counts.get(name, 0) == 0]
    if empty:
        raise UserError(f"class {empty[0]!r} has no images in the training split; a conditional GAN needs every class")
    records = sorted((r for r in dataset.records if r.key in train_keys), key=lambda r: r.key)
    keys = [r.key for r in records]
    labels = np.array([class_names.index(r.label) for r in records], np.int32)
    images = read_images(dataset, keys, image_size)
    log.info("GAN training images of every class: %s from the training split of %s",
             ", ".join(f"{counts[name]} {name}" for name in class_names), dataset.source)
    return TrainingData(dataset, splits, None, keys, images, labels, class_names)


def read_images(dataset: Dataset, keys: list[str], size: int) -> np.ndarray:
    """Read the pixels of the named records only, as (len(keys), size, size) uint8."""
    records = {r.key: r for r in dataset.records}
    npz_splits = {}  # an .npz is one file: each split's array is read once, only the selected images kept
    images = []
    for key in keys:
        record = records[key]
        if record.path is not None:
            image = read_gray(record.path)
        else:
            split, index = key.rsplit("/", 1)
            if split not in npz_splits:
                with np.load(dataset.source, allow_pickle=False) as archive:
                    npz_splits[split] = archive[f"{split}_images"]
            image = to_gray_uint8(npz_splits[split][int(index)])
        images.append(resize_square(image, size))
    return np.stack(images) if images else np.zeros((0, size, size), np.uint8)
