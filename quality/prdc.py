"""Precision and recall for generative models, with density and coverage, on k-NN manifolds.

Precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing
generative models") separate fidelity from diversity: the real manifold is the union of balls around
every real feature vector, each with the radius to its k-th nearest real neighbour, and likewise for
the synthetic one.

- precision: share of synthetic images inside the real manifold (do they look real?);
- recall: share of real images inside the synthetic manifold (is the real variety covered?). A
  collapsed generator (few distinct outputs) has tiny synthetic balls and a low recall.

Density and coverage (Naeem et al. 2020) use only the real balls, so they are less sensitive to
synthetic outliers: density counts how many real balls hold each synthetic image (about 1 when the
distributions match), coverage is the share of real balls that hold at least one synthetic image.
"""

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from ..errors import invalid_argument

DEFAULT_K = 3


@dataclass(frozen=True)
class PrecisionRecall:
    """Manifold metrics between real and synthetic features, each in [0, 1] except density."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    num_real: int
    num_synthetic: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from every row to its k-th nearest other row (Euclidean).

    Exact distances (`cdist` subtracts rather than expanding |a|² + |b|² - 2ab), so a repeated row
    has radius exactly 0, as mode collapse needs. Sets here are at most a few thousand rows.
    """
    distances = cdist(features, features)
    # Position k after sorting: position 0 is the row itself (distance 0).
    return np.partition(distances, k, axis=1)[:, k]


def precision_recall(real_features, synthetic_features, k: int = DEFAULT_K) -> PrecisionRecall:
    """Precision, recall, density and coverage of synthetic features against real ones.

    Args:
        real_features: (N, D) features of real images, N > k.
        synthetic_features: (M, D) features of synthetic images, M > k.
        k: neighbour whose distance sets each ball's radius (3 in both papers).

    Raises:
        ValueError: k < 1, too few rows for k, or mismatched feature dimensions.
    """
    real = np.asarray(real_features, dtype=np.float64)
    synthetic = np.asarray(synthetic_features, dtype=np.float64)
    if k < 1:
        raise invalid_argument("k", "a positive integer", received=f"k={k}", error=ValueError)
    for name, features in (("real_features", real), ("synthetic_features", synthetic)):
        if features.ndim != 2 or len(features) <= k:
            raise invalid_argument(name, f"a 2-D array with more than k={k} rows", received=f"{name} with shape {features.shape}", error=ValueError)
    if real.shape[1] != synthetic.shape[1]:
        raise invalid_argument("synthetic_features", f"the feature dimension of real_features ({real.shape[1]})", received=f"{synthetic.shape[1]}",
                               error=ValueError)
    real_radii = kth_neighbour_radii(real, k)
    synthetic_radii = kth_neighbour_radii(synthetic, k)
    distances = cdist(real, synthetic)  # (N, M)
    inside_real_balls = distances <= real_radii[:, None]
    inside_synthetic_balls = distances <= synthetic_radii[None, :]
    return PrecisionRecall(
        precision=float(inside_real_balls.any(axis=0).mean()),
        recall=float(inside_synthetic_balls.any(axis=1).mean()),
        density=float(inside_real_balls.sum(axis=0).mean() / k),
        coverage=float((distances.min(axis=1) <= real_radii).mean()),
        k=k, num_real=len(real), num_synthetic=len(synthetic),
    )


def matched_precision_recall(real_features, synthetic_features, k: int = DEFAULT_K, num_repeats: int = 10,
                             seed: int = 0) -> dict:
    """Precision, recall, density and coverage on sets of equal size, averaged over random draws.

    k-NN radii shrink as a set grows, so with 500 synthetic and 32 real images recall comes out too
    low and precision too high even for a perfect generator; the papers compare equal-sized sets.
    The larger set is subsampled (without replacement) to the smaller one's size `num_repeats`
    times; equal sizes need one draw.

    Returns:
        A JSON-ready dict: the four metrics (means), their standard deviations over draws
        (`*_std`), `set_size`, `num_repeats`, `k`, `num_real`, `num_synthetic`.
    """
    real = np.asarray(real_features, dtype=np.float64)
    synthetic = np.asarray(synthetic_features, dtype=np.float64)
    size = min(len(real), len(synthetic))
    repeats = 1 if len(real) == len(synthetic) else num_repeats
    if repeats < 1:
        raise invalid_argument("num_repeats", "a positive integer", received=f"num_repeats={num_repeats}", error=ValueError)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(repeats):
        real_draw = real if len(real) == size else real[rng.choice(len(real), size, replace=False)]
        synthetic_draw = synthetic if len(synthetic) == size else synthetic[rng.choice(len(synthetic), size, replace=False)]
        draws.append(precision_recall(real_draw, synthetic_draw, k))
    result = {}
    for name in ("precision", "recall", "density", "coverage"):
        values = np.array([getattr(draw, name) for draw in draws])
        result[name], result[f"{name}_std"] = float(values.mean()), float(values.std())
    result.update(set_size=size, num_repeats=repeats, k=k, num_real=len(real), num_synthetic=len(synthetic))
    return result
