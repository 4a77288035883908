"""`ImageRows`: some rows of a (memory-mapped) image array, without copying them.

A split of a 100k-image dataset at 128 px is over a gigabyte; `dataset.images[indices]` would copy it
into memory, and `tf.data.Dataset.from_tensor_slices` would copy it again. An `ImageRows` keeps the
cache's memory-mapped array and the row numbers instead; the classifier's input pipeline reads
batch by batch from it (`classifier.train.make_dataset`), so memory does not grow with the dataset.

Rows of a memory-mapped `.npy` are read with `os.pread` from its file rather than through the
mapping: the pages land in the kernel's page cache (shared, dropped under memory pressure) instead
of being mapped into the process, whose resident memory would otherwise grow by every row an epoch
touches, up to the whole array.
"""

import mmap
import os
import threading

import numpy as np

from ..errors import invalid_argument


class ImageRows:
    """A read-only (len(rows), size, size) uint8 view of `base[rows]` that reads rows only when indexed.

    Indexing returns plain arrays (`view[3]`, `view[:32]`, `view[[5, 1]]`, a boolean mask);
    `np.asarray(view)` reads every row; `take(positions)` gives a smaller view, still without reading.

    Args:
        base: (N, size, size) array, typically a `np.memmap` of the image cache.
        rows: indices into `base`.
    """

    def __init__(self, base: np.ndarray, rows):
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if base.ndim != 3:
            raise invalid_argument("base", "an (N, size, size) array", received=f"base.shape={base.shape}", error=ValueError)
        if rows.size and (rows.min() < 0 or rows.max() >= len(base)):
            raise invalid_argument("rows", f"indices in [0, {len(base)})", received=f"rows from {rows.min()} to {rows.max()}", error=ValueError)
        self.base = base
        self.rows = rows
        self._file = _mapped_file(base)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.rows), *self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index) -> np.ndarray:
        rows = self.rows[index]
        if np.ndim(rows) == 0:
            return self._read(np.array([rows]))[0]
        return self._read(rows)

    def __array__(self, dtype=None, copy=None):
        pixels = self._read(self.rows)
        return pixels if dtype is None else pixels.astype(dtype)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        if self._file is None:
            return np.asarray(self.base[rows]) if len(rows) else np.zeros((0, *self.base.shape[1:]), self.base.dtype)
        path, offset, row_bytes = self._file
        out = np.empty((len(rows), *self.base.shape[1:]), self.base.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        descriptor = _descriptor(path)
        for position, row in enumerate(rows.tolist()):
            flat[position] = np.frombuffer(os.pread(descriptor, row_bytes, offset + row * row_bytes), np.uint8)
        return out

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def take(self, positions) -> "ImageRows":
        """The view of the given positions (indices or a boolean mask into this view), without reading."""
        return ImageRows(self.base, self.rows[np.asarray(positions)])

    def __repr__(self) -> str:
        return f"ImageRows(shape={self.shape}, base={type(self.base).__name__})"


def _mapped_file(base: np.ndarray):
    """(file, data offset, bytes per row) of a C-ordered memory-mapped array, or None."""
    if not isinstance(base, np.memmap) or not getattr(base, "filename", None) or not base.flags.c_contiguous:
        return None
    if not isinstance(base.base, mmap.mmap) or base.dtype.itemsize != 1:
        return None  # a slice of a mapping starts elsewhere in the file than its `offset` says
    return str(base.filename), int(base.offset), int(np.prod(base.shape[1:]))


_descriptors: dict[str, int] = {}
_descriptors_lock = threading.Lock()


def _descriptor(path: str) -> int:
    """One read-only descriptor per file, shared by every view and thread (pread does not move it)."""
    with _descriptors_lock:
        if path not in _descriptors:
            _descriptors[path] = os.open(path, os.O_RDONLY)
        return _descriptors[path]


def image_rows(base: np.ndarray, rows) -> "np.ndarray | ImageRows":
    """`base[rows]`: a lazy `ImageRows` when `base` is memory-mapped, else the copy as before (small arrays in RAM)."""
    if isinstance(base, np.memmap):
        return ImageRows(base, rows)
    return base[np.asarray(rows, dtype=np.int64)]
