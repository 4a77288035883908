"""The training manifest: the rows of one training set, as the classifier reads them.

A CSV with columns `path,key,label,origin,run,seed` (contract 3). `origin` is `real`, `oversampled`
(a repeated real image) or `synthetic`. Real and oversampled rows carry the dataset `key` (and the
`path` of the image file when it is one); synthetic rows carry `path`, the GAN `run` that made the
image and the `seed` it was sampled with. A path that shares more than the root with the manifest's
folder is written relative to that folder, so the manifest and the images can move together; every
path is read back as an absolute path.
"""

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError, invalid_argument
from ..runs import write_text

COLUMNS = ("path", "key", "label", "origin", "run", "seed")
ORIGINS = ("real", "oversampled", "synthetic")


@dataclass(frozen=True)
class TrainingRow:
    """One image of a training set.

    Attributes:
        path: the image file (absolute once read back), or None for a real image held in an .npz.
        key: the dataset key of a real or oversampled image; None for a synthetic one.
        label: class name.
        origin: "real", "oversampled" or "synthetic".
        run: the GAN run folder that made a synthetic image; None otherwise.
        seed: the seed a synthetic image was sampled with; None otherwise.
    """

    path: Path | None
    key: str | None
    label: str
    origin: str
    run: Path | None = None
    seed: int | None = None

    def __post_init__(self):
        if self.origin not in ORIGINS:
            raise invalid_argument("origin", f"one of {', '.join(ORIGINS)}", self.origin, error=ValueError)
        if self.origin == "synthetic" and self.path is None:
            raise invalid_argument("path", "the image file of a synthetic row", received="path=None", error=ValueError)
        if self.origin != "synthetic" and not self.key:
            raise invalid_argument("key", f"the dataset key of a {self.origin} row", self.key, error=ValueError)
        if not self.label:
            raise invalid_argument("label", "a class name", self.label, error=ValueError)


def write_training_manifest(path: Path, rows: list[TrainingRow]) -> None:
    """Write rows as a training manifest CSV, atomically; paths become relative to its folder.

    The same rows always give the same bytes, so reruns can be compared with `cmp`.
    """
    path = Path(path)
    folder = Path(os.path.abspath(path.parent))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_relative(row.path, folder), row.key or "", row.label, row.origin,
                         _relative(row.run, folder), "" if row.seed is None else row.seed])
    write_text(path, buffer.getvalue())


def read_training_manifest(path: Path) -> list[TrainingRow]:
    """Read and check a training manifest; relative paths are taken from its folder.

    Raises:
        UserError: a missing file, missing columns, an unknown origin, a row without the key or
            path its origin needs, a seed that is not an integer, or a synthetic image file that
            does not exist; each as one line naming the file and line.
    """
    path = Path(path)
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            records = list(reader)
    except FileNotFoundError:
        raise UserError(f"{path}: no such training manifest; write one with `xgan balance`") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: cannot read the training manifest ({error}); expected a CSV with columns {','.join(COLUMNS)}") from None
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; expected a CSV with columns {','.join(COLUMNS)}, found {','.join(columns) or 'none'}")
    folder = Path(os.path.abspath(path.parent))
    rows = []
    for line, record in enumerate(records, start=2):
        rows.append(_parse_row(record, folder, f"{path}, line {line}"))
    if not rows:
        raise UserError(f"{path}: the training manifest has no rows")
    return rows


def _parse_row(record: dict, folder: Path, where: str) -> TrainingRow:
    values = {c: (record.get(c) or "").strip() for c in COLUMNS}
    origin = values["origin"]
    if origin not in ORIGINS:
        raise UserError(f"{where}: origin {origin!r}; expected one of {', '.join(ORIGINS)}")
    if not values["label"]:
        raise UserError(f"{where}: empty label; every row needs a class name")
    if origin == "synthetic" and not values["path"]:
        raise UserError(f"{where}: no path in a row of origin 'synthetic'; expected the image file")
    if origin != "synthetic" and not values["key"]:
        raise UserError(f"{where}: no key in a row of origin {origin!r}; expected the dataset key of a real image")
    try:
        seed = int(values["seed"]) if values["seed"] else None
    except ValueError:
        raise UserError(f"{where}: seed {values['seed']!r}; expected an integer or nothing") from None
    image = _absolute(values["path"], folder)
    if origin == "synthetic" and not image.is_file():
        raise UserError(f"{where}: synthetic image {values['path']!r} does not exist (paths are relative to the manifest)")
    return TrainingRow(image, values["key"] or None, values["label"], origin, _absolute(values["run"], folder), seed)


def count_rows(rows: list[TrainingRow]) -> dict[str, dict[str, int]]:
    """Rows per class and origin: `{class: {"real": n, "oversampled": n, "synthetic": n}}`."""
    counts = Counter((row.label, row.origin) for row in rows)
    labels = sorted({row.label for row in rows})
    return {label: {origin: counts.get((label, origin), 0) for origin in ORIGINS} for label in labels}


def _relative(path: Path | None, folder: Path) -> str:
    if path is None:
        return ""
    absolute = os.path.abspath(path)
    try:
        shared = os.path.commonpath([absolute, folder])
    except ValueError:  # another drive on Windows: no relative path exists
        return Path(absolute).as_posix()
    # Relative within one project tree, so it moves with the manifest; absolute when the two
    # share nothing but the root, where a relative path would only break sooner.
    if shared == Path(absolute).anchor:
        return Path(absolute).as_posix()
    return Path(os.path.relpath(absolute, folder)).as_posix()


def _absolute(text: str, folder: Path) -> Path | None:
    if not text:
        return None
    return Path(os.path.normpath(folder / text))
