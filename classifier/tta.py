"""Test-time augmentation: the model's probability averaged over a fixed set of gently changed copies of each image.

The copies use the classic-augmentation factors of `model.py` (the same families the classic arm
trains with), as deterministic views rather than random draws, so a prediction never depends on a
seed: the image itself, shifted by 5 % of its side left, right, up and down, zoomed in and out by
10 %, and its contrast lowered and raised by 10 %. No flips (see `model.py`), no rotation (a
rotated square leaves black corners the model rarely saw in training). Pure numpy/OpenCV.
"""

import cv2
import numpy as np

from ..errors import invalid_argument
from .model import CONTRAST_FACTOR, TRANSLATION_FACTOR, ZOOM_FACTOR

TTA_VIEWS = ("identity", "shift_left", "shift_right", "shift_up", "shift_down", "zoom_in", "zoom_out", "contrast_low", "contrast_high")


def _affine(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    size = images.shape[1]
    return np.stack([cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                     for image in images])


def view(images: np.ndarray, name: str) -> np.ndarray:
    """One TTA view of (N, S, S) gray images, as float32 pixels in 0-255.

    Raises:
        ValueError: an unknown view name.
    """
    images = np.asarray(images, np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    size = images.shape[1]
    shift = max(1, round(TRANSLATION_FACTOR * size))
    if name == "identity":
        return images
    if name.startswith("shift_"):
        dx, dy = {"shift_left": (-shift, 0), "shift_right": (shift, 0), "shift_up": (0, -shift), "shift_down": (0, shift)}[name]
        return _affine(images, np.float32([[1, 0, dx], [0, 1, dy]]))
    if name in ("zoom_in", "zoom_out"):
        scale = 1 + ZOOM_FACTOR if name == "zoom_in" else 1 - ZOOM_FACTOR
        return _affine(images, cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), 0, scale).astype(np.float32))
    if name in ("contrast_low", "contrast_high"):
        # As keras.layers.RandomContrast: (pixel - image mean) * factor + image mean, clipped to the pixel range.
        factor = 1 - CONTRAST_FACTOR if name == "contrast_low" else 1 + CONTRAST_FACTOR
        mean = images.mean(axis=(1, 2), keepdims=True)
        return np.clip((images - mean) * factor + mean, 0, 255)
    raise invalid_argument("name", f"one of {', '.join(TTA_VIEWS)}", name, error=ValueError)


def predict_with_tta(predict, images: np.ndarray, identity: np.ndarray | None = None) -> np.ndarray:
    """The mean of `predict(view)` over every TTA view.

    Args:
        predict: maps (N, S, S) float32 pixels to (N,) positive-class probabilities.
        images: (N, S, S) gray images.
        identity: `predict` of the images as they are, when already known (not computed again).
    """
    return np.mean([identity if name == "identity" and identity is not None else predict(view(images, name)) for name in TTA_VIEWS], axis=0)
