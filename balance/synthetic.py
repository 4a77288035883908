"""Reading synthetic folders (written by `xgan sample`) and proving their GAN runs saw no held-out image.

A synthetic folder holds PNGs and a manifest (contract 2); its GAN run folder holds the sorted keys
of every real image the GAN read, and its config (contract 1). Both are read through `xgan.runs`,
which owns the layout; nothing here imports the GAN: these files are the whole interface.
"""

import logging
from pathlib import Path

from ..datasets.dataset import Dataset
from ..errors import UserError
from ..runs import (CONFIG_FILE, SYNTHETIC_MANIFEST, TRAINING_KEYS_FILE, SyntheticFolder, SyntheticImage, read_gan_config,
                    read_synthetic_folder, read_training_keys)
from ..datasets.splits import EXCLUDED, Splits

log = logging.getLogger("xgan")

__all__ = ["SyntheticFolder", "SyntheticImage", "check_matches_dataset", "check_no_leak", "read_synthetic_folder"]

# Keys a GAN must never have read: held-out images, and training images excluded as their duplicates.
HELD_OUT = ("val", "test", EXCLUDED)


def check_matches_dataset(folder: SyntheticFolder, dataset: Dataset) -> None:
    """Refuse a synthetic folder made from another dataset or naming a class this dataset lacks.

    Raises:
        UserError: the manifest's dataset_fingerprint differs from `dataset.fingerprint`, or a
            label is not one of the dataset's classes.
    """
    other = sorted(folder.fingerprints - {dataset.fingerprint})
    if other:
        names = ", ".join(sorted(n for n in folder.datasets if n)) or "unnamed"
        raise UserError(f"{folder.path / SYNTHETIC_MANIFEST}: made from dataset {names} (fingerprint {other[0]}), "
                        f"but this dataset {dataset.name} has fingerprint {dataset.fingerprint}: synthetic images must come from a GAN trained on this dataset")
    unknown = [label for label in folder.labels if label not in dataset.class_names]
    if unknown:
        raise UserError(f"{folder.path / SYNTHETIC_MANIFEST}: images of class {unknown[0]!r}, which dataset {dataset.name} does not have; its classes are {', '.join(dataset.class_names)}")


def check_no_leak(runs, splits: Splits, dataset: Dataset | None = None) -> None:
    """Refuse GAN runs that read any validation or test image, or that cannot show what they read.

    A GAN that saw a held-out image can reproduce it; its images in a training set would let the
    classifier see the evaluation data.

    Args:
        runs: GAN run folders (each with its training keys), or SyntheticFolders whose runs to check.
        splits: the dataset's splits; keys in val, test or excluded are held out.
        dataset: when given, the run's config.json must name this dataset's fingerprint, and
            every training key must be one of its images.

    Raises:
        UserError: a run without training keys, an unreadable one, a key of a held-out split
            or, with `dataset`, a key the dataset lacks or a config.json of another dataset.
    """
    run_dirs = []
    for item in runs:
        run_dirs.extend(item.runs if isinstance(item, SyntheticFolder) else [Path(item)])
    held_out = {key: split for key, split in splits.assignments.items() if split in HELD_OUT}
    for run in sorted(set(run_dirs)):
        keys = _read_training_keys(run)
        leaked = [key for key in keys if key in held_out]
        if leaked:
            split_names = sorted({held_out[key] for key in leaked})
            raise UserError(f"{run}: the GAN read {len(leaked)} image(s) of the {'/'.join(split_names)} split of {splits.path} "
                            f"(e.g. {leaked[0]!r}); its images would leak held-out data into training. Retrain the GAN on this training split")
        if dataset is not None:
            _check_run_dataset(run, keys, splits, dataset)


def _read_training_keys(run: Path) -> list[str]:
    if not (run / TRAINING_KEYS_FILE).is_file():
        raise UserError(f"{run}: no {TRAINING_KEYS_FILE} in the GAN run folder; without the list of real images the GAN read, "
                        f"its images cannot be shown to be free of validation and test images")
    return read_training_keys(run)


def _check_run_dataset(run: Path, keys: list[str], splits: Splits, dataset: Dataset) -> None:
    unknown = [key for key in keys if key not in splits.assignments]
    if unknown:
        raise UserError(f"{run / TRAINING_KEYS_FILE}: {len(unknown)} key(s) are not images of dataset {dataset.name} (e.g. {unknown[0]!r}); the GAN was trained on other data")
    config_path = run / CONFIG_FILE
    if not config_path.is_file():
        log.warning("%s: no %s; the run's dataset is checked through its synthetic manifest only", run, CONFIG_FILE)
        return
    fingerprint = read_gan_config(run).get("dataset_fingerprint")
    if fingerprint and fingerprint != dataset.fingerprint:
        raise UserError(f"{config_path}: the GAN was trained on dataset fingerprint {fingerprint}, but this dataset {dataset.name} has fingerprint {dataset.fingerprint}")
