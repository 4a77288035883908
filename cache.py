"""Decode once: the decoded, resized pixels of image folders, kept on disk behind `load_dataset`.

Every command loads its dataset through `dataset.load_dataset`, which used to decode every file on
every call (tens of minutes for NIH ChestX-ray14 on two cores). Now it asks this cache first:

- one folder per dataset source under the cache root (`XGAN_CACHE_DIR`, default
  `$XDG_CACHE_HOME/xgan` or `~/.cache/xgan`; set `XGAN_CACHE_DIR=off` to switch the cache off);
- `files.json`: per image file, its stat signature (size, mtime in ns, inode), its original shape and
  the hash of its decoded pixels, or why it could not be decoded;
- `pixels-<size>-<token>.npy`: the images resized to size x size, uint8, one row per record in the
  dataset's order, opened memory-mapped so no command holds a copy in RAM; `pixels-<size>.json`
  names the current file and the key and signature of each row.

A file whose signature changed, or a new file, is decoded again (in parallel threads: OpenCV and
hashlib release the GIL); every other row is copied from the previous array, so an edit invalidates
that file, not the cache. Writes are atomic (a new array, then its index in one rename), so a
command killed half-way or two commands filling the cache at once leave a usable cache. Delete
the cache root, or run `xgan cache clear`, to free the space.
"""

import hashlib
import json
import logging
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .images import read_image, resize_square
from .runs import atomic_path, write_text

log = logging.getLogger("xgan")

CACHE_ENV = "XGAN_CACHE_DIR"
DISABLED_VALUES = ("off", "none", "0")
FILES_INDEX = "files.json"
PROGRESS_MIN_FILES = 200  # fewer files decode in a blink: no progress bar
DECODE_CHUNK = 64  # files per task: amortises the executor's overhead, keeps the bar moving
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DecodedFile:
    """What decoding one file gave: its original shape and pixel hash, its resized pixels, or an error.

    `patient_id` is the PatientID a DICOM file carries, else None.
    """

    shape: tuple[int, int] | None = None
    hash: str | None = None
    pixels: np.ndarray | None = None
    error: str | None = None
    patient_id: str | None = None


def cache_root() -> Path | None:
    """The cache folder from `XGAN_CACHE_DIR` (or the per-user default), or None when switched off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None and value.strip().lower() in DISABLED_VALUES + ("",):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "xgan"


def pixel_hash(image: np.ndarray) -> str:
    """A hash of decoded pixels and their shape: equal for exact duplicates, whatever the file format."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=12)
    digest.update(str(image.shape).encode())
    return digest.hexdigest()


def file_signature(path: Path) -> list[int]:
    """(size, mtime in ns, inode) of a file: any write, replacement or copy over it changes it."""
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def decode_file(path: Path, size: int | None) -> DecodedFile:
    """Decode one file: shape and hash of the full image, plus the size x size pixels when a size is given."""
    try:
        image, patient_id = read_image(path)
    except (OSError, ValueError) as error:
        return DecodedFile(error=str(error))
    pixels = resize_square(image, size) if size is not None else None
    return DecodedFile(tuple(image.shape), pixel_hash(image), pixels, patient_id=patient_id)


def decode_files(paths: list[Path], size: int | None, on_result, description: str = "decoding") -> None:
    """Decode files in parallel threads, calling `on_result(position, DecodedFile)` in the calling thread.

    A progress bar is shown from PROGRESS_MIN_FILES files up.
    """
    from .progress import progress_bar

    if not paths:
        return
    chunks = [range(start, min(start + DECODE_CHUNK, len(paths))) for start in range(0, len(paths), DECODE_CHUNK)]
    bar = progress_bar(len(paths), description, "img") if len(paths) >= PROGRESS_MIN_FILES else None
    workers = min(len(chunks), os.cpu_count() or 1)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xgan-decode") as executor:
            for chunk, results in zip(chunks, executor.map(lambda c: [decode_file(paths[i], size) for i in c], chunks)):
                for position, result in zip(chunk, results):
                    on_result(position, result)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()


