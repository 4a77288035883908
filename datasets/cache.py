"""Decode once: the decoded, resized pixels of image folders, kept on disk behind `load_dataset`.

Every command loads its dataset through `dataset.load_dataset`, which used to decode every file on
every call (tens of minutes for NIH ChestX-ray14 on two cores). Now it asks this cache first:

- one folder per dataset source under the cache root (`XGAN_CACHE_DIR`, default
  `$XDG_CACHE_HOME/xgan` or `~/.cache/xgan`; set `XGAN_CACHE_DIR=off` to switch the cache off);
- `files.npz`: per image file, its key, its stat signature (size, mtime in ns, inode), its original
  shape, the hash of its decoded pixels and its patient id, or why it could not be decoded;
- `pixels-<size>-<token>.npy`: the images resized to size x size, uint8, one row per record in the
  dataset's order, opened memory-mapped so no command holds a copy in RAM; `pixels-<size>.npz`
  names the current file and the key and signature of each row.

Both indexes are numpy arrays (no pickle) and name the decoders that filled them
(`images.decoder_version()`: xgan's image-pipeline version, OpenCV's, pydicom's and its plugins'):
an index of other decoders, of another format version, or damaged, is decoded again. A file that
could not be read (an OSError: permission denied, a vanished file) is skipped this time only; a file
that cannot be decoded is remembered as such until it changes or the decoders do.

A file whose signature changed, or a new file, is decoded again (in parallel threads: OpenCV and
hashlib release the GIL); every other row is copied from the previous array, so an edit invalidates
that file, not the cache.

Several processes may share a cache folder (two terminals, a sweep beside a classify, the workers of
a multi-worker run): reading an index and mapping its array happen under a shared `fcntl.flock` on
`.lock`; renaming a new array into place, writing the indexes and deleting what no index names happen
under an exclusive one; and one process at a time decodes a size (`.decode-<size>.lock`), so a second
process waits for it and then maps what it wrote instead of decoding the same files. An array is
deleted only once no index names it, and a process maps its array before it lets go of the lock, so
no reader loses a file it is about to open (POSIX keeps an unlinked file readable while mapped).
Writes are atomic (a temporary file, then a rename); the temporary files of a killed process are
removed by the next process that opens the folder (no live process holds their decode lock). Delete
the cache root, or run `xgan cache clear`, to free the space.
"""

import hashlib
import logging
import os
import shutil
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .images import decoder_version, read_image, resize_square
from ..runs import atomic_path

try:
    import fcntl
except ImportError:  # Windows: no flock; one process at a time per cache folder is then the user's to ensure
    fcntl = None

log = logging.getLogger("xgan")

CACHE_ENV = "XGAN_CACHE_DIR"
DISABLED_VALUES = ("off", "none", "0")
FILES_INDEX = "files.npz"
INDEX_LOCK = ".lock"
PROGRESS_MIN_FILES = 200  # fewer files decode in a blink: no progress bar
DECODE_CHUNK = 64  # files per task: amortises the executor's overhead, keeps the bar moving
FORMAT_VERSION = 3  # 3: the indexes name their decoders; 2: numpy indexes; 1: JSON (both decoded again, then deleted)
LEGACY_INDEXES = ("files.json", "pixels-*.json")
# A file's stat signature; the inode is unsigned (some file systems use all 64 bits).
SIGNATURE = np.dtype([("size", "<i8"), ("mtime_ns", "<i8"), ("inode", "<u8")])
_INDEX_ERRORS = (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, zipfile.BadZipFile)


@dataclass(frozen=True)
class DecodedFile:
    """What decoding one file gave: its original shape and pixel hash, its resized pixels, or an error.

    `patient_id` is the PatientID a DICOM file carries, else None. `transient` marks an error of
    reading (OSError: permission denied, a file gone meanwhile) rather than of decoding: it is not cached.
    """

    shape: tuple[int, int] | None = None
    hash: str | None = None
    pixels: np.ndarray | None = None
    error: str | None = None
    patient_id: str | None = None
    transient: bool = False


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


