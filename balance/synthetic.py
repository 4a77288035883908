"""Reading synthetic folders (written by `xgan sample`) and proving their GAN runs saw no held-out image.

A synthetic folder holds PNGs and a `manifest.csv` with columns
`file,label,dataset,dataset_fingerprint,run,checkpoint,checkpoint_step,seed,index` (contract 2).
Its GAN run folder holds `training_keys.json`, the sorted keys of every real image the GAN read, and
`config.json` (contract 1). Nothing here imports the GAN: these files are the whole interface.
"""

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..dataset import Dataset
from ..errors import UserError
from ..runs import read_json
from ..splits import EXCLUDED, Splits

log = logging.getLogger("xgan")

MANIFEST = "manifest.csv"
TRAINING_KEYS = "training_keys.json"
RUN_CONFIG = "config.json"
COLUMNS = ("file", "label", "dataset", "dataset_fingerprint", "run", "checkpoint", "checkpoint_step", "seed", "index")
# Keys a GAN must never have read: held-out images, and training images excluded as their duplicates.
HELD_OUT = ("val", "test", EXCLUDED)


@dataclass(frozen=True)
class SyntheticImage:
    """One generated image and how to make it again.

    Attributes:
        path: the PNG, absolute.
        label: the class it was generated for.
        run: the GAN run folder that made it, absolute.
        checkpoint: the generator checkpoint's name.
        checkpoint_step: the training step of that checkpoint.
        seed: the sampling seed.
        index: its position among the images drawn with that seed.
    """

    path: Path
    label: str
    run: Path
    checkpoint: str
    checkpoint_step: int
    seed: int
    index: int

    @property
    def identity(self) -> tuple:
        """What makes the image: the same identity gives the same pixels."""
        return (self.run, self.checkpoint, self.seed, self.index)


@dataclass(frozen=True)
class SyntheticFolder:
    """A folder of generated images, read from its manifest.

    Attributes:
        path: the folder.
        images: its images in manifest order.
        datasets: the dataset names its manifest gives.
        fingerprints: the dataset fingerprints its manifest gives.
    """

    path: Path
    images: tuple[SyntheticImage, ...]
    datasets: frozenset[str]
    fingerprints: frozenset[str]

    @property
    def labels(self) -> list[str]:
        """The classes of its images, sorted."""
        return sorted({image.label for image in self.images})

    @property
    def runs(self) -> list[Path]:
        """The GAN runs that made its images, sorted."""
        return sorted({image.run for image in self.images})


