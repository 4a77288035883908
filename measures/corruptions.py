"""Corrupted copies of gray images: a shift suite in the spirit of ImageNet-C and MedMNIST-C, for chest radiographs.

A registry of small pure ops (numpy/OpenCV, no PyTorch), each with five severities. An op maps
(N, S, S) uint8 images, a severity's parameter and a NumPy generator to (N, S, S) uint8 images;
`corrupt` seeds the generator from (seed, corruption, severity), so a corrupted copy never depends
on what was corrupted before it, and `shift_suite` yields every copy once.

Where the parameters come from (never tuned to a classifier's result):
- Intensity, noise, compression and resolution: MedMNIST-C's parameters for PneumoniaMNIST (Di Salvo,
  Doerrich and Ledig, arXiv 2406.17536; its `medmnistc` registry), applied per pixel of the image
  the classifier sees. MedMNIST-C defines them on 224 px images: at 28-64 px a blur of the same
  width in pixels covers more anatomy and the same per-pixel noise is, relative to the film, noisier
  (a film downsampled from a noisy detector averages its noise away), so read blur and noise here as
  harsh proxies. Pixelation is relative to the side and means the same at every size.
- What differs between X-ray machines and sites, which these ops stand in for: the look-up table and
  windowing (gamma, contrast, brightness), dose and detector (noise), detector resolution and
  sharpening (blur, a lower resolution), storage (JPEG), and patient positioning and field of view
  (rotation, translation, zoom; not in MedMNIST-C). The geometric severities stay within a typical
  patient tilt and collimation: up to 10 degrees, 10 % of the side, 20 % of scale; the classic
  augmentation arm trains on up to 10 degrees, 5 % and 10 %, so it has seen their mild end.
"""

import zlib
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ..errors import invalid_argument

NUM_SEVERITIES = 5


@dataclass(frozen=True)
class Corruption:
    """One corruption: its op, one parameter per severity (1 to 5, mildest first) and what it stands for."""

    op: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
    severities: tuple
    stands_for: str


def _to_unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64) / 255


def _from_unit(images: np.ndarray) -> np.ndarray:
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def gaussian_noise(images, scale, rng):
    """Additive Gaussian noise of standard deviation `scale` (pixels in [0, 1])."""
    unit = _to_unit(images)
    return _from_unit(unit + rng.normal(0, scale, unit.shape))


def speckle_noise(images, scale, rng):
    """Multiplicative noise: each pixel times 1 + N(0, `scale`)."""
    unit = _to_unit(images)
    return _from_unit(unit * (1 + rng.normal(0, scale, unit.shape)))


def impulse_noise(images, amount, rng):
    """Salt and pepper: a share `amount` of the pixels set to black or white, half each."""
    images = images.copy()
    hit = rng.random(images.shape) < amount
    salt = rng.random(images.shape) < 0.5
    images[hit & salt] = 255
    images[hit & ~salt] = 0
    return images


def shot_noise(images, photons, rng):
    """Poisson (quantum) noise: a white pixel counts `photons` photons; fewer photons, more noise."""
    return _from_unit(rng.poisson(_to_unit(images) * photons) / photons)


def gaussian_blur(images, kernel, rng):
    """Gaussian blur with an odd `kernel` side and the sigma OpenCV (and torchvision) derive from it."""
    kernel = int(kernel)
    return np.stack([cv2.GaussianBlur(image, (kernel, kernel), 0, borderType=cv2.BORDER_REFLECT_101) for image in images])


def jpeg_compression(images, quality, rng):
    """Encoded as JPEG at `quality` (0-100) and decoded again."""
    def round_trip(image):
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError("OpenCV could not encode an image as JPEG")
        return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return np.stack([round_trip(image) for image in images])


def pixelate(images, factor, rng):
    """A lower resolution: shrunk to `factor` of the side by area averaging, then resampled back (bilinear), as a loader would."""
    size = images.shape[1]
    small = max(1, int(size * factor))
    return np.stack([cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                                interpolation=cv2.INTER_LINEAR) for image in images])


def brightness(images, factor, rng):
    """Every pixel times `factor` (above 1 brighter, below darker)."""
    return _from_unit(_to_unit(images) * factor)


def contrast(images, factor, rng):
    """Each image's distance from its own mean times `factor` (above 1 more contrast, below less)."""
    unit = _to_unit(images)
    mean = unit.mean(axis=(1, 2), keepdims=True)
    return _from_unit(mean + (unit - mean) * factor)


def gamma(images, exponent, rng):
    """Pixels (in [0, 1]) to the power `exponent` (above 1 darker mid-tones, below brighter)."""
    return _from_unit(_to_unit(images) ** exponent)


