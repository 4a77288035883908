"""Atomic file writes and self-describing run folders, shared by every command."""

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator


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