def stat_signature(stat: os.stat_result) -> tuple[int, int, int]:
    """(size, mtime in ns, inode) from a stat result: any write, replacement or copy over a file changes it."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def file_signatures(paths) -> np.ndarray:
    """The `SIGNATURE`s of files, one `os.stat` each."""
    return np.array([stat_signature(os.stat(path)) for path in paths], dtype=SIGNATURE)


def decode_file(path: Path, size: int | None) -> DecodedFile:
    """Decode one file: shape and hash of the full image, plus the size x size pixels when a size is given."""
    try:
        image, patient_id = read_image(path)
    except OSError as error:
        reason = error.strerror or str(error)
        return DecodedFile(error=f"could not be read ({reason})", transient=True)
    except ValueError as error:
        return DecodedFile(error=str(error))
    pixels = resize_square(image, size) if size is not None else None
    return DecodedFile(tuple(image.shape), pixel_hash(image), pixels, patient_id=patient_id)


def decode_files(paths: list[Path], size: int | None, on_result, description: str = "decoding") -> None:
    """Decode files in parallel threads, calling `on_result(position, DecodedFile)` in the calling thread.

    A progress bar is shown from PROGRESS_MIN_FILES files up.
    """
    from ..progress import progress_bar

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


def matching_rows(known_keys: np.ndarray, known_signatures: np.ndarray, keys: np.ndarray, signatures: np.ndarray) -> np.ndarray:
    """For each of `keys`, its row among `known_keys` when the signatures there match, else -1.

    The usual case, the same keys in the same order, is one array comparison; otherwise one dict lookup per key.
    """
    if len(keys) == len(known_keys) and np.array_equal(keys, known_keys):
        rows = np.arange(len(keys), dtype=np.int64)
    else:
        position = dict(zip(known_keys.tolist(), range(len(known_keys))))
        rows = np.fromiter((position.get(key, -1) for key in keys.tolist()), dtype=np.int64, count=len(keys))
    found = np.flatnonzero(rows >= 0)
    unchanged = known_signatures[rows[found]] == signatures[found]
    rows[found[~unchanged]] = -1
    return rows


@dataclass
class FileTable:
    """What the cache knows of some files, one row per file, as aligned arrays (saved as `files.npz`).

    Attributes:
        keys: (n,) str, the files' dataset keys.
        signatures: (n,) `SIGNATURE` of each file when it was decoded.
        shapes: (n, 2) int64 original (height, width); (0, 0) where the file did not decode.
        hashes: (n,) str pixel hash (`pixel_hash`); "" where the file did not decode.
        patient_ids: (n,) str, the PatientID a DICOM file carries; "" where none.
        errors: (n,) object, why the file did not decode, else None.
        transient: (n,) bool, True where the error was one of reading (never saved: tried again next time).
    """

    keys: np.ndarray
    signatures: np.ndarray
    shapes: np.ndarray
    hashes: np.ndarray
    patient_ids: np.ndarray
    errors: np.ndarray
    transient: np.ndarray

    COLUMNS = ("keys", "signatures", "shapes", "hashes", "patient_ids", "errors", "transient")

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def empty(cls) -> "FileTable":
        return cls(np.zeros(0, str), np.zeros(0, SIGNATURE), np.zeros((0, 2), np.int64), np.zeros(0, str),
                   np.zeros(0, str), np.zeros(0, object), np.zeros(0, bool))

    @classmethod
    def from_results(cls, keys: np.ndarray, signatures: np.ndarray, results: list[DecodedFile]) -> "FileTable":
        """The rows of freshly decoded files."""
        return cls(np.asarray(keys, str), np.asarray(signatures, SIGNATURE),
                   np.array([r.shape or (0, 0) for r in results], np.int64).reshape(-1, 2),
                   np.array([r.hash or "" for r in results], str), np.array([r.patient_id or "" for r in results], str),
                   np.array([r.error for r in results], object), np.array([r.transient for r in results], bool))

    @property
    def failed(self) -> np.ndarray:
        """(n,) bool: True where the file did not decode."""
        return np.not_equal(self.errors, None)

    def take(self, rows) -> "FileTable":
        rows = np.asarray(rows, np.int64)
        return FileTable(*(getattr(self, name)[rows] for name in self.COLUMNS))

    @staticmethod
    def concat(tables: list["FileTable"]) -> "FileTable":
        return FileTable(*(np.concatenate([getattr(table, name) for table in tables]) for name in FileTable.COLUMNS))

    @staticmethod
    def merge(parts: list[tuple[np.ndarray, "FileTable"]]) -> "FileTable":
        """One table from (positions, table) parts whose positions together cover 0..n-1 once each."""
        order = np.empty(sum(len(table) for _, table in parts), np.int64)
        offset = 0
        for positions, table in parts:
            order[positions] = offset + np.arange(len(table))
            offset += len(table)
        return FileTable.concat([table for _, table in parts]).take(order)

    def save(self, path: Path, source: Path) -> None:
        """Write atomically as an .npz (no pickle), without the transient rows; errors are kept for the failed rows only."""
        table = self.take(np.flatnonzero(~self.transient)) if self.transient.any() else self
        failed = np.flatnonzero(table.failed)
        arrays = {"version": np.array(FORMAT_VERSION), "decoder": np.array(decoder_version()), "source": np.array(str(source)),
                  "keys": table.keys.astype(str), "signatures": table.signatures, "shapes": table.shapes,
                  "hashes": table.hashes.astype("S"), "patient_ids": table.patient_ids.astype(str), "error_rows": failed,
                  "error_messages": np.array([str(table.errors[row]) for row in failed], str)}
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: Path) -> "FileTable | None":
        """The table saved at `path`, or None when it is missing, damaged, of another format version or other decoders."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                if int(archive["version"]) != FORMAT_VERSION or str(archive["decoder"]) != decoder_version():
                    return None
                keys = archive["keys"]
                table = cls(keys, archive["signatures"], archive["shapes"], archive["hashes"].astype(str),
                            archive["patient_ids"], np.full(len(keys), None, object), np.zeros(len(keys), bool))
                table.errors[archive["error_rows"]] = archive["error_messages"].tolist()
        except _INDEX_ERRORS:
            return None
        columns = (table.signatures, table.shapes, table.hashes, table.patient_ids)
        if table.signatures.dtype != SIGNATURE or table.shapes.shape[1:] != (2,) or any(len(c) != len(keys) for c in columns):
            return None
        return table


