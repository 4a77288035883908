"""The image sets a quality report compares: synthetic images and the real images of the same class.

Synthetic images come from a GAN run (sampled from one of its generator checkpoints) or from a folder
of PNGs. The real reference set is the class's real *training* images, the ones the GAN saw (its
run's training keys), because memorization can only copy what was seen; the class's held-out
validation images are kept as a second, small reference.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.dataset import Dataset, load_dataset
from ..errors import UserError
from ..datasets.images import IMAGE_SUFFIXES, read_gray
from ..runs import (TRAINING_KEYS_FILE, SyntheticFolder, is_gan_run, read_gan_config, read_synthetic_folder,
                    read_training_keys)
from ..datasets.splits import Splits, resolve_splits

log = logging.getLogger("xgan")


@dataclass
class RunInfo:
    """What a GAN run folder says about its data (contract 1)."""

    path: Path
    config: dict
    training_keys: list[str]

    @property
    def dataset(self) -> str | None:
        return self.config.get("dataset")

    @property
    def class_name(self) -> str | None:
        return self.config.get("class_name")

    def class_to_draw(self, class_name: str | None) -> str | None:
        """The class to pass to `load_generator`: `class_name` for a conditional run, None for a one-class run."""
        return class_name if self.config.get("conditional") else None

    @property
    def splits(self) -> str | None:
        return self.config.get("splits")

    @property
    def fingerprint(self) -> str | None:
        return self.config.get("dataset_fingerprint")

    @property
    def image_size(self) -> int | None:
        size = self.config.get("image_size")
        return int(size) if size else None


def read_run(run_dir: Path) -> RunInfo:
    """Read a GAN run folder's config and training keys.

    Raises:
        UserError: no such folder, or either file missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such GAN run folder; expected a folder written by `xgan train` (e.g. samples/00000-gan-covid)")
    return RunInfo(run_dir, read_gan_config(run_dir), read_training_keys(run_dir))


def load_synthetic_images(folder: Path, class_name: str | None = None) -> tuple[SyntheticFolder, np.ndarray]:
    """A synthetic folder (any folder of generated images, with or without manifest) and its pixels.

    With a manifest, only rows of `class_name` are kept when it is given. All images must share one
    square size.

    Raises:
        UserError: no folder, no images (of that class), an unreadable image or mixed sizes.
    """
    folder = read_synthetic_folder(folder, complete=False, class_name=class_name, image_suffixes=tuple(IMAGE_SUFFIXES))
    images = []
    for image in folder.images:
        try:
            images.append(read_gray(image.path))
        except (OSError, ValueError) as error:
            raise UserError(f"{image.path}: cannot read it as an image ({error})") from None
    shapes = sorted({image.shape for image in images})
    if len(shapes) > 1 or shapes[0][0] != shapes[0][1]:
        raise UserError(f"{folder.path}: images have sizes {', '.join(f'{w}x{h}' for h, w in shapes[:4])}; expected one square size")
    return folder, np.stack(images)


def run_of_folder(folder: SyntheticFolder) -> Path | None:
    """The GAN run folder that made a synthetic folder's images, when its manifest names exactly one that exists."""
    runs = folder.runs
    return runs[0] if len(runs) == 1 and is_gan_run(runs[0]) else None


@dataclass
class RealReference:
    """The dataset at the compared size, and the real images of the compared class.

    Attributes:
        dataset: loaded with pixels at `image_size`.
        splits: its splits.
        class_name: the compared class.
        train_keys: real training images of the class: what the GAN saw when known.
        val_keys: the class's validation images (held out from the GAN).
        reference_note: where train_keys came from, for the report.
    """

    dataset: Dataset
    splits: Splits
    class_name: str
    train_keys: list[str]
    val_keys: list[str]
    reference_note: str

    def images(self, keys: list[str]) -> np.ndarray:
        return self.dataset.images[self.dataset.select(keys)] if keys else self.dataset.images[:0]

    @property
    def train_images(self) -> np.ndarray:
        return self.images(self.train_keys)

    @property
    def val_images(self) -> np.ndarray:
        return self.images(self.val_keys)


def load_reference(source: str | Path | None, splits_file: str | Path | None, class_name: str, image_size: int,
                   run: RunInfo | None = None, fingerprints: set[str] = frozenset()) -> RealReference:
    """Load the dataset at `image_size` and pick the class's real training and validation images.

    Args:
        source: the dataset (None: the bundled one).
        splits_file: its splits.json (None: beside the dataset).
        class_name: the compared class.
        image_size: side the images are resized to: the synthetic images' side.
        run: the GAN run, when known: its training keys are the training reference.
        fingerprints: dataset fingerprints the synthetic images claim; each must match.

    Raises:
        UserError: an unknown class, a dataset other than the run's or the synthetic manifest's,
            or training keys the dataset lacks.
    """
    dataset = load_dataset(source, image_size)
    if class_name not in dataset.class_names:
        raise UserError(f"{dataset.source}: has no class {class_name!r}; its classes are {', '.join(dataset.class_names)}")
    claimed = set(fingerprints) | ({run.fingerprint} if run and run.fingerprint else set())
    other = sorted(claimed - {dataset.fingerprint})
    if other:
        raise UserError(f"{dataset.source}: has dataset fingerprint {dataset.fingerprint}, but the synthetic images "
                        f"were made from a dataset with fingerprint {other[0]}; pass the GAN's dataset with --data")
    splits = resolve_splits(dataset, Path(splits_file) if splits_file else None)
    labels = {record.key: record.label for record in dataset.records}
    val_keys = [key for key in splits.keys("val") if labels.get(key) == class_name]
    if run is not None:
        unknown = [key for key in run.training_keys if key not in labels]
        if unknown:
            raise UserError(f"{run.path / TRAINING_KEYS_FILE}: {len(unknown)} key(s) are not images of {dataset.source} "
                            f"(e.g. {unknown[0]!r}); the GAN was trained on other data")
        train_keys = sorted(key for key in run.training_keys if labels[key] == class_name)
        note = (f"the {len(train_keys)} real '{class_name}' images the GAN read ({run.path.name}/{TRAINING_KEYS_FILE}), "
                f"i.e. its training split of that class")
    else:
        train_keys = [key for key in splits.keys("train") if labels.get(key) == class_name]
        note = (f"the {len(train_keys)} real '{class_name}' images of the training split ({splits.path.name}); "
                f"the GAN's own {TRAINING_KEYS_FILE} was not available")
    if len(train_keys) < 2:
        raise UserError(f"{dataset.source}: only {len(train_keys)} real training image(s) of class {class_name!r}; "
                        "at least 2 are needed to compare with")
    return RealReference(dataset, splits, class_name, train_keys, val_keys, note)


def all_training_images(reference: RealReference) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """Real training images of every class with integer labels, and the validation split as (images, labels).

    For training the feature classifier; None for validation when the split is empty.
    """
    dataset, splits = reference.dataset, reference.splits
    labels = dataset.labels
    train_index = dataset.select(splits.keys("train"))
    val_index = dataset.select(splits.keys("val"))
    validation = (dataset.images[val_index], labels[val_index]) if len(val_index) else None
    return dataset.images[train_index], labels[train_index], validation
