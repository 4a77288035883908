"""The image sets a quality report compares: synthetic images and the real images of the same class.

Synthetic images come from a GAN run (sampled from one of its generator checkpoints) or from a folder
of PNGs. The real reference set is the class's real *training* images, the ones the GAN saw (its
run's training_keys.json), because memorization can only copy what was seen; the class's held-out
validation images are kept as a second, small reference.
"""

import csv
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..dataset import Dataset, load_dataset
from ..errors import UserError
from ..images import IMAGE_SUFFIXES, read_gray
from ..runs import read_json
from ..splits import Splits, resolve_splits

log = logging.getLogger("xgan")

RUN_CONFIG = "config.json"
TRAINING_KEYS = "training_keys.json"
SYNTHETIC_MANIFEST = "manifest.csv"
NOT_SYNTHETIC = frozenset({"contact_sheet.png"})  # files `xgan sample` writes beside the images


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
    """Read a GAN run folder's config.json and training_keys.json.

    Raises:
        UserError: no such folder, or either file missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such GAN run folder; expected a folder written by `xgan train` (e.g. samples/00000-gan-covid)")
    values = []
    for name, expected in ((RUN_CONFIG, dict), (TRAINING_KEYS, list)):
        path = run_dir / name
        if not path.is_file():
            raise UserError(f"{run_dir}: no {name}; expected a GAN run folder written by `xgan train`")
        try:
            value = read_json(path)
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: not readable JSON ({error})") from None
        if not isinstance(value, expected):
            raise UserError(f"{path}: expected a JSON {expected.__name__}; found {type(value).__name__}")
        values.append(value)
    return RunInfo(run_dir, values[0], [str(k) for k in values[1]])


@dataclass
class SyntheticFolderImages:
    """Images read from a synthetic folder, with what its manifest says about them."""

    path: Path
    images: np.ndarray
    names: list[str]
    labels: set[str] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)
    datasets: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)
    checkpoints: set[str] = field(default_factory=set)


def read_synthetic_folder(folder: Path, class_name: str | None = None) -> SyntheticFolderImages:
    """Read a folder of generated images: the files in its manifest.csv, or every image file in it.

    With a manifest, only rows of `class_name` are kept when it is given. All images must share one
    square size.

    Raises:
        UserError: no folder, no images (of that class), an unreadable image or mixed sizes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such synthetic folder; expected a folder of generated PNGs (e.g. from `xgan sample`)")
    manifest = folder / SYNTHETIC_MANIFEST
    rows = []
    if manifest.is_file():
        try:
            with open(manifest, newline="") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise UserError(f"{manifest}: cannot read it ({error}); expected a CSV with at least columns file,label") from None
        if not rows or "file" not in rows[0]:
            raise UserError(f"{manifest}: expected a CSV with at least columns file,label and one row per image")
        if class_name is not None:
            rows = [row for row in rows if (row.get("label") or "").strip() in ("", class_name)]
        files = [(row.get("file") or "").strip() for row in rows]
    else:
        files = sorted(p.name for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.name not in NOT_SYNTHETIC)
    if not files:
        which = f" of class {class_name!r}" if class_name and manifest.is_file() else ""
        raise UserError(f"{folder}: no synthetic images{which}; expected PNGs (listed in {SYNTHETIC_MANIFEST} when there is one)")
    images = []
    for file in files:
        try:
            images.append(read_gray(folder / file))
        except (OSError, ValueError) as error:
            raise UserError(f"{folder / file}: cannot read it as an image ({error})") from None
    shapes = sorted({image.shape for image in images})
    if len(shapes) > 1 or shapes[0][0] != shapes[0][1]:
        raise UserError(f"{folder}: images have sizes {', '.join(f'{w}x{h}' for h, w in shapes[:4])}; expected one square size")
    result = SyntheticFolderImages(folder, np.stack(images), files)
    for row in rows:
        for attribute, column in (("labels", "label"), ("runs", "run"), ("datasets", "dataset"),
                                  ("fingerprints", "dataset_fingerprint"), ("checkpoints", "checkpoint")):
            value = (row.get(column) or "").strip()
            if value:
                getattr(result, attribute).add(value)
    return result


def find_run_of_folder(folder: SyntheticFolderImages) -> Path | None:
    """The GAN run folder that made a synthetic folder's images, when its manifest names exactly one that exists.

    A `run` entry may be absolute, relative to the working directory or relative to the folder.
    """
    if len(folder.runs) != 1:
        return None
    text = next(iter(folder.runs))
    candidates = [Path(text)] if Path(text).is_absolute() else [Path(text), folder.path / text]
    return next((Path(os.path.abspath(c)) for c in candidates if (c / TRAINING_KEYS).is_file()), None)


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
        run: the GAN run, when known: its training_keys.json is the training reference.
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
            raise UserError(f"{run.path / TRAINING_KEYS}: {len(unknown)} key(s) are not images of {dataset.source} "
                            f"(e.g. {unknown[0]!r}); the GAN was trained on other data")
        train_keys = sorted(key for key in run.training_keys if labels[key] == class_name)
        note = (f"the {len(train_keys)} real '{class_name}' images the GAN read ({run.path.name}/{TRAINING_KEYS}), "
                f"i.e. its training split of that class")
    else:
        train_keys = [key for key in splits.keys("train") if labels.get(key) == class_name]
        note = (f"the {len(train_keys)} real '{class_name}' images of the training split ({splits.path.name}); "
                "the GAN's own training_keys.json was not available")
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
