"""`ImageRows`: some rows of a (memory-mapped) image array, without copying them.

A split of a 100k-image dataset at 128 px is over a gigabyte; `dataset.images[indices]` would copy it
into memory, and `tf.data.Dataset.from_tensor_slices` would copy it again. An `ImageRows` keeps the
cache's memory-mapped array and the row numbers instead; the classifier's input pipeline reads
batch by batch from it (`classifier.train.make_dataset`), so memory does not grow with the dataset.
"""

import numpy as np


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
            raise ValueError(f"Invalid value received for argument `base`. Expected an (N, size, size) array. Received: base.shape={base.shape}")
        if rows.size and (rows.min() < 0 or rows.max() >= len(base)):
            raise ValueError(f"Invalid value received for argument `rows`. Expected indices in [0, {len(base)}). Received: rows from {rows.min()} to {rows.max()}")
        self.base = base
        self.rows = rows

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
        return np.asarray(self.base[self.rows[index]])

    def __array__(self, dtype=None, copy=None):
        pixels = self.base[self.rows] if len(self.rows) else np.zeros(self.shape, self.base.dtype)
        return pixels if dtype is None else pixels.astype(dtype)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def take(self, positions) -> "ImageRows":
        """The view of the given positions (indices or a boolean mask into this view), without reading."""
        return ImageRows(self.base, self.rows[np.asarray(positions)])

    def __repr__(self) -> str:
        return f"ImageRows(shape={self.shape}, base={type(self.base).__name__})"


def image_rows(base: np.ndarray, rows) -> "np.ndarray | ImageRows":
    """`base[rows]`: a lazy `ImageRows` when `base` is memory-mapped, else the copy as before (small arrays in RAM)."""
    if isinstance(base, np.memmap):
        return ImageRows(base, rows)
    return base[np.asarray(rows, dtype=np.int64)]
