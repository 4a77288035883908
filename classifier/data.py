"""Turning a dataset and its splits, or a training manifest, into the arrays the classifier trains on.

Also the guard of the whole comparison: `check_evaluation_set` proves that the images a model is
scored on are real held-out images that neither the classifier nor any GAN behind its synthetic
images has read.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..balance import TrainingRow, check_no_leak, check_training_only
from ..datasets.dataset import Dataset
from ..errors import UserError, invalid_argument
from ..datasets.image_rows import image_rows
from ..datasets.images import read_gray, resize_square
from ..runs import TRAINING_KEYS_FILE, read_training_keys
from ..datasets.splits import Splits

log = logging.getLogger("xgan")

DEFAULT_IMAGE_SIZE = 64  # the GAN's image size


def default_image_size(source: Path | None) -> int:
    """The classifier's input size for a dataset: 64 px (the GAN's), or an .npz's own size when smaller (28 for PneumoniaMNIST)."""
    if source is None or Path(source).suffix.lower() != ".npz" or not Path(source).is_file():
        return DEFAULT_IMAGE_SIZE
    try:
        with np.load(source, allow_pickle=False) as archive:
            name = next((k for k in archive.files if k.endswith("_images")), None)
            side = int(archive[name].shape[1]) if name else DEFAULT_IMAGE_SIZE
    except Exception:  # a damaged file: load_dataset reports it properly a moment later
        return DEFAULT_IMAGE_SIZE
    return min(side, DEFAULT_IMAGE_SIZE)


