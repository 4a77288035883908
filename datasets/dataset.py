"""Loading chest X-ray datasets: a class-per-folder directory, a manifest.csv, or a MedMNIST .npz.

This is the one loader that the GAN, the balancer and the classifier all use. Every image becomes a
`Record` with a stable `key` (its path relative to the dataset root, or `train/17` inside an .npz), so
that splits, manifests and leak checks can name images without holding pixels.
"""

import csv
import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from operator import attrgetter
from pathlib import Path
from stat import S_ISREG

import numpy as np

from .cache import SIGNATURE, load_cached_files, pixel_hash, stat_signature
from ..errors import UserError, invalid_argument
from .images import IMAGE_SUFFIXES, is_image_file, resize_square, to_gray_uint8

log = logging.getLogger("xgan")

NPZ_SPLITS = ("train", "val", "test")
# MedMNIST .npz files carry integer labels only; names for the chest sets we know, by file name...
MEDMNIST_CLASS_NAMES = {"pneumoniamnist": ["normal", "pneumonia"], "chestmnist": None}
# ...and by their official split sizes, so that a renamed file keeps its class names.
MEDMNIST_SPLIT_SIZES = {"pneumoniamnist": {"train": 4708, "val": 524, "test": 624}}
DEFAULT_DATASET = "covid_ccby"
# Datasets shipped in data/, by the name `--data` accepts.
BUNDLED_DATASETS = {"covid_ccby": "covid_ccby", "pneumoniamnist": "pneumoniamnist/pneumoniamnist_28_trainval.npz"}


@dataclass(frozen=True)
class Record:
    """One image of a dataset, without its pixels.

    Attributes:
        key: stable name: the path relative to the dataset root, or `split/index` in an .npz.
        label: class name.
        patient_id: the patient it belongs to, or None when the source has none.
        split: the split the source file assigns ("train", "val", "test"), or None.
        root: the folder the key is relative to (the dataset folder, or the manifest's), or None for
            images stored in an .npz.
    """

    key: str
    label: str
    patient_id: str | None = None
    split: str | None = None
    root: Path | None = None

    @property
    def path(self) -> Path | None:
        """The file on disk, or None for images stored in an .npz.

        Made when asked for, not kept: a `Path` per record costs seconds at 100k files, and most
        commands never open a file the cache already holds.
        """
        return None if self.root is None else self.root / self.key


@dataclass
class Dataset:
    """Records, their class names and, when a size was asked for, their pixels.

    Attributes:
        name: short name (folder or file stem).
        source: what was loaded: a folder, a manifest.csv or an .npz.
        kind: "folder", "manifest" or "npz".
        class_names: sorted class names; a label's index into this list is its integer class.
        records: the images that decoded, in a stable order.
        images: (N, size, size) uint8 when loaded with a size, else None.
        original_shapes: (height, width) of each image as stored.
        content_hashes: a hash of each image's decoded pixels, to find exact duplicates.
        skipped: (file, reason) for every file that was not a readable image.
    """

    name: str
    source: Path
    kind: str
    class_names: list[str]
    records: list[Record]
    images: np.ndarray | None
    original_shapes: list[tuple[int, int]]
    content_hashes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        """Integer class of every record."""
        index = {name: i for i, name in enumerate(self.class_names)}
        return np.array([index[r.label] for r in self.records], dtype=np.int64)

    def class_counts(self, keys: set[str] | None = None) -> dict[str, int]:
        """Images per class, over all records or over those whose key is in `keys`."""
        counts = Counter(r.label for r in self.records if keys is None or r.key in keys)
        return {name: counts.get(name, 0) for name in self.class_names}

    @property
    def minority_class(self) -> str:
        """The class with the fewest images (the first in sorted order on a tie)."""
        counts = self.class_counts()
        return min(self.class_names, key=lambda name: counts[name])

    @property
    def imbalance_ratio(self) -> float:
        """Majority count over minority count."""
        counts = self.class_counts().values()
        return max(counts) / min(counts)

    @property
    def fingerprint(self) -> str:
        """A short hash of the dataset's keys and labels: the same data gives the same value wherever it lies."""
        digest = hashlib.blake2b(digest_size=8)
        for record in sorted(self.records, key=lambda r: r.key):
            digest.update(f"{record.key}\t{record.label}\n".encode())
        return digest.hexdigest()

    def select(self, keys) -> np.ndarray:
        """Indices of the records whose keys are given, in the order given."""
        position = {r.key: i for i, r in enumerate(self.records)}
        missing = [k for k in keys if k not in position]
        if missing:
            raise UserError(f"{len(missing)} image(s) not found in dataset {self.source}, e.g. {missing[0]!r}")
        return np.array([position[k] for k in keys], dtype=np.int64)


