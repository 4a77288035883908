"""Memorization: does any synthetic image nearly copy a real training image (a patient's X-ray)?

For every synthetic image we find its nearest real training image twice: by normalized pixel
correlation (Pearson correlation of the pixels, 1.0 for an identical image up to brightness and
contrast) and by Euclidean distance in a feature space. An image whose correlation reaches
`threshold` counts as a near copy.

Why 0.95 by default: on the bundled covid_ccby data (64 and 128 px) the nearest *other* training
image of a real training image has a median correlation of 0.87 (normal) and 0.63 (covid), a 99th
percentile of 0.94 and a maximum of 0.95; distinct patients' X-rays almost never reach it, while a
copy that a generator has blurred or shifted slightly still does. The same baseline (real against
real, leaving each image out) is computed for every report, so a reader sees whether the threshold
sits above what distinct real images reach on their data; pass another threshold where it does not.
"""

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from ..errors import invalid_argument

DEFAULT_COPY_THRESHOLD = 0.95
_CHUNK = 256


def normalize_pixels(images) -> np.ndarray:
    """Flatten images into rows of zero mean and unit norm, so that a dot product is a Pearson correlation.

    A constant image has no defined correlation; its row is all zeros, so it correlates 0 with anything.
    """
    images = np.asarray(images)
    if images.ndim < 2:
        raise invalid_argument("images", "a batch of images (N, H, W)", received=f"images with shape {images.shape}", error=ValueError)
    rows = images.reshape(len(images), -1).astype(np.float32)
    rows -= rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def nearest_by_correlation(queries, references, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For every query image, the index of the reference image it correlates with most, and that correlation.

    Args:
        queries: (N, H, W) images.
        references: (M, H, W) images of the same size.
        exclude_self: queries and references are the same set; skip each image's match with itself.
    """
    queries, references = np.asarray(queries), np.asarray(references)
    if queries.shape[1:] != references.shape[1:]:
        raise invalid_argument("references", f"images of the query size {queries.shape[1:]}", received=f"{references.shape[1:]}", error=ValueError)
    query_rows, reference_rows = normalize_pixels(queries), normalize_pixels(references)
    best_index = np.zeros(len(query_rows), np.int64)
    best_value = np.full(len(query_rows), -np.inf, np.float32)
    for start in range(0, len(query_rows), _CHUNK):
        block = query_rows[start:start + _CHUNK] @ reference_rows.T
        if exclude_self:
            rows = np.arange(len(block))
            block[rows, start + rows] = -np.inf
        best_index[start:start + _CHUNK] = block.argmax(axis=1)
        best_value[start:start + _CHUNK] = block.max(axis=1)
    return best_index, best_value.astype(np.float64)


def nearest_by_distance(queries, references, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For every query feature row, the index of the nearest reference row (Euclidean) and the distance."""
    distances = cdist(np.asarray(queries, np.float64), np.asarray(references, np.float64))
    if exclude_self:
        np.fill_diagonal(distances, np.inf)
    index = distances.argmin(axis=1)
    return index, distances[np.arange(len(index)), index]


@dataclass
class MemorizationResult:
    """Nearest real training image of every synthetic image, and a summary.

    Attributes:
        threshold: correlation at or above which a synthetic image counts as a near copy.
        nearest_key: per synthetic image, the key of the best-correlated training image.
        nearest_correlation: per synthetic image, that correlation.
        nearest_index: per synthetic image, that training image's index in the real set.
        real_nearest_correlation: per training image, its best correlation with another training image.
        feature_name: feature space of the distance columns, or None.
        feature_nearest_key: per synthetic image, the nearest training image in feature space.
        feature_distance_ratio: that distance over the median nearest-neighbour distance among
            training images (below 1: closer to a training image than training images are to each other).
    """

    threshold: float
    nearest_key: list[str]
    nearest_correlation: np.ndarray
    nearest_index: np.ndarray
    real_nearest_correlation: np.ndarray
    feature_name: str | None = None
    feature_nearest_key: list[str] | None = None
    feature_distance_ratio: np.ndarray | None = None
    synthetic_names: list[str] | None = None

    def synthetic_name(self, index: int) -> str:
        """A synthetic image's file name, or `#index` when it has none."""
        return self.synthetic_names[index] if self.synthetic_names else f"#{index}"

    @property
    def near_copies(self) -> np.ndarray:
        """Indices of the synthetic images at or above the threshold, closest first."""
        flagged = np.flatnonzero(self.nearest_correlation >= self.threshold)
        return flagged[np.argsort(-self.nearest_correlation[flagged], kind="stable")]

    @property
    def share_near_copies(self) -> float:
        return len(self.near_copies) / len(self.nearest_correlation)

    def closest_pairs(self, num_pairs: int, distinct_training_images: bool = True) -> np.ndarray:
        """Indices of the `num_pairs` synthetic images with the highest correlation to a training image.

        With `distinct_training_images`, each training image appears once (with its closest
        synthetic image), so the figure shows as many patients as it can rather than one
        average-looking training image that many blurry samples resemble.
        """
        order = np.argsort(-self.nearest_correlation, kind="stable")
        if distinct_training_images:
            _, first = np.unique(self.nearest_index[order], return_index=True)
            order = order[np.sort(first)]
        return order[:num_pairs]

    @property
    def warning(self) -> str | None:
        """A one-line warning when any synthetic image nearly copies a training image, else None."""
        flagged = self.near_copies
        if not len(flagged):
            return None
        examples = ", ".join(f"{self.synthetic_name(i)} ~ {self.nearest_key[i]} ({self.nearest_correlation[i]:.3f})"
                             for i in flagged[:3])
        return (f"{len(flagged)} of {len(self.nearest_correlation)} synthetic images "
                f"({100 * self.share_near_copies:.1f}%) nearly copy a real training image (pixel correlation "
                f">= {self.threshold}): e.g. {examples}. Do not share or train on them without review.")

    def summary(self) -> dict:
        """JSON-ready summary, with the real-vs-real baseline that calibrates the threshold."""
        correlation, baseline = self.nearest_correlation, self.real_nearest_correlation
        summary = {
            "threshold": self.threshold,
            "num_synthetic": int(len(correlation)),
            "num_real_training": int(len(baseline)) if len(baseline) else None,
            "num_near_copies": int(len(self.near_copies)),
            "share_near_copies": self.share_near_copies,
            "max_correlation": float(correlation.max()),
            "median_correlation": float(np.median(correlation)),
            "num_distinct_nearest_training_images": int(len(set(self.nearest_key))),
            "real_vs_real_nearest_correlation": _percentiles(baseline),
            "share_above_real_max": float((correlation > baseline.max()).mean()) if len(baseline) else None,
            "near_copies": [{"synthetic_index": int(i), "synthetic_name": self.synthetic_name(i),
                             "training_key": self.nearest_key[i],
                             "correlation": float(correlation[i])} for i in self.near_copies],
            "warning": self.warning,
        }
        if self.feature_distance_ratio is not None:
            ratio = self.feature_distance_ratio
            summary["features"] = {
                "name": self.feature_name,
                "distance_ratio_to_real_nearest_median": _percentiles(ratio),
                "share_same_nearest_as_pixels": float(np.mean(
                    [a == b for a, b in zip(self.feature_nearest_key, self.nearest_key)])),
            }
        return summary


def _percentiles(values: np.ndarray) -> dict | None:
    if not len(values):
        return None
    points = np.percentile(values, [0, 50, 95, 99, 100])
    return dict(zip(("min", "median", "p95", "p99", "max"), (float(v) for v in points)))


def find_memorization(synthetic_images, real_images, real_keys, *, threshold: float = DEFAULT_COPY_THRESHOLD,
                      synthetic_features=None, real_features=None, feature_name: str | None = None,
                      synthetic_names: list[str] | None = None) -> MemorizationResult:
    """Nearest real training image of every synthetic image, by pixel correlation and optionally by features.

    Args:
        synthetic_images: (N, S, S) synthetic images.
        real_images: (M, S, S) real training images (what the generator saw), same size.
        real_keys: dataset key of every real image, to name the copied image.
        threshold: correlation at or above which an image is a near copy, in (0, 1].
        synthetic_features: (N, D) features of the synthetic images, or None.
        real_features: (M, D) features of the real images, or None.
        feature_name: name of the feature space, for the report.
        synthetic_names: file name of every synthetic image, for the warning; None names them `#index`.

    Raises:
        ValueError: a threshold outside (0, 1], mismatched sizes or key counts, or only one of the
            two feature arrays.
    """
    if not 0 < threshold <= 1:
        raise invalid_argument("threshold", "a correlation in (0, 1]", received=f"threshold={threshold}", error=ValueError)
    synthetic_images, real_images = np.asarray(synthetic_images), np.asarray(real_images)
    if len(real_keys) != len(real_images):
        raise invalid_argument("real_keys", f"one key per real image ({len(real_images)})", received=f"{len(real_keys)} keys", error=ValueError)
    if len(synthetic_images) < 1 or len(real_images) < 1:
        raise invalid_argument(("synthetic_images", "real_images"), "at least one image in each",
                               received=f"{len(synthetic_images)} synthetic, {len(real_images)} real", error=ValueError)
    if (synthetic_features is None) != (real_features is None):
        raise invalid_argument("synthetic_features", "both feature arrays or neither", received="only one", error=ValueError)
    index, correlation = nearest_by_correlation(synthetic_images, real_images)
    if len(real_images) > 1:
        _, real_baseline = nearest_by_correlation(real_images, real_images, exclude_self=True)
    else:
        real_baseline = np.zeros(0)
    result = MemorizationResult(threshold=threshold, nearest_key=[real_keys[i] for i in index],
                                nearest_correlation=correlation, nearest_index=index,
                                real_nearest_correlation=real_baseline, synthetic_names=synthetic_names)
    if synthetic_features is not None and len(real_images) > 1:
        feature_index, distance = nearest_by_distance(synthetic_features, real_features)
        _, real_distance = nearest_by_distance(real_features, real_features, exclude_self=True)
        scale = np.median(real_distance)
        result.feature_name = feature_name
        result.feature_nearest_key = [real_keys[i] for i in feature_index]
        result.feature_distance_ratio = distance / scale if scale > 0 else np.full(len(distance), np.inf)
    return result
