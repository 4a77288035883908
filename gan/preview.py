"""Image grids: the pure `make_image_grid`, and writing grids of real and generated images."""

import math
from pathlib import Path

import numpy as np

from ..datasets.images import write_png
from ..errors import invalid_argument


def make_image_grid(images: np.ndarray, columns: int, padding: int = 2, fill: int = 0) -> np.ndarray:
    """Tile images row by row into one picture.

    Args:
        images: (N, H, W) or (N, H, W, 1) uint8.
        columns: images per row; rows follow from N. Empty cells of the last row get `fill`.
        padding: pixels of `fill` between neighbouring images (none around the border).
        fill: gray value of the padding and of empty cells.

    Returns:
        (rows * H + (rows - 1) * padding, columns * W + (columns - 1) * padding) uint8.

    Raises:
        ValueError: an empty batch, a bad shape or dtype, or `columns` < 1.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise invalid_argument("images", "a non-empty (N, H, W) uint8 array", received=f"shape={images.shape}, dtype={images.dtype}",
                               error=ValueError)
    if not isinstance(columns, (int, np.integer)) or columns < 1:
        raise invalid_argument("columns", "a positive integer", columns, error=ValueError)
    if padding < 0:
        raise invalid_argument("padding", "a non-negative integer", padding, error=ValueError)
    count, height, width = images.shape
    columns = min(int(columns), count)
    rows = math.ceil(count / columns)
    grid = np.full((rows * height + (rows - 1) * padding, columns * width + (columns - 1) * padding), fill, np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = row * (height + padding), column * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def grid_columns(count: int) -> int:
    """Columns of a near-square grid for `count` images."""
    return max(1, math.ceil(math.sqrt(count)))


def save_image_grid(path: Path, images: np.ndarray, columns: int | None = None) -> Path:
    """Write images as one grid PNG (atomically); `columns` defaults to a near-square grid."""
    images = np.asarray(images)
    write_png(Path(path), make_image_grid(images, columns or grid_columns(len(images))))
    return Path(path)
