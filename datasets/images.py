"""Reading, converting and writing gray images; the only place that decodes or encodes pixels.

DICOM files are decoded by `dicom.py` (pydicom); everything else by OpenCV, with OpenCV's own log
lines ("[ WARN:0@0.1] global grfmt_png.cpp ... incomplete") held back while it decodes: a file that
does not decode raises ValueError, and xgan's caller writes the one warning line about it.
"""

import functools
import importlib.metadata
import threading
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from .dicom import is_dicom_file, read_dicom
from .pixels import to_gray_uint8
from ..runs import atomic_path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
# Raise whenever a change to decoding, gray conversion, DICOM display or resizing gives other pixels for the
# same file: the decode cache keys its entries on `decoder_version()`, so every file is decoded again.
PIPELINE_VERSION = 1
# The packages that decode pixels besides OpenCV: pydicom and the plugins it finds for compressed transfer syntaxes.
DICOM_DECODER_PACKAGES = ("pydicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle",
                          "python-gdcm", "pillow")

_quiet_lock = threading.Lock()
_quiet_depth = 0  # threads inside opencv_quiet()
_saved_level = None  # OpenCV's log level before the first of them entered


def decode_gray(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG/BMP/TIFF bytes into a (H, W) uint8 gray image.

    Raises:
        ValueError: when the bytes are not a decodable image.
    """
    if not data:
        raise ValueError("empty file")
    with opencv_quiet():
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ValueError("not a readable image (corrupt, truncated or unsupported format)")
    return to_gray_uint8(decoded)


@contextmanager
def opencv_quiet():
    """Hold back OpenCV's warnings (its log goes straight to stderr) while any thread decodes; errors still show.

    OpenCV's log level is process-wide and files decode in parallel threads, so the first thread in
    lowers it and the last one out restores it.
    """
    global _quiet_depth, _saved_level
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(min(_saved_level, cv2.utils.logging.LOG_LEVEL_ERROR))
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                cv2.utils.logging.setLogLevel(_saved_level)


@functools.cache
def decoder_version() -> str:
    """xgan's image-pipeline version and the versions of every installed decoder, as one string.

    A file's cached pixels, hash and "cannot decode" verdict hold for this string only: an upgrade of
    OpenCV, or installing a DICOM plugin (`pip install "xgan[dicom]"`), makes the cache decode again.
    """
    parts = [f"xgan-images {PIPELINE_VERSION}", f"opencv {cv2.__version__}"]
    for package in DICOM_DECODER_PACKAGES:
        try:
            parts.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{package} -")
    return "; ".join(parts)


def is_image_file(path: Path) -> bool:
    """True for a file xgan can try to decode: a PNG/JPEG/BMP/TIFF suffix, or a DICOM file (by suffix or preamble)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES or is_dicom_file(path)


def read_image(path: Path) -> tuple[np.ndarray, str | None]:
    """Read one image file as (H, W) uint8 gray pixels, and the Patient ID a DICOM file carries (else None).

    Raises:
        ValueError: when the file cannot be decoded or holds no image.
        OSError: when it cannot be read.
    """
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES and is_dicom_file(path):
        dicom = read_dicom(path)
        return dicom.pixels, dicom.patient_id
    return decode_gray(path.read_bytes()), None


def read_gray(path: Path) -> np.ndarray:
    """Read one image file (any format `read_image` reads) as (H, W) uint8 gray; ValueError if it cannot be decoded."""
    return read_image(path)[0]


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a gray image to size x size (aspect ratio not kept, as in the source data)."""
    if image.shape == (size, size):
        return image
    shrinking = image.shape[0] * image.shape[1] >= size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interpolation)


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Resize every image of a (N, H, W) batch with `resize_square`; the batch itself when already that size."""
    if images.shape[1:] == (size, size):
        return images
    return np.stack([resize_square(image, size) for image in images])


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a (H, W) or (H, W, 3) uint8 image as PNG, atomically."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG")
    with atomic_path(path) as temporary:
        temporary.write_bytes(encoded.tobytes())
