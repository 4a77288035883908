"""Atomic file writes and the layout of self-describing run folders, shared by every command.

This module is the one home of the run-folder file names and of their readers and writers: a GAN
run's `config.json`, `training_keys.json` and `history.json`, and the `manifest.csv` of a synthetic
folder. Other packages call these functions instead of spelling the names.
"""

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import UserError

CONFIG_FILE = "config.json"
TRAINING_KEYS_FILE = "training_keys.json"  # only GAN run folders hold it: the keys of every real image the GAN read
HISTORY_FILE = "history.json"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    A crash or a kill at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


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