def bundled_dataset_path(name: str = DEFAULT_DATASET) -> Path:
    """Path of a dataset shipped inside the package, by its name in `BUNDLED_DATASETS`."""
    return Path(str(resources.files("xgan") / "data" / BUNDLED_DATASETS.get(name, name)))


def resolve_source(source: Path | str | None) -> Path:
    """The path of a dataset given as a path, as the name of a bundled dataset, or as None (the default).

    A path that exists wins over a bundled name, so a user's folder called `covid_ccby` is read.

    Raises:
        UserError: neither an existing path nor a bundled name.
    """
    if source is None:
        return bundled_dataset_path()
    path = Path(source)
    if not path.exists() and str(source) in BUNDLED_DATASETS:
        return bundled_dataset_path(str(source))
    if not path.exists():
        raise UserError(f"{source}: no such file or folder; expected a class-per-folder directory, a manifest.csv, an .npz "
                        f"or a bundled dataset ({', '.join(BUNDLED_DATASETS)})")
    return path


def load_dataset(source: Path | str | None = None, size: int | None = None) -> Dataset:
    """Load a dataset, skipping (with a warning and a count) files that are not readable images.

    Args:
        source: a folder with one sub-folder per class, a folder holding `manifest.csv`, a
            `manifest.csv` with columns `file,label[,patient_id]` (paths relative to it), a
            MedMNIST-style `.npz`, or the name of a bundled dataset (`pneumoniamnist`,
            `covid_ccby`). None means the bundled default dataset.
            Images are PNG, JPEG, BMP, TIFF or DICOM (`.dcm`, or any file with the DICM preamble);
            a DICOM's PatientID is the patient id wherever no manifest gives one.
        size: when given, every image is resized to size x size and kept in `Dataset.images`.

    Raises:
        UserError: a missing path, an empty class folder, a single class, a bad manifest row or an
            .npz without images.
    """
    if size is not None and size < 1:
        raise invalid_argument("size", "a positive integer", size)
    source = resolve_source(source)
    if source.is_file() and source.suffix.lower() == ".npz":
        dataset = _load_npz(source, size)
    elif source.is_file() and source.suffix.lower() == ".csv":
        dataset = _load_files(source.parent, _read_manifest(source), source, "manifest", size)
    elif source.is_dir() and (source / "manifest.csv").is_file():
        dataset = _load_files(source, _read_manifest(source / "manifest.csv"), source, "manifest", size)
    elif source.is_dir():
        dataset = _load_files(source, _scan_class_folders(source), source, "folder", size)
    else:
        raise UserError(f"{source}: expected a class-per-folder directory, a manifest.csv or an .npz file")
    if dataset.skipped:
        log.warning("%s: skipped %d file(s) that are not readable images", source, len(dataset.skipped))
    _check_classes(dataset)
    return dataset


def _check_classes(dataset: Dataset) -> None:
    counts = dataset.class_counts()
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise UserError(f"{dataset.source}: class {empty[0]!r} has no readable images; every class needs at least one")
    if len(counts) < 2:
        found = ", ".join(counts) or "none"
        raise UserError(f"{dataset.source}: found one class ({found}); expected at least two classes")


def _scan_class_folders(root: Path) -> tuple[list[Record], np.ndarray]:
    """The records of a class-per-folder directory in key order, and each file's stat `SIGNATURE`."""
    with os.scandir(root) as entries:
        class_names = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    if not class_names:
        raise UserError(f"{root}: no class sub-folders; expected one sub-folder per class (e.g. {root}/covid/, {root}/normal/)")
    records, signatures = [], []
    for name in class_names:
        # os.scandir rather than Path.rglob: a folder of 100k files is listed, and stat'ed once per file, in a
        # fraction of the time, and keys stay strings (a Path per file costs seconds at that size).
        before = len(records)
        for key, stat in _files_below(os.path.join(root, name), name):
            records.append(Record(key, name, root=root))
            signatures.append(stat_signature(stat))
        if len(records) == before:
            raise UserError(f"{root / name}: empty class folder; expected image files (PNG, JPEG, BMP, TIFF or DICOM)")
    return records, np.array(signatures, SIGNATURE)