@dataclass
class LabeledImages:
    """Images with their class names and where they came from.

    Attributes:
        images: (N, S, S) uint8: an array, or an `ImageRows` view of the dataset's memory-mapped cache.
        labels: class name of each image.
        keys: dataset key of each real image; None for a synthetic one.
        origins: "real", "oversampled" or "synthetic" per image.
        gan_runs: the GAN run folders behind the synthetic images.
        rows: the training-manifest rows the images were read from (`rows_to_images`); empty for a split.
    """

    images: np.ndarray
    labels: list[str]
    keys: list[str | None]
    origins: list[str]
    gan_runs: list[Path] = field(default_factory=list)
    rows: list[TrainingRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def targets(self, positive: str) -> np.ndarray:
        """1 where the label is the positive class, else 0."""
        return np.array([label == positive for label in self.labels], np.int64)

    def class_indices(self, class_names: list[str]) -> np.ndarray:
        """The index of each image's class in `class_names` (the targets of a multi-class model)."""
        index = {name: i for i, name in enumerate(class_names)}
        return np.array([index[label] for label in self.labels], np.int64)

    def model_targets(self, positive: str | None, class_names: list[str]) -> np.ndarray:
        """What the model is trained and scored against: 0/1 for the positive class, or class indices when there is none (3+ classes)."""
        return self.targets(positive) if positive is not None else self.class_indices(class_names)

    def composition(self) -> dict[str, dict[str, int]]:
        """Images per class and origin, e.g. `{"covid": {"real": 32, "synthetic": 381}}`."""
        counts = Counter(zip(self.labels, self.origins))
        return {label: {origin: n for (name, origin), n in sorted(counts.items()) if name == label}
                for label in sorted(set(self.labels))}


def choose_positive(dataset: Dataset, positive: str | None = None) -> str | None:
    """The positive class of a two-class dataset: `positive` when given, else the minority class.

    Three or more classes have none: the classifier is then a softmax over all of them.

    Raises:
        UserError: a positive class the dataset lacks, or one asked for with three or more classes.
    """
    if len(dataset.class_names) > 2:
        if positive is not None:
            raise UserError(f"--positive {positive}: {dataset.source} has {len(dataset.class_names)} classes ({', '.join(dataset.class_names)}); "
                            "a positive class needs exactly two (with more, every class is scored one-vs-rest)")
        return None
    if positive is None:
        return dataset.minority_class
    if positive not in dataset.class_names:
        raise invalid_argument("positive", f"one of {', '.join(dataset.class_names)}", positive)
    return positive


def split_images(dataset: Dataset, splits: Splits, split: str) -> LabeledImages:
    """The real images of one split ("train", "val" or "test"), in key order."""
    keys = splits.keys(split)
    if not keys:
        raise UserError(f"{splits.path}: the {split} split is empty; expected images in train, val and test")
    indices = dataset.select(keys)
    return LabeledImages(image_rows(dataset.images, indices), [dataset.records[i].label for i in indices], list(keys), ["real"] * len(keys))


def all_images(dataset: Dataset) -> LabeledImages:
    """Every image of a dataset, as evaluation data."""
    return LabeledImages(image_rows(dataset.images, np.arange(len(dataset.records))), [r.label for r in dataset.records], [r.key for r in dataset.records], ["real"] * len(dataset.records))


def rows_to_images(rows: list[TrainingRow], dataset: Dataset, splits: Splits) -> LabeledImages:
    """Pixels of training-manifest rows: real and oversampled rows from the dataset, synthetic ones from their files.

    Every real or oversampled key must be in the train split, and every GAN run behind a synthetic
    row must have read training images only (balance.check_training_only, balance.check_no_leak).

    Raises:
        UserError: a row of another split or class, a synthetic row without its GAN run, a GAN that
            read held-out images, or a synthetic image that cannot be read.
    """
    check_training_only(rows, splits)
    unknown = sorted({row.label for row in rows} - set(dataset.class_names))
    if unknown:
        raise UserError(f"training rows of class {unknown[0]!r}, which dataset {dataset.name} does not have; its classes are {', '.join(dataset.class_names)}")
    synthetic = [row for row in rows if row.origin == "synthetic"]
    missing_run = next((row for row in synthetic if row.run is None), None)
    if missing_run is not None:
        raise UserError(f"synthetic image {missing_run.path} has no GAN run; without the run's {TRAINING_KEYS_FILE} it cannot be shown to be free of held-out images")
    gan_runs = sorted({Path(row.run) for row in synthetic})
    check_no_leak(gan_runs, splits, dataset)
    size = dataset.images.shape[1]
    real_keys = [row.key for row in rows if row.origin != "synthetic"]
    if not synthetic:  # real and oversampled rows only: a view of the (memory-mapped) dataset, nothing copied
        pixels = image_rows(dataset.images, dataset.select(real_keys)) if real_keys else np.zeros((0, size, size), np.uint8)
        return LabeledImages(pixels, [row.label for row in rows], [row.key for row in rows], [row.origin for row in rows], gan_runs, list(rows))
    real_pixels = iter(dataset.images[dataset.select(real_keys)]) if real_keys else iter(())
    images = []
    for row in rows:
        if row.origin != "synthetic":
            images.append(next(real_pixels))
            continue
        try:
            images.append(resize_square(read_gray(row.path), size))
        except (OSError, ValueError) as error:
            raise UserError(f"synthetic image {row.path}: cannot be read ({error})") from None
    stacked = np.stack(images) if images else np.zeros((0, size, size), np.uint8)
    return LabeledImages(stacked, [row.label for row in rows], [row.key for row in rows], [row.origin for row in rows], gan_runs, list(rows))


def check_evaluation_set(evaluation: LabeledImages, splits: Splits, training: list[LabeledImages]) -> None:
    """Refuse an evaluation set that is not made of real, held-out, unseen images.

    Every evaluation image must be real (have a dataset key), lie in the test split, not be a key
    of any training set, and not be a key that a GAN behind a training set's synthetic images read
    (its training keys).

    Raises:
        UserError: naming the first offending image and why.
    """
    if any(origin != "real" or key is None for origin, key in zip(evaluation.origins, evaluation.keys)):
        raise UserError("the evaluation set holds a synthetic or oversampled image; evaluation uses real held-out images only")
    outside = [key for key in evaluation.keys if splits.assignments.get(key) != "test"]
    if outside:
        raise UserError(f"evaluation image {outside[0]!r} is in the {splits.assignments.get(outside[0], 'no')} split of {splits.path}, not the test split")
    evaluation_keys = set(evaluation.keys)
    for images in training:
        seen = evaluation_keys.intersection(k for k in images.keys if k is not None)
        if seen:
            raise UserError(f"evaluation image {sorted(seen)[0]!r} is also a training image; evaluation must use unseen images")
        for run in images.gan_runs:
            read = evaluation_keys.intersection(read_training_keys(Path(run)))
            if read:
                raise UserError(f"evaluation image {sorted(read)[0]!r} was read by GAN run {run}; its synthetic images cannot be trained on when it is evaluated")
