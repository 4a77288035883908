"""Pixel features: images shrunk to a few pixels a side, the cheapest feature space (no training, no download)."""

import numpy as np

from ..datasets.images import resize_batch
from ..errors import invalid_argument

DEFAULT_PIXEL_SIZE = 16


def check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise invalid_argument("images", "a (N, S, S) uint8 array", received=f"images with shape {images.shape} and dtype {images.dtype}",
                               error=ValueError)
    return images


class PixelFeatures:
    """Images shrunk to `size` x `size` (area averaging) and scaled to [0, 1]: `size`² features.

    Args:
        size: side of the shrunk image; 16 keeps the lung fields and heart shadow, drops texture.
    """

    def __init__(self, size: int = DEFAULT_PIXEL_SIZE):
        if not isinstance(size, int) or size < 2:
            raise invalid_argument("size", "an integer >= 2", size, error=ValueError)
        self.size = size
        self.name = f"pixels{size}"
        self.description = (f"pixels shrunk to {size}x{size} (area average), scaled to [0, 1]: no training, "
                            "no download; sees brightness and coarse layout, not texture")

    def __call__(self, images) -> np.ndarray:
        images = check_images(images)
        return resize_batch(images, self.size).reshape(len(images), -1).astype(np.float32) / 255.0
