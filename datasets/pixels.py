"""Pixel conversions that every decoder shares (OpenCV's and DICOM's): the lowest layer of image loading."""

import cv2
import numpy as np


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a decoded image of any depth and channel count to one 8-bit gray channel.

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA; uint8, uint16 or float.

    Returns:
        (H, W) uint8. 16-bit images are scaled by their maximum, as radiographs rarely use the
        full 16-bit range; float images are min-max scaled.

    Raises:
        ValueError: for shapes that are not a 2-D image.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"expected a 2-D image with 1, 3 or 4 channels, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    image = image.astype(np.float64)
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise ValueError("image holds NaN or infinite values")
    low = 0.0 if image.min() >= 0 else image.min()
    span = image.max() - low
    if span <= 0:
        return np.zeros(image.shape, np.uint8)
    return np.round((image - low) / span * 255).astype(np.uint8)