def _affine(images: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Each image warped by its own 2x3 matrix; what comes in from outside the film is black, as collimation leaves it."""
    size = images.shape[1]
    return np.stack([cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=0) for image, matrix in zip(images, matrices.astype(np.float32))])


def _centre(images) -> tuple[float, float]:
    middle = (images.shape[1] - 1) / 2
    return middle, middle


def rotation(images, degrees, rng):
    """Each image turned by `degrees` about its centre, clockwise or anticlockwise at random."""
    signs = rng.choice((-1.0, 1.0), len(images))
    return _affine(images, np.stack([cv2.getRotationMatrix2D(_centre(images), sign * degrees, 1.0) for sign in signs]))


def translation(images, share, rng):
    """Each image moved by `share` of its side in a random direction."""
    angles = rng.uniform(0, 2 * np.pi, len(images))
    shift = share * images.shape[1]
    return _affine(images, np.stack([[[1, 0, shift * np.cos(a)], [0, 1, shift * np.sin(a)]] for a in angles]))


def zoom(images, share, rng):
    """Each image scaled about its centre by 1 + `share` or 1 - `share` (in or out, at random)."""
    signs = rng.choice((-1.0, 1.0), len(images))
    return _affine(images, np.stack([cv2.getRotationMatrix2D(_centre(images), 0, 1 + sign * share) for sign in signs]))


# MedMNIST-C's PneumoniaMNIST parameters, severities 1 to 5 (its Gaussian blur kernels are the first five of six
# listed, as its five severities use), then the positioning ops it does not have.
CORRUPTIONS = {
    "gaussian_noise": Corruption(gaussian_noise, (0.04, 0.05, 0.06, 0.07, 0.08), "electronic detector noise"),
    "speckle_noise": Corruption(speckle_noise, (0.05, 0.07, 0.10, 0.15, 0.20), "signal-dependent noise"),
    "impulse_noise": Corruption(impulse_noise, (0.005, 0.01, 0.013, 0.017, 0.02), "dead and hot detector pixels"),
    "shot_noise": Corruption(shot_noise, (300, 200, 150, 100, 80), "a lower dose (quantum noise)"),
    "gaussian_blur": Corruption(gaussian_blur, (3, 5, 7, 9, 11), "a less sharp detector or no edge enhancement"),
    "jpeg_compression": Corruption(jpeg_compression, (50, 30, 15, 10, 7), "lossy storage or transfer"),
    "pixelate": Corruption(pixelate, (0.8, 0.7, 0.6, 0.5, 0.4), "a lower-resolution source"),
    "brightness_up": Corruption(brightness, (1.1, 1.2, 1.3, 1.4, 1.5), "another look-up table: brighter"),
    "brightness_down": Corruption(brightness, (0.9, 0.8, 0.7, 0.6, 0.5), "another look-up table: darker"),
    "contrast_up": Corruption(contrast, (1.1, 1.2, 1.3, 1.4, 1.6), "a narrower window"),
    "contrast_down": Corruption(contrast, (0.9, 0.8, 0.7, 0.6, 0.4), "a wider window"),
    "gamma_up": Corruption(gamma, (1.1, 1.2, 1.3, 1.4, 1.6), "another gradation curve: darker mid-tones"),
    "gamma_down": Corruption(gamma, (0.9, 0.8, 0.7, 0.6, 0.4), "another gradation curve: brighter mid-tones"),
    "rotation": Corruption(rotation, (2, 4, 6, 8, 10), "patient tilt (degrees)"),
    "translation": Corruption(translation, (0.02, 0.04, 0.06, 0.08, 0.10), "off-centre positioning (share of the side)"),
    "zoom": Corruption(zoom, (0.04, 0.08, 0.12, 0.16, 0.20), "another field of view or magnification"),
}


def check_corruption(name: str, severity: int) -> Corruption:
    """The registry's entry for `name`, once `severity` is known to be 1 to NUM_SEVERITIES.

    Raises:
        ValueError: an unknown name or a severity out of range.
    """
    if name not in CORRUPTIONS:
        raise invalid_argument("name", f"one of {', '.join(CORRUPTIONS)}", name, error=ValueError)
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= NUM_SEVERITIES:
        raise invalid_argument("severity", f"an integer from 1 to {NUM_SEVERITIES}", severity, error=ValueError)
    return CORRUPTIONS[name]


def corrupt(images, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """A corrupted copy of (N, S, S) uint8 gray images; the same inputs always give the same copy.

    Args:
        images: the images (a (N, S, S, 1) array is read as (N, S, S)).
        name: a key of CORRUPTIONS.
        severity: 1 (mildest) to 5.
        seed: seeds the random draws (noise, directions), with the corruption's name and the severity.

    Raises:
        ValueError: an unknown name, a severity out of range, or images that are not uint8 gray squares.
    """
    corruption = check_corruption(name, severity)
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[1] != images.shape[2]:
        raise invalid_argument("images", "(N, S, S) uint8 gray images", received=f"shape {images.shape}, dtype {images.dtype}", error=ValueError)
    if not len(images):
        return images.copy()
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), severity])
    return corruption.op(images, corruption.severities[severity - 1], rng)


def suite_keys(names=None) -> list[tuple[str, int]]:
    """(corruption, severity) of every copy in the suite, in registry order (all corruptions unless `names`)."""
    names = list(CORRUPTIONS) if names is None else list(names)
    for name in names:
        check_corruption(name, 1)
    return [(name, severity) for name in names for severity in range(1, NUM_SEVERITIES + 1)]


def shift_suite(images, seed: int = 0, names=None):
    """Every corrupted copy of `images`: yields ((corruption, severity), copy) in `suite_keys` order."""
    for name, severity in suite_keys(names):
        yield (name, severity), corrupt(images, name, severity, seed)
