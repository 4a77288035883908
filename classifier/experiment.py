"""The data every arm of `xgan classify` shares: the dataset at the classifier's size, its splits and the real split images."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..balance import read_training_manifest, resolve_target
from ..datasets.dataset import Dataset, load_dataset
from ..datasets.splits import Splits, resolve_splits
from ..errors import UserError
from ..runs import latest_synthetic_folder, read_json
from .classify_config import ClassifyConfig
from .data import LabeledImages, choose_positive, split_images

log = logging.getLogger("xgan")


@dataclass
class Experiment:
    """The data every arm shares: dataset, splits, positive class and the real train/val/test images."""

    dataset: Dataset
    splits: Splits
    positive: str | None  # None with three or more classes
    train: LabeledImages
    validation: LabeledImages
    test: LabeledImages
    manifest_rows: list = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.class_names)

    @property
    def negative(self) -> str | None:
        """The other class of a binary experiment; None with three or more classes."""
        if self.positive is None:
            return None
        return next(name for name in self.class_names if name != self.positive)

    @property
    def is_multiclass(self) -> bool:
        """Three or more classes: a softmax model, macro-averaged and per-class metrics."""
        return self.positive is None

    def targets(self, images: "LabeledImages") -> np.ndarray:
        """0/1 targets of the positive class, or class indices with three or more classes."""
        return images.model_targets(self.positive, self.class_names)


def prepare_experiment(config: ClassifyConfig) -> Experiment:
    """Load the dataset at the classifier's size, its saved splits, and the real split images."""
    dataset = load_dataset(config.data, config.size)
    splits = resolve_splits(dataset, config.splits)
    positive = choose_positive(dataset, config.positive)
    experiment = Experiment(dataset, splits, positive, split_images(dataset, splits, "train"),
                            split_images(dataset, splits, "val"), split_images(dataset, splits, "test"))
    if config.manifest:
        experiment.manifest_rows = read_training_manifest(config.manifest)
        check_manifest_dataset(Path(config.manifest), dataset)
    for name, images in (("train", experiment.train), ("val", experiment.validation), ("test", experiment.test)):
        missing = [c for c in experiment.class_names if c not in images.labels]
        if missing and name != "train":
            log.warning("the %s split has no image of class %s: some metrics are undefined", name, missing[0])
        elif missing:
            raise UserError(f"{splits.path}: the train split has no image of class {missing[0]}; the classifier needs every class")
    return experiment


def default_synthetic_folders(config: ClassifyConfig, experiment: Experiment) -> tuple[Path, ...]:
    """For --with-gan without --synthetic: the latest `xgan sample` output under `config.out` for each
    class that balancing to `config.ratio` adds images to.

    Raises:
        UserError: a class that needs images has no such folder.
    """
    counts = experiment.dataset.class_counts(set(experiment.splits.keys("train")))
    needed = [name for name, wanted in resolve_target(counts, config.ratio).items() if wanted > counts[name]]
    folders = []
    for name in needed:
        folder = latest_synthetic_folder(config.out, experiment.dataset.fingerprint, name)
        if folder is None:
            raise UserError(f"--with-gan needs synthetic images of class {name!r}: found no `xgan sample` output for it and "
                            f"dataset {experiment.dataset.name} under {config.out}; run `xgan train` and `xgan sample` first, "
                            "or pass --synthetic DIR or --manifest FILE (written by `xgan balance`)")
        log.info("--with-gan: using %s, the latest `xgan sample` output for %s", folder, name)
        folders.append(folder)
    return tuple(folders)


def check_manifest_dataset(manifest: Path, dataset: Dataset) -> None:
    """Refuse a training manifest whose record (`xgan balance` writes `<manifest>.json` beside it) names another dataset."""
    record_path = manifest.with_suffix(".json")
    if not record_path.is_file():
        return
    try:
        fingerprint = read_json(record_path).get("dataset_fingerprint")
    except (OSError, ValueError, AttributeError):
        return  # the manifest's own rows are still checked against the splits
    if fingerprint and fingerprint != dataset.fingerprint:
        raise UserError(f"{manifest}: made from dataset fingerprint {fingerprint} ({record_path.name}), but {dataset.source} has "
                        f"fingerprint {dataset.fingerprint}; pass the --data the manifest was made from")
