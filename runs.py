"""Atomic file writes and the layout of self-describing run folders, shared by every command.

This module is the one home of the run-folder file names and of their readers and writers: a GAN
run's `config.json`, `training_keys.json` and `history.json`, and the `manifest.csv` of a synthetic
folder. Other packages call these functions instead of spelling the names.
"""

import contextlib
import csv
import io
import json
import os
import re
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import UserError

CONFIG_FILE = "config.json"
TRAINING_KEYS_FILE = "training_keys.json"  # only GAN run folders hold it: the keys of every real image the GAN read
HISTORY_FILE = "history.json"
SYNTHETIC_MANIFEST = "manifest.csv"
# One row per image of a synthetic folder: enough to make the same pixels again (contract 2).
SYNTHETIC_COLUMNS = ("file", "label", "dataset", "dataset_fingerprint", "run", "checkpoint", "checkpoint_step", "seed", "index")
SYNTHETIC_FOLDER = "synthetic"  # a GAN run's default sample folder


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    A crash or a kill at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A signal whose handler raises (Ctrl-C, a stopped worker's SIGTERM) is held back until the temporary file's removal
    # is guaranteed: raised inside mkstemp, after the file is made, it would leave the file behind.
    held = _hold_signals()
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except BaseException:
        _release_signals(held)
        raise
    temporary = Path(name)
    try:
        _release_signals(held)  # a signal held back is handled here, inside the try
        os.close(handle)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _hold_signals():
    """Hold SIGINT and SIGTERM back (the previous signal mask, for `_release_signals`); None where masks do not exist."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def _release_signals(previous) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically, indented so a person can read it."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


_RUN_NAME = re.compile(r"^(\d{5})-")


def new_run_dir(parent: Path, description: str) -> Path:
    """Create the next numbered run folder, `parent/00003-description/`, and return it."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in parent.iterdir() if (m := _RUN_NAME.match(p.name))]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", description).strip("-") or "run"
    next_number = max(numbers, default=-1) + 1
    while True:
        run_dir = parent / f"{next_number:05d}-{slug}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # another process took this number first
            next_number += 1


def latest_run_dir(parent: Path, marker: str) -> Path | None:
    """The highest-numbered run folder under `parent` that holds the file `marker`, or None."""
    parent = Path(parent)
    if not parent.is_dir():
        return None
    runs = sorted(p for p in parent.iterdir() if _RUN_NAME.match(p.name) and (p / marker).exists())
    return runs[-1] if runs else None


def read_json_file(path: Path, expected: type, what: str) -> Any:
    """Read a JSON file that must hold a value of type `expected`.

    Raises:
        UserError: the file is missing, not JSON, or holds another type; `what` says which file it should be.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path.parent}: no {path.name}; expected {what}")
    try:
        value = read_json(path)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(value, expected):
        raise UserError(f"{path}: expected a JSON {expected.__name__}; found {type(value).__name__}")
    return value


GAN_RUN = "a GAN run folder written by `xgan train` (e.g. samples/00000-gan-covid)"


def is_gan_run(path: Path) -> bool:
    """True when `path` is a GAN run folder (it holds training_keys.json)."""
    return (Path(path) / TRAINING_KEYS_FILE).is_file()


def latest_gan_run(parent: Path) -> Path | None:
    """The highest-numbered GAN run folder under `parent`, or None."""
    return latest_run_dir(parent, TRAINING_KEYS_FILE)


def find_gan_run(run_dir: Path | str | None, parent: Path | str = "samples") -> Path:
    """`run_dir` if it is a GAN run folder, or the latest one under `parent` when None.

    Raises:
        UserError: not a GAN run, or no GAN run under `parent`.
    """
    if run_dir is None:
        found = latest_gan_run(Path(parent))
        if found is None:
            raise UserError(f"{parent}: no GAN run folder found (a folder with {TRAINING_KEYS_FILE}); "
                            "train one with `xgan train` or pass --run DIR")
        return found
    run_dir = Path(run_dir)
    if not is_gan_run(run_dir):
        raise UserError(f"{run_dir}: not a GAN run folder (no {TRAINING_KEYS_FILE}); expected a folder written by `xgan train`")
    return run_dir


def resolve_run_entry(text: str, folder: Path) -> Path | None:
    """The run folder a synthetic manifest's `run` entry names, absolute; None when no such folder exists.

    The entry may be absolute, relative to the working directory (where `xgan sample` ran) or
    relative to the synthetic folder. A candidate that is a GAN run wins over one that is only a
    folder (whose missing training keys the caller then reports).
    """
    candidates = [Path(text)] if Path(text).is_absolute() else [Path(text), Path(folder) / text]
    for test in (is_gan_run, Path.is_dir):
        found = next((c for c in candidates if test(c)), None)
        if found is not None:
            return Path(os.path.abspath(found))
    return None


def read_gan_config(run_dir: Path) -> dict:
    """A GAN run's config.json: its options plus what the run added (class, dataset, fingerprint...).

    Raises:
        UserError: the folder is not a GAN run, or the file is unreadable.
    """
    return read_json_file(Path(run_dir) / CONFIG_FILE, dict, GAN_RUN)


def write_gan_config(run_dir: Path, values: dict) -> None:
    """Write a GAN run's config.json."""
    write_json(Path(run_dir) / CONFIG_FILE, values)