def _files_below(folder: str, prefix: str):
    """(key `prefix/relative/path`, stat) of the files below a folder whose names do not start with a dot.

    In the order of the keys' path components: each folder's entries sorted by name, a sub-folder's
    files where its name falls.
    """
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=attrgetter("name")):
            if entry.is_dir():
                yield from _files_below(entry.path, f"{prefix}/{entry.name}")
            elif entry.is_file() and not entry.name.startswith("."):
                yield f"{prefix}/{entry.name}", entry.stat()


def _read_manifest(manifest: Path) -> tuple[list[Record], np.ndarray]:
    """The records a manifest lists, in its order, and each file's stat `SIGNATURE`."""
    try:
        with open(manifest, newline="") as handle:
            rows = list(csv.DictReader(handle))
            columns = set(rows[0]) if rows else set()
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{manifest}: cannot read the manifest ({error}); expected a CSV with columns file,label[,patient_id]") from None
    missing = {"file", "label"} - columns
    if not rows or missing:
        raise UserError(f"{manifest}: expected a CSV with columns file,label[,patient_id]; missing {sorted(missing) or 'rows'}")
    records, signatures, seen = [], [], set()
    folder = manifest.parent
    for line, row in enumerate(rows, start=2):
        file, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        if not file or not label:
            raise UserError(f"{manifest}, line {line}: empty 'file' or 'label'; every row needs both")
        try:
            stat = os.stat(os.path.join(folder, file))  # the one stat: the file's existence and its cache signature
        except (OSError, ValueError):
            stat = None
        if stat is None or not S_ISREG(stat.st_mode):
            raise UserError(f"{manifest}, line {line}: file {file!r} does not exist (paths are relative to the manifest)")
        if file in seen:
            raise UserError(f"{manifest}, line {line}: file {file!r} is listed twice")
        seen.add(file)
        patient = (row.get("patient_id") or "").strip() or None
        records.append(Record(_posix_key(file), label, patient, root=folder))
        signatures.append(stat_signature(stat))
    return records, np.array(signatures, SIGNATURE)


def _posix_key(file: str) -> str:
    """`Path(file).as_posix()` (no doubled or trailing slash, no `.` component), without a Path for the usual plain name."""
    if "//" in file or "/." in file or file.startswith("./") or file.endswith("/") or file in (".", ""):
        return Path(file).as_posix()
    return file


def _load_files(root: Path, found: tuple[list[Record], np.ndarray], source: Path, kind: str, size: int | None) -> Dataset:
    """`found`: the candidate records and their files' stat signatures (`_scan_class_folders`, `_read_manifest`)."""
    candidates, signatures = found
    images_only, positions, skipped = [], [], []
    for position, record in enumerate(candidates):
        suffix = _suffix(record.key)  # of the key, which ends like the path: no Path per file
        if suffix.lower() not in IMAGE_SUFFIXES and not is_image_file(record.path):
            skipped.append((record.key, f"not an image file type ({suffix or 'no suffix'})"))
            log.warning("skipping %s: not an image file type", record.path)
        else:
            images_only.append(record)
            positions.append(position)
    if skipped:
        signatures = signatures[positions]
    # Decoding, hashing and resizing go through the on-disk cache: only new or changed files are decoded.
    records, shapes, hashes, images, failed = load_cached_files(source, images_only, size, signatures)
    for key, reason in failed:
        log.warning("skipping %s: %s", root / key, reason)
    if failed:
        failed_keys = dict(failed)
        skipped += [(r.key, failed_keys[r.key]) for r in images_only if r.key in failed_keys]
    if skipped:
        order = {r.key: i for i, r in enumerate(candidates)}
        skipped.sort(key=lambda entry: order[entry[0]])
    return Dataset(
        name=source.stem if source.is_file() else source.name,
        source=source, kind=kind,
        class_names=sorted({r.label for r in candidates}),
        records=records,
        images=images,
        original_shapes=shapes, content_hashes=hashes, skipped=skipped,
    )