class ImageCache:
    """The cache folder of one dataset source (a class-per-folder directory or a manifest).

    Args:
        root: the cache root (see `cache_root`).
        source: the dataset source, as given to `load_dataset`.
    """

    def __init__(self, root: Path, source: Path):
        resolved = Path(source).resolve()
        digest = hashlib.blake2b(str(resolved).encode(), digest_size=8).hexdigest()
        self.source = resolved
        self.folder = Path(root) / f"{resolved.name or 'root'}-{digest}"

    def load(self, records: list, size: int | None) -> tuple[list, list, list, np.ndarray | None, list]:
        """See `load_cached_files`: one pass decodes every file the cache lacks, for its metadata and its pixels at once."""
        paths = {record.key: record.path for record in records}
        signatures = {key: file_signature(path) for key, path in paths.items()}
        known = self._read_json(self.folder / FILES_INDEX, "entries") or {}
        entries = {key: known[key] for key in paths if key in known and known[key]["signature"] == signatures[key]}
        if size is None:
            stale = [key for key in paths if key not in entries]
            if stale:
                log.info("%s: decoding %d of %d file(s) not in the cache", self.source, len(stale), len(paths))
                decode_files([paths[key] for key in stale], None,
                             lambda position, result: entries.__setitem__(stale[position], _entry(signatures[stale[position]], result)),
                             "reading images")
                self._write_files_index(entries)
            return _split(records, entries, None)
        # Files known not to decode get no row; every other file gets one, decoded only if not cached as it is.
        keys = [r.key for r in records if "error" not in entries.get(r.key, {})]
        pixels, decoded = self._pixels(keys, paths, signatures, size, entries)
        if decoded:
            self._write_files_index(entries)
        failed_now = {key for key in keys if "error" in entries[key]}
        if failed_now:  # a new file that does not decode: its row goes
            keep = [position for position, key in enumerate(keys) if key not in failed_now]
            keys = [keys[position] for position in keep]
            pixels = self._write_pixels(keys, signatures, size, lambda out: _copy_rows(out, pixels, list(enumerate(keep))))
        return _split(records, entries, pixels)

    def _write_files_index(self, entries: dict[str, dict]) -> None:
        known = self._read_json(self.folder / FILES_INDEX, "entries") or {}
        known.update(entries)  # keep keys of other views of the same folder (a manifest listing fewer files)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(self.folder / FILES_INDEX, json.dumps({"version": FORMAT_VERSION, "source": str(self.source), "entries": known}))

    def _pixels(self, keys: list[str], paths: dict[str, Path], signatures: dict[str, list[int]], size: int,
                entries: dict[str, dict]) -> tuple[np.ndarray, int]:
        """(The (len(keys), size, size) uint8 pixels memory-mapped read-only, how many files were decoded).

        Rows whose file is unchanged are copied from the previous array; the other files are decoded
        (their `entries` updated). When nothing changed, the previous array is returned as it is.
        """
        if not keys:
            return np.zeros((0, size, size), np.uint8), 0
        index = self._read_json(self.folder / f"pixels-{size}.json", "keys")
        old_rows, old_pixels = {}, None
        if index is not None:
            try:
                old_pixels = np.load(self.folder / index["file"], mmap_mode="r")
            except (OSError, ValueError):
                index = None
        if index is not None and old_pixels.shape[1:] == (size, size) and len(old_pixels) == len(index["keys"]):
            old_rows = {key: row for row, (key, signature) in enumerate(zip(index["keys"], index["signatures"]))
                        if key in signatures and signature == signatures[key] and key in entries}
            if index["keys"] == keys and len(old_rows) == len(keys):
                return old_pixels, 0
        stale = [position for position, key in enumerate(keys) if key not in old_rows]
        if stale:
            log.info("%s: decoding %d of %d image(s) at %d px not in the cache", self.source, len(stale), len(keys), size)

        def fill(out):
            _copy_rows(out, old_pixels, [(position, old_rows[key]) for position, key in enumerate(keys) if key in old_rows])

            def store(position, result):
                key = keys[stale[position]]
                entries[key] = _entry(signatures[key], result)
                if result.error is None:
                    out[stale[position]] = result.pixels

            decode_files([paths[keys[p]] for p in stale], size, store, f"decoding at {size} px")

        return self._write_pixels(keys, signatures, size, fill), len(stale)

    def _write_pixels(self, keys: list[str], signatures: dict[str, list[int]], size: int, fill) -> np.ndarray:
        """A new pixel array filled by `fill(array)`, then its index in one rename; older arrays are deleted."""
        name = f"pixels-{size}-{uuid.uuid4().hex[:12]}.npy"
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / name) as temporary:
            out = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(len(keys), size, size))
            fill(out)
            out.flush()
            del out
        write_text(self.folder / f"pixels-{size}.json", json.dumps(
            {"version": FORMAT_VERSION, "file": name, "keys": keys, "signatures": [signatures[key] for key in keys]}))
        for other in self.folder.glob(f"pixels-{size}-*.npy"):
            if other.name != name:
                other.unlink(missing_ok=True)  # a process that has it mapped keeps reading it (POSIX)
        return np.load(self.folder / name, mmap_mode="r")

    @staticmethod
    def _read_json(path: Path, required: str) -> dict | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or required not in data:
            return None
        return data if required != "entries" else data["entries"]