@dataclass
class PixelIndex:
    """The current pixel array of one size: its file name in the cache folder and the key and signature of each row."""

    file: str
    keys: np.ndarray
    signatures: np.ndarray

    def save(self, path: Path) -> None:
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, version=np.array(FORMAT_VERSION), decoder=np.array(decoder_version()), array=np.array(self.file),
                     keys=self.keys.astype(str), signatures=self.signatures)

    @classmethod
    def load(cls, folder: Path, size: int) -> "PixelIndex | None":
        """`pixels-<size>.npz`, or None when it is missing, damaged, of another format version or other decoders."""
        try:
            with np.load(folder / f"pixels-{size}.npz", allow_pickle=False) as archive:
                if int(archive["version"]) == FORMAT_VERSION and str(archive["decoder"]) == decoder_version():
                    index = cls(str(archive["array"]), archive["keys"], archive["signatures"])
                    if index.signatures.dtype == SIGNATURE and len(index.signatures) == len(index.keys):
                        return index
        except _INDEX_ERRORS:
            pass
        return None


@contextmanager
def folder_lock(path: Path, exclusive: bool, waiting: str | None = None):
    """Hold `fcntl.flock` on the lock file `path` (made if missing) for the `with` block; released on exit or death.

    Args:
        waiting: logged once when another process holds the lock and this one has to wait for it.
    """
    if fcntl is None or (not exclusive and not path.parent.is_dir()):
        yield  # nothing to read yet
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        if exclusive:
            raise
        yield  # a cache on a read-only file system: read, nobody writes there
        return
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                log.info("%s", waiting)
            fcntl.flock(handle, mode)
        yield
    finally:
        os.close(handle)  # closing the last descriptor releases the lock


def _lock_is_free(path: Path) -> bool:
    """True when no process holds the lock file `path` (taken and dropped at once: non-blocking)."""
    if fcntl is None or not path.exists():
        return fcntl is not None
    handle = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(handle)