def _suffix(key: str) -> str:
    """The suffix of a key's last component, as `PurePath.suffix` gives it ("" for `.hidden` or `name.`)."""
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _load_npz(source: Path, size: int | None) -> Dataset:
    try:
        archive = np.load(source, allow_pickle=False)
        arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # numpy raises several types for a damaged archive
        raise UserError(f"{source}: cannot read the .npz ({error})") from None
    present = [s for s in NPZ_SPLITS if f"{s}_images" in arrays]
    if not present:
        raise UserError(f"{source}: expected MedMNIST keys train_images/train_labels (optional val_*, test_*); found {sorted(arrays)}")
    label_values = sorted({int(v) for s in present for v in _npz_labels(arrays, s, source)})
    names = _npz_class_names(source, arrays, label_values)
    records, images, shapes, hashes = [], [], [], []
    for split in present:
        labels = _npz_labels(arrays, split, source)
        for index, (pixels, label) in enumerate(zip(arrays[f"{split}_images"], labels)):
            try:
                image = to_gray_uint8(pixels)
            except ValueError as error:  # NaN/inf or a shape that is no image: name the key and the image
                raise UserError(f"{source}: key {split}_images, image {index}: {error}; expected finite gray or "
                                f"colour pixel values") from None
            records.append(Record(f"{split}/{index}", names[int(label)], split=split))
            shapes.append(image.shape)
            hashes.append(pixel_hash(image))
            if size is not None:
                images.append(resize_square(image, size))
    return Dataset(
        name=source.stem, source=source, kind="npz",
        class_names=sorted(set(names.values())), records=records,
        images=_stack(images, size) if size is not None else None,
        original_shapes=shapes, content_hashes=hashes,
    )


def _npz_labels(arrays: dict, split: str, source: Path) -> np.ndarray:
    labels = arrays.get(f"{split}_labels")
    images = arrays[f"{split}_images"]
    if labels is None:
        raise UserError(f"{source}: has {split}_images but no {split}_labels")
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise UserError(f"{source}: {split}_labels has shape {labels.shape}; expected one label per image ({len(images)},)")
    if images.ndim not in (3, 4):
        raise UserError(f"{source}: {split}_images has shape {images.shape}; expected (N, H, W) or (N, H, W, C)")
    return labels


def _npz_class_names(source: Path, arrays: dict, label_values: list[int]) -> dict[int, str]:
    """Class names of an .npz's integer labels: its own `label_names`/`class_names` key, else the
    MedMNIST set it is (by file name, or by its official split sizes when renamed), else the numbers."""
    names = _names_in_file(source, arrays)
    if names is None:
        names = _medmnist_names(source, arrays)
        if names is None or max(label_values) >= len(names):
            return {v: str(v) for v in label_values}
    if isinstance(names, dict):
        missing = [v for v in label_values if v not in names]
    else:
        missing = [v for v in label_values if v >= len(names)]
        names = dict(enumerate(names))
    if missing:
        raise UserError(f"{source}: its class names do not name label {missing[0]}; expected a name for every label value "
                        f"({', '.join(map(str, label_values))})")
    return {v: names[v] for v in label_values}


def _names_in_file(source: Path, arrays: dict) -> list[str] | dict[int, str] | None:
    """`label_names` or `class_names` stored in the file: an array of names, or MedMNIST's JSON dict {"0": "normal", ...}."""
    for key in ("label_names", "class_names"):
        if key not in arrays:
            continue
        value = arrays[key]
        if value.ndim == 0:  # one string: MedMNIST INFO-style JSON
            try:
                parsed = json.loads(str(value))
                return {int(k): str(v) for k, v in parsed.items()}
            except (ValueError, AttributeError):
                raise UserError(f"{source}: `{key}` holds {str(value)[:60]!r}; expected an array of class names or a JSON "
                                "object such as {\"0\": \"normal\", \"1\": \"pneumonia\"}") from None
        return [str(n) for n in value.ravel()]
    return None


def _medmnist_names(source: Path, arrays: dict) -> list[str] | None:
    stem = source.stem.lower()
    by_name = next((v for k, v in MEDMNIST_CLASS_NAMES.items() if stem.startswith(k) and v), None)
    if by_name is not None:
        return by_name
    sizes = {split: len(arrays[f"{split}_images"]) for split in NPZ_SPLITS if f"{split}_images" in arrays}
    for name, official in MEDMNIST_SPLIT_SIZES.items():
        if sizes and all(official.get(split) == n for split, n in sizes.items()):
            return MEDMNIST_CLASS_NAMES[name]
    return None


def _stack(images: list[np.ndarray], size: int) -> np.ndarray:
    return np.stack(images) if images else np.zeros((0, size, size), np.uint8)