def _copy_rows(out: np.ndarray, source: np.ndarray, pairs: list[tuple[int, int]]) -> None:
    """out[to] = source[from] for (to, from) pairs, in blocks, so the copy never holds the whole array."""
    for start in range(0, len(pairs), 4096):
        block = np.array(pairs[start:start + 4096], dtype=np.int64).reshape(-1, 2)
        out[block[:, 0]] = source[block[:, 1]]


def _split(records: list, entries: dict[str, dict], pixels: np.ndarray | None):
    kept = [_with_patient(record, entries[record.key].get("patient_id")) for record in records if "error" not in entries[record.key]]
    failed = [(record.key, entries[record.key]["error"]) for record in records if "error" in entries[record.key]]
    return kept, [tuple(entries[r.key]["shape"]) for r in kept], [entries[r.key]["hash"] for r in kept], pixels, failed


def _entry(signature: list[int], result: DecodedFile) -> dict:
    if result.error is not None:
        return {"signature": signature, "error": result.error}
    entry = {"signature": signature, "shape": list(result.shape), "hash": result.hash}
    if result.patient_id is not None:
        entry["patient_id"] = result.patient_id
    return entry


def _with_patient(record, patient_id: str | None):
    """The record with the file's own patient id (a DICOM's PatientID) where its source gave none."""
    if record.patient_id is None and patient_id is not None:
        return replace(record, patient_id=patient_id)
    return record


def load_cached_files(source: Path, records: list, size: int | None) -> tuple[list, list, list, np.ndarray | None, list]:
    """Decode (or take from the cache) the image files of a dataset.

    Args:
        source: the dataset source (names the cache folder).
        records: `dataset.Record`s whose files are images (by suffix, or DICOM by preamble).
        size: resize to size x size and return the pixels, or None for metadata only.

    Returns:
        (records that decoded, their original shapes, their pixel hashes, their pixels or None,
        [(key, reason)] of the files that did not decode).
    """
    root = cache_root()
    if root is None:
        return _decode_uncached(records, size)
    return ImageCache(root, source).load(records, size)


def _decode_uncached(records: list, size: int | None):
    results: list[DecodedFile | None] = [None] * len(records)

    def keep(position, result):
        results[position] = result

    decode_files([r.path for r in records], size, keep, "reading images")
    kept = [_with_patient(r, result.patient_id) for r, result in zip(records, results) if result.error is None]
    good = [result for result in results if result.error is None]
    failed = [(r.key, result.error) for r, result in zip(records, results) if result.error is not None]
    pixels = None
    if size is not None:
        pixels = np.stack([result.pixels for result in good]) if good else np.zeros((0, size, size), np.uint8)
    return kept, [result.shape for result in good], [result.hash for result in good], pixels, failed


def cache_summary(root: Path | None = None) -> dict:
    """What the cache holds: its folder, and per dataset source its path, sizes cached and bytes on disk."""
    root = cache_root() if root is None else Path(root)
    summary = {"folder": str(root) if root else None, "datasets": [], "bytes": 0}
    if root is None or not root.is_dir():
        return summary
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [p for p in folder.rglob("*") if p.is_file()]
        num_bytes = sum(p.stat().st_size for p in files)
        source = ImageCache._read_json(folder / FILES_INDEX, "source")
        sizes = sorted(int(p.stem.split("-")[1]) for p in folder.glob("pixels-*.json") if p.stem.split("-")[1].isdigit())
        summary["datasets"].append({"source": source["source"] if source else None, "folder": folder.name,
                                    "sizes": sizes, "bytes": num_bytes})
        summary["bytes"] += num_bytes
    return summary


def clear_cache(root: Path | None = None) -> tuple[int, int]:
    """Delete every dataset folder under the cache root; returns (folders deleted, bytes freed)."""
    summary = cache_summary(root)
    if summary["folder"] is None:
        return 0, 0
    for entry in summary["datasets"]:
        shutil.rmtree(Path(summary["folder"]) / entry["folder"], ignore_errors=True)
    return len(summary["datasets"]), summary["bytes"]