def _decode_lock_name(size: int | None) -> str:
    return f".decode-{'files' if size is None else size}.lock"


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
        self._held_decode: int | None | bool = False  # the size whose decode lock this process holds, False for none

    def load(self, records: list, size: int | None, signatures: np.ndarray | None = None):
        """See `load_cached_files`: one pass decodes every file the cache lacks, for its metadata and its pixels at once.

        A cached load takes a shared lock only. When files must be decoded, the size's decode lock is
        taken, the indexes are read again (another process may have just filled them), and only what is
        still missing is decoded.
        """
        keys = np.array([record.key for record in records], str)
        if signatures is None:
            signatures = file_signatures([record.path for record in records])
        self._remove_debris()
        answer = self._load(records, keys, signatures, size, decode=False)
        if answer is not None:
            return answer
        waiting = f"{self.source}: waiting for another xgan process that is decoding it into the cache"
        with folder_lock(self.folder / _decode_lock_name(size), exclusive=True, waiting=waiting):
            self._held_decode = size
            try:
                return self._load(records, keys, signatures, size, decode=True)
            finally:
                self._held_decode = False

    def _load(self, records: list, keys: np.ndarray, signatures: np.ndarray, size: int | None, decode: bool):
        """The answer from the cache, decoding what it lacks when `decode`; None when it lacks something and not `decode`."""
        with folder_lock(self.folder / INDEX_LOCK, exclusive=False):
            known = FileTable.load(self.folder / FILES_INDEX) or FileTable.empty()
            index, old_pixels = self._mapped_pixels(size) if size is not None else (None, None)
        rows = matching_rows(known.keys, known.signatures, keys, signatures)
        if size is None:
            stale = np.flatnonzero(rows < 0)
            if len(stale) and not decode:
                return None
            if len(stale):
                log.info("%s: decoding %d of %d file(s) not in the cache", self.source, len(stale), len(records))
            results = [None] * len(stale)
            decode_files([records[p].path for p in stale], None, results.__setitem__, "reading images")
            files = self._files_now(known, rows, keys, signatures, stale, results)
            if len(stale):
                with self._committing():
                    self._write_files_index(files)
            return _split(records, files, None)
        # Files known not to decode get no row; every other file gets one, decoded only if not cached as it is.
        known_failed = np.zeros(len(records), bool)
        known_failed[rows >= 0] = known.failed[rows[rows >= 0]]
        positions = np.flatnonzero(~known_failed)  # the records that get a pixel row
        row_keys, row_signatures = keys[positions], signatures[positions]
        old_rows = np.full(len(positions), -1, np.int64)
        if index is not None:
            old_rows = matching_rows(index.keys, index.signatures, row_keys, row_signatures)
            old_rows[rows[positions] < 0] = -1  # not in the files index as it is now: decoded again
            if len(old_pixels) == len(positions) and np.array_equal(old_rows, np.arange(len(positions))):
                return _split(records, known.take(rows), old_pixels)
        if not len(positions):
            return _split(records, known.take(rows), np.zeros((0, size, size), np.uint8))
        if not decode:
            return None
        stale = np.flatnonzero(old_rows < 0)
        results = [None] * len(stale)
        if len(stale):
            log.info("%s: decoding %d of %d image(s) at %d px not in the cache", self.source, len(stale), len(positions), size)

        def fill(out):
            fresh = np.flatnonzero(old_rows >= 0)
            _copy_rows(out, old_pixels, np.stack([fresh, old_rows[fresh]], axis=1))

            def store(position, result):
                if result.error is None:
                    out[stale[position]] = result.pixels
                results[position] = replace(result, pixels=None)  # the array holds them: 16 KB a file at 128 px

            decode_files([records[positions[p]].path for p in stale], size, store, f"decoding at {size} px")

        name, temporary = self._new_array(len(positions), size, fill)
        files = self._files_now(known, rows, keys, signatures, positions[stale], results)
        failed_now = files.failed[positions]
        try:
            if failed_now.any():  # a new file that does not decode: its row goes
                keep = np.flatnonzero(~failed_now)
                first = np.load(temporary, mmap_mode="r")
                name_kept, temporary_kept = self._new_array(
                    len(keep), size, lambda out: _copy_rows(out, first, np.stack([np.arange(len(keep)), keep], axis=1)))
                del first
                temporary.unlink()
                name, temporary = name_kept, temporary_kept
                row_keys, row_signatures = row_keys[keep], row_signatures[keep]
            with self._committing():
                os.replace(temporary, self.folder / name)
                if len(stale):
                    self._write_files_index(files)
                PixelIndex(name, row_keys, row_signatures).save(self.folder / f"pixels-{size}.npz")
                pixels = np.load(self.folder / name, mmap_mode="r")  # mapped before any other process may delete it
        finally:
            temporary.unlink(missing_ok=True)
        return _split(records, files, pixels)

    def _mapped_pixels(self, size: int) -> tuple["PixelIndex | None", np.ndarray | None]:
        """The size's index and its array memory-mapped, or (None, None) when either is missing or they disagree."""
        index = PixelIndex.load(self.folder, size)
        if index is None:
            return None, None
        try:
            pixels = np.load(self.folder / index.file, mmap_mode="r")
        except (OSError, ValueError):
            return None, None
        if pixels.shape[1:] != (size, size) or len(pixels) != len(index.keys) or pixels.dtype != np.uint8:
            return None, None
        return index, pixels

    @staticmethod
    def _files_now(known: FileTable, rows: np.ndarray, keys: np.ndarray, signatures: np.ndarray, decoded: np.ndarray,
                   results: list[DecodedFile]) -> FileTable:
        """The files table of this load's records: `known`'s rows (`rows`), but the `decoded` positions' new `results`."""
        if not len(decoded):
            return known.take(rows)
        fresh = np.setdiff1d(np.arange(len(keys)), decoded, assume_unique=True)
        return FileTable.merge([(fresh, known.take(rows[fresh])),
                                (decoded, FileTable.from_results(keys[decoded], signatures[decoded], results))])

    def _write_files_index(self, files: FileTable) -> None:
        """Save `files` with the rows of other keys the index holds now (another process may have added some): under the lock."""
        current = FileTable.load(self.folder / FILES_INDEX) or FileTable.empty()
        others = current.take(np.flatnonzero(np.isin(current.keys, files.keys, invert=True)))
        FileTable.concat([others, files]).save(self.folder / FILES_INDEX, self.source)

    def _new_array(self, length: int, size: int, fill) -> tuple[str, Path]:
        """(Name, temporary path) of a new pixel array filled by `fill(array)`; renamed into place by the caller."""
        name = f"pixels-{size}-{uuid.uuid4().hex[:12]}.npy"
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            out = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=(length, size, size))
            fill(out)
            out.flush()
            del out
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return name, temporary

    @contextmanager
    def _committing(self):
        """The exclusive lock for writing indexes; on leaving, what no index names any more is deleted."""
        with folder_lock(self.folder / INDEX_LOCK, exclusive=True):
            yield
            self._clean()

    def _remove_debris(self) -> None:
        """Delete the temporary files of killed processes and unnamed arrays, when the folder holds any (one scandir)."""
        try:
            names = [entry.name for entry in os.scandir(self.folder)]
        except OSError:
            return
        arrays = [name for name in names if name.startswith("pixels-") and name.endswith(".npy")]
        sizes = {name.split("-")[1] for name in arrays}
        legacy = any(name == "files.json" or (name.startswith("pixels-") and name.endswith(".json")) for name in names)
        if legacy or len(arrays) > len(sizes) or any(name.endswith(".tmp") for name in names):
            with self._committing():
                pass

    def _clean(self) -> None:
        """Under the exclusive lock: delete every array no index names, and every temporary file no live process writes.

        A pixel array's temporary file is written under its size's decode lock, so it is debris when that
        lock is free; an index's temporary file is written under the exclusive lock, which this process holds.
        """
        named = set()
        for index_path in self.folder.glob("pixels-*.npz"):
            index = PixelIndex.load(self.folder, _size_of(index_path.name))
            if index is not None:
                named.add(index.file)
        for path in self.folder.glob("pixels-*-*.npy"):
            if path.name not in named:
                path.unlink(missing_ok=True)  # a process that has it mapped keeps reading it (POSIX)
        for path in self.folder.glob(".*.tmp"):
            if path.name.startswith(".pixels-") and path.name.count(".npy.") == 1:
                size = _size_of(path.name[1:])
                if size != self._held_decode and not _lock_is_free(self.folder / _decode_lock_name(size)):
                    continue  # a live process is writing it
            path.unlink(missing_ok=True)
        for pattern in LEGACY_INDEXES:
            for path in self.folder.glob(pattern):
                path.unlink(missing_ok=True)