def read_synthetic_folder(folder: Path) -> SyntheticFolder:
    """Read a synthetic folder's manifest, checking every row and that every image file exists.

    The `run` column may be absolute, relative to the working directory, or relative to the folder.

    Raises:
        UserError: no folder, no manifest.csv, missing columns, no rows, a bad row, a missing
            image file or a GAN run folder that does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such synthetic folder; expected a folder written by `xgan sample`")
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise UserError(f"{folder}: no {MANIFEST}; expected a synthetic folder written by `xgan sample` (PNGs plus {MANIFEST} with columns {','.join(COLUMNS)})")
    try:
        with open(manifest, newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{manifest}: cannot read it ({error}); expected a CSV with columns {','.join(COLUMNS)}") from None
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise UserError(f"{manifest}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    if not records:
        raise UserError(f"{manifest}: no rows; the synthetic folder lists no images")
    runs: dict[str, Path] = {}
    images, seen = [], set()
    for line, record in enumerate(records, start=2):
        where = f"{manifest}, line {line}"
        values = {c: (record.get(c) or "").strip() for c in COLUMNS}
        for column in ("file", "label", "dataset_fingerprint", "run"):
            if not values[column]:
                raise UserError(f"{where}: empty {column!r}; every row needs file, label, dataset_fingerprint and run")
        path = folder / values["file"]
        if not path.is_file():
            raise UserError(f"{where}: image {values['file']!r} does not exist (paths are relative to the manifest's folder)")
        if values["file"] in seen:
            raise UserError(f"{where}: image {values['file']!r} is listed twice")
        seen.add(values["file"])
        if values["run"] not in runs:
            runs[values["run"]] = _find_run(values["run"], folder, where)
        try:
            numbers = {c: int(values[c]) for c in ("checkpoint_step", "seed", "index")}
        except ValueError:
            raise UserError(f"{where}: checkpoint_step, seed and index must be integers; found "
                            f"{values['checkpoint_step']!r}, {values['seed']!r}, {values['index']!r}") from None
        images.append(SyntheticImage(Path(os.path.abspath(path)), values["label"], runs[values["run"]],
                                     values["checkpoint"], numbers["checkpoint_step"], numbers["seed"], numbers["index"]))
    return SyntheticFolder(
        path=folder, images=tuple(images),
        datasets=frozenset(r.get("dataset", "").strip() for r in records),
        fingerprints=frozenset(r["dataset_fingerprint"].strip() for r in records),
    )


def _find_run(text: str, folder: Path, where: str) -> Path:
    candidates = [Path(text)] if Path(text).is_absolute() else [Path(text), folder / text]
    # A relative run may be relative to where `xgan sample` ran or to the folder: prefer the one
    # that is a GAN run.
    for marker in (TRAINING_KEYS, RUN_CONFIG, ""):
        for candidate in candidates:
            if (candidate / marker).exists() and candidate.is_dir():
                return Path(os.path.abspath(candidate))
    looked = " or ".join(str(c) for c in candidates)
    raise UserError(f"{where}: GAN run folder {text!r} not found (looked for {looked}); its {TRAINING_KEYS} is needed to prove it saw no validation or test image")


def check_matches_dataset(folder: SyntheticFolder, dataset: Dataset) -> None:
    """Refuse a synthetic folder made from another dataset or naming a class this dataset lacks.

    Raises:
        UserError: the manifest's dataset_fingerprint differs from `dataset.fingerprint`, or a
            label is not one of the dataset's classes.
    """
    other = sorted(folder.fingerprints - {dataset.fingerprint})
    if other:
        names = ", ".join(sorted(n for n in folder.datasets if n)) or "unnamed"
        raise UserError(f"{folder.path / MANIFEST}: made from dataset {names} (fingerprint {other[0]}), "
                        f"but this dataset {dataset.name} has fingerprint {dataset.fingerprint}: synthetic images must come from a GAN trained on this dataset")
    unknown = [label for label in folder.labels if label not in dataset.class_names]
    if unknown:
        raise UserError(f"{folder.path / MANIFEST}: images of class {unknown[0]!r}, which dataset {dataset.name} does not have; its classes are {', '.join(dataset.class_names)}")


def check_no_leak(runs, splits: Splits, dataset: Dataset | None = None) -> None:
    """Refuse GAN runs that read any validation or test image, or that cannot show what they read.

    A GAN that saw a held-out image can reproduce it; its images in a training set would let the
    classifier see the evaluation data.

    Args:
        runs: GAN run folders (each with training_keys.json), or SyntheticFolders whose runs to check.
        splits: the dataset's splits; keys in val, test or excluded are held out.
        dataset: when given, the run's config.json must name this dataset's fingerprint, and
            every training key must be one of its images.

    Raises:
        UserError: a run without training_keys.json, an unreadable one, a key of a held-out split
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
    path = run / TRAINING_KEYS
    if not path.is_file():
        raise UserError(f"{run}: no {TRAINING_KEYS} in the GAN run folder; without the list of real images the GAN read, "
                        f"its images cannot be shown to be free of validation and test images")
    try:
        keys = read_json(path)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not readable JSON ({error}); expected a list of dataset keys") from None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UserError(f"{path}: expected a JSON list of dataset keys (strings); found {type(keys).__name__}")
    return keys


def _check_run_dataset(run: Path, keys: list[str], splits: Splits, dataset: Dataset) -> None:
    unknown = [key for key in keys if key not in splits.assignments]
    if unknown:
        raise UserError(f"{run / TRAINING_KEYS}: {len(unknown)} key(s) are not images of dataset {dataset.name} (e.g. {unknown[0]!r}); the GAN was trained on other data")
    config_path = run / RUN_CONFIG
    if not config_path.is_file():
        log.warning("%s: no %s; the run's dataset is checked through its synthetic manifest only", run, RUN_CONFIG)
        return
    try:
        config = read_json(config_path)
    except (OSError, ValueError) as error:
        raise UserError(f"{config_path}: not readable JSON ({error})") from None
    fingerprint = config.get("dataset_fingerprint") if isinstance(config, dict) else None
    if fingerprint and fingerprint != dataset.fingerprint:
        raise UserError(f"{config_path}: the GAN was trained on dataset fingerprint {fingerprint}, but this dataset {dataset.name} has fingerprint {dataset.fingerprint}")