def read_training_keys(run_dir: Path) -> list[str]:
    """The dataset keys of every real image a GAN run read (its training_keys.json).

    Raises:
        UserError: the folder is not a GAN run, or the file is unreadable.
    """
    return [str(key) for key in read_json_file(Path(run_dir) / TRAINING_KEYS_FILE, list, GAN_RUN)]


def write_training_keys(run_dir: Path, keys: list[str]) -> None:
    """Write a GAN run's training_keys.json."""
    write_json(Path(run_dir) / TRAINING_KEYS_FILE, list(keys))


def read_history(run_dir: Path) -> list[dict]:
    """A run's history.json (one dict per epoch, NaN stored as null); [] before the first write.

    Raises:
        UserError: the file exists but is unreadable.
    """
    path = Path(run_dir) / HISTORY_FILE
    return read_json_file(path, list, "a training history") if path.is_file() else []


def write_history(run_dir: Path, history: list[dict]) -> None:
    """Write a run's history.json."""
    write_json(Path(run_dir) / HISTORY_FILE, history)


def write_synthetic_manifest(folder: Path, rows: list[dict]) -> None:
    """Write a synthetic folder's manifest.csv (columns `SYNTHETIC_COLUMNS`), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SYNTHETIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(Path(folder) / SYNTHETIC_MANIFEST, buffer.getvalue())


def read_synthetic_manifest(folder: Path) -> tuple[list[str], list[dict]]:
    """The columns and rows of a synthetic folder's manifest.csv, as written; no checks beyond readability.

    Raises:
        UserError: the file is missing or not a readable CSV.
    """
    manifest = Path(folder) / SYNTHETIC_MANIFEST
    if not manifest.is_file():
        raise UserError(f"{folder}: no {SYNTHETIC_MANIFEST}; expected a synthetic folder written by `xgan sample` "
                        f"(PNGs plus {SYNTHETIC_MANIFEST} with columns {','.join(SYNTHETIC_COLUMNS)})")
    try:
        with open(manifest, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{manifest}: cannot read it ({error}); expected a CSV with columns {','.join(SYNTHETIC_COLUMNS)}") from None
    return columns, rows


@dataclass(frozen=True)
class SyntheticImage:
    """One generated image and how to make it again.

    Attributes:
        path: the image file, absolute.
        label: the class it was generated for (None: a folder without manifest, or an empty cell).
        run: the GAN run folder that made it, absolute (None when unknown or not found).
        checkpoint: the generator checkpoint's name.
        checkpoint_step: the training step of that checkpoint.
        seed: the sampling seed.
        index: its position among the images drawn with that seed.
    """

    path: Path
    label: str | None = None
    run: Path | None = None
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    seed: int | None = None
    index: int | None = None

    @property
    def identity(self) -> tuple:
        """What makes the image: the same identity gives the same pixels (the label too: a conditional GAN draws every class)."""
        return (self.run, self.checkpoint, self.seed, self.index, self.label)

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class SyntheticFolder:
    """A folder of generated images, read from its manifest (or its image files when it has none).

    Attributes:
        path: the folder.
        images: its images in manifest order.
        datasets: the dataset names its manifest gives.
        fingerprints: the dataset fingerprints its manifest gives.
    """

    path: Path
    images: tuple[SyntheticImage, ...]
    datasets: frozenset[str] = frozenset()
    fingerprints: frozenset[str] = frozenset()

    @property
    def labels(self) -> list[str]:
        """The classes of its images, sorted."""
        return sorted({image.label for image in self.images if image.label})

    @property
    def runs(self) -> list[Path]:
        """The GAN runs that made its images (those found), sorted."""
        return sorted({image.run for image in self.images if image.run is not None})

    @property
    def checkpoints(self) -> list[str]:
        """The generator checkpoints its images came from, sorted."""
        return sorted({image.checkpoint for image in self.images if image.checkpoint})


# Files `xgan sample` writes beside the images, which are not synthetic images themselves.
NOT_SYNTHETIC = frozenset({"contact_sheet.png"})
_REQUIRED = ("file", "label", "dataset_fingerprint", "run")
_INTEGERS = ("checkpoint_step", "seed", "index")


def read_synthetic_folder(folder: Path, *, complete: bool = True, class_name: str | None = None,
                          image_suffixes: tuple[str, ...] = (".png",)) -> SyntheticFolder:
    """Read a synthetic folder: its manifest's rows, checked, with every image file present.

    Args:
        folder: the folder.
        complete: True (training on the images) requires what `xgan sample` writes: a manifest
            with every column, every row's file, label, dataset_fingerprint and run filled, and
            each run a GAN run folder that exists (its training keys prove what the GAN read).
            False (only looking at the images) also takes a manifest with just a `file` column, a
            run that cannot be found (None), or a folder of images without a manifest.
        class_name: keep only rows of this class (and rows without a label).
        image_suffixes: what counts as an image file in a folder without manifest.

    Raises:
        UserError: no folder, no manifest (when `complete`), missing columns, no rows, a bad row,
            a missing image file, or a GAN run folder that does not exist (when `complete`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such synthetic folder; expected a folder of generated PNGs written by `xgan sample`")
    manifest = folder / SYNTHETIC_MANIFEST
    if not complete and not manifest.is_file():
        files = sorted(p.name for p in folder.iterdir()
                       if p.is_file() and p.suffix.lower() in image_suffixes and p.name not in NOT_SYNTHETIC)
        if not files:
            raise UserError(f"{folder}: no synthetic images; expected PNGs (listed in {SYNTHETIC_MANIFEST} when there is one)")
        return SyntheticFolder(folder, tuple(SyntheticImage(Path(os.path.abspath(folder / f))) for f in files))
    columns, records = read_synthetic_manifest(folder)
    required = SYNTHETIC_COLUMNS if complete else ("file",)
    missing = [c for c in required if c not in columns]
    if missing:
        raise UserError(f"{manifest}: missing column(s) {', '.join(missing)}; expected {','.join(SYNTHETIC_COLUMNS)}")
    if not records:
        raise UserError(f"{manifest}: no rows; the synthetic folder lists no images")
    runs: dict[str, Path | None] = {}
    images, seen = [], set()
    for line, record in enumerate(records, start=2):
        where = f"{manifest}, line {line}"
        values = {c: (record.get(c) or "").strip() for c in SYNTHETIC_COLUMNS}
        for column in (_REQUIRED if complete else ("file",)):
            if not values[column]:
                raise UserError(f"{where}: empty {column!r}; every row needs {', '.join(_REQUIRED if complete else ('file',))}")
        if class_name is not None and values["label"] not in ("", class_name):
            continue
        path = folder / values["file"]
        if not path.is_file():
            raise UserError(f"{where}: image {values['file']!r} does not exist (paths are relative to the manifest's folder)")
        if values["file"] in seen:
            raise UserError(f"{where}: image {values['file']!r} is listed twice")
        seen.add(values["file"])
        if values["run"] and values["run"] not in runs:
            runs[values["run"]] = resolve_run_entry(values["run"], folder)
            if runs[values["run"]] is None and complete:
                raise UserError(f"{where}: GAN run folder {values['run']!r} not found (looked for it as given and inside "
                                f"{folder}); its {TRAINING_KEYS_FILE} is needed to prove it saw no validation or test image")
        try:
            numbers = {c: int(values[c]) if values[c] or complete else None for c in _INTEGERS}
        except ValueError:
            raise UserError(f"{where}: checkpoint_step, seed and index must be integers; found "
                            f"{values['checkpoint_step']!r}, {values['seed']!r}, {values['index']!r}") from None
        images.append(SyntheticImage(Path(os.path.abspath(path)), values["label"] or None, runs.get(values["run"]),
                                     values["checkpoint"] or None, **numbers))
    if not images:
        raise UserError(f"{folder}: no synthetic images of class {class_name!r} in {SYNTHETIC_MANIFEST}")
    return SyntheticFolder(
        path=folder, images=tuple(images),
        datasets=frozenset(v for r in records if (v := (r.get("dataset") or "").strip())),
        fingerprints=frozenset(v for r in records if (v := (r.get("dataset_fingerprint") or "").strip())),
    )


def latest_synthetic_folder(parent: Path, fingerprint: str, label: str) -> Path | None:
    """The most recently written `xgan sample` output under `parent` for one dataset and class, or None.

    Looks at `parent/*/` and `parent/*/*/` (a run's own `synthetic/` folder or any `--out` beside
    the runs) for a complete manifest whose every row has this dataset fingerprint and label;
    the newest manifest wins.
    """
    parent = Path(parent)
    found = []
    for manifest in [*parent.glob(f"*/{SYNTHETIC_MANIFEST}"), *parent.glob(f"*/*/{SYNTHETIC_MANIFEST}")]:
        try:
            columns, rows = read_synthetic_manifest(manifest.parent)
        except UserError:
            continue
        if (rows and all(c in columns for c in SYNTHETIC_COLUMNS)
                and all(row.get("dataset_fingerprint") == fingerprint and row.get("label") == label for row in rows)):
            found.append((manifest.stat().st_mtime_ns, str(manifest.parent), manifest.parent))
    return max(found)[2] if found else None