def _size_of(name: str) -> int | None:
    """The size in a `pixels-<size>...` file name, or None."""
    part = name.split("-")[1].split(".")[0] if name.count("-") else ""
    return int(part) if part.isdigit() else None


def _copy_rows(out: np.ndarray, source: np.ndarray, pairs: np.ndarray) -> None:
    """out[to] = source[from] for (to, from) rows of `pairs`, in blocks, so the copy never holds the whole array."""
    for start in range(0, len(pairs), 4096):
        block = pairs[start:start + 4096]
        out[block[:, 0]] = source[block[:, 1]]


def _split(records: list, files: FileTable, pixels: np.ndarray | None):
    """`load_cached_files`' answer from the files table of `records` (one row each, in their order)."""
    failed = files.failed
    good = np.flatnonzero(~failed)
    kept = [records[position] for position in good.tolist()] if failed.any() else list(records)
    for index in np.flatnonzero(files.patient_ids[good] != "").tolist():
        if kept[index].patient_id is None:  # the file's own patient id (a DICOM's PatientID) where the source gave none
            kept[index] = replace(kept[index], patient_id=str(files.patient_ids[good[index]]))
    errors = [(records[position].key, files.errors[position]) for position in np.flatnonzero(failed).tolist()]
    return kept, list(map(tuple, files.shapes[good].tolist())), files.hashes[good].tolist(), pixels, errors


def _with_patient(record, patient_id: str | None):
    """The record with the file's own patient id (a DICOM's PatientID) where its source gave none."""
    if record.patient_id is None and patient_id is not None:
        return replace(record, patient_id=patient_id)
    return record


def load_cached_files(source: Path, records: list, size: int | None, signatures: np.ndarray | None = None):
    """Decode (or take from the cache) the image files of a dataset.

    Args:
        source: the dataset source (names the cache folder).
        records: `dataset.Record`s whose files are images (by suffix, or DICOM by preamble).
        size: resize to size x size and return the pixels, or None for metadata only.
        signatures: the files' `SIGNATURE`s when the caller has stat'ed them already (a folder scan), else
            None: one `os.stat` per file here.

    Returns:
        (records that decoded, their original shapes, their pixel hashes, their pixels or None,
        [(key, reason)] of the files that did not decode).
    """
    root = cache_root()
    if root is None:
        return _decode_uncached(records, size)
    return ImageCache(root, source).load(records, size, signatures)


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
        indexes = list(folder.glob("pixels-*.npz"))
        sizes = sorted({int(p.stem.split("-")[1]) for p in indexes if p.stem.split("-")[1].isdigit()})
        summary["datasets"].append({"source": _indexed_source(folder), "folder": folder.name, "sizes": sizes, "bytes": num_bytes})
        summary["bytes"] += num_bytes
    return summary


def _indexed_source(folder: Path) -> str | None:
    """The dataset source a cache folder's files index names, or None."""
    try:
        with np.load(folder / FILES_INDEX, allow_pickle=False) as archive:
            return str(archive["source"])
    except _INDEX_ERRORS:
        return None


def clear_cache(root: Path | None = None) -> tuple[int, int]:
    """Delete every dataset folder under the cache root; returns (folders deleted, bytes freed)."""
    summary = cache_summary(root)
    if summary["folder"] is None:
        return 0, 0
    for entry in summary["datasets"]:
        shutil.rmtree(Path(summary["folder"]) / entry["folder"], ignore_errors=True)
    return len(summary["datasets"]), summary["bytes"]
