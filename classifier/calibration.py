"""Calibration: whether a model's probabilities mean what they say. Expected calibration error, Brier score, reliability bins.

Pure functions on arrays, for any evaluation set (the internal test split, a corrupted copy, an external set).

- Binary models (probabilities of shape (N,), the positive class's): the bins hold the positive-class
  probability and compare it with the share of positive images in the bin (scikit-learn's
  `calibration_curve` with its uniform strategy); the Brier score is the mean of (p - y)².
- Softmax models ((N, classes)): top-label calibration (Guo et al., 2017): the bins hold each image's
  highest probability and compare it with the share of images whose most probable class is right; the
  Brier score is the mean over images of the sum over classes of (p_k - [y = k])², between 0 and 2.

Binning: NUM_BINS equal-width bins on [0, 1], the last closed ([0, 0.1), ..., [0.9, 1.0]); the ECE is
the mean over bins of |mean probability - observed share|, weighted by each bin's share of the images.
Equal-width ECE depends on the bin count and is biased upward on small sets, so compare it between
arms on the same images, not with published values on other sets.
"""

import math

import numpy as np

from ..errors import invalid_argument

NUM_BINS = 10
BINNING = (f"{NUM_BINS} equal-width bins of the predicted probability on [0, 1]; ECE: the bin-size-weighted mean of "
           "|mean predicted probability - observed share| (binary: positive-class probability against the share of "
           "positive images; multi-class: the top class's probability against the share called right)")


def _forecasts(y_true, probability) -> tuple[np.ndarray, np.ndarray, bool]:
    """(forecast, outcome, multiclass): what each bin compares, checked and flattened."""
    y_true = np.asarray(y_true).reshape(-1)
    probability = np.asarray(probability, np.float64)
    if probability.ndim == 2 and probability.shape[1] > 1:
        if probability.shape[0] != len(y_true):
            raise invalid_argument("probability", f"one row per label ({len(y_true)})", received=f"{probability.shape[0]}", error=ValueError)
        if not np.isin(y_true, np.arange(probability.shape[1])).all():
            raise invalid_argument("y_true", f"class indices 0 to {probability.shape[1] - 1}", received=f"values {sorted(set(y_true.tolist()))[:5]}",
                                   error=ValueError)
        return probability.max(axis=1), (probability.argmax(axis=1) == y_true).astype(np.float64), True
    probability = probability.reshape(-1)
    if probability.shape != y_true.shape:
        raise invalid_argument("probability", f"one probability per label ({len(y_true)})", received=f"{len(probability)}", error=ValueError)
    if not np.isin(y_true, (0, 1)).all():
        raise invalid_argument("y_true", "0 (negative) and 1 (positive) only", received=f"values {sorted(set(y_true.tolist()))[:5]}",
                               error=ValueError)
    return probability, y_true.astype(np.float64), False


def _check_bins(num_bins) -> int:
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
        raise invalid_argument("num_bins", "a positive integer", num_bins, error=ValueError)
    return int(num_bins)


def reliability_bins(y_true, probability, num_bins: int = NUM_BINS) -> list[dict]:
    """The reliability diagram's points: per equal-width bin, its edges, count, mean probability and observed share.

    Args:
        y_true: 0/1 labels (binary) or class indices (softmax).
        probability: (N,) positive-class probabilities or (N, classes) softmax outputs.

    Returns:
        One dict per bin, lowest first: low, high, count, mean_probability and observed (NaN when empty).
    """
    forecast, outcome, _ = _forecasts(y_true, probability)
    num_bins = _check_bins(num_bins)
    index = np.clip((forecast * num_bins).astype(np.int64), 0, num_bins - 1)  # p = 1.0 falls in the last bin
    bins = []
    for b in range(num_bins):
        inside = index == b
        count = int(inside.sum())
        bins.append({"low": b / num_bins, "high": (b + 1) / num_bins, "count": count,
                     "mean_probability": float(forecast[inside].mean()) if count else math.nan,
                     "observed": float(outcome[inside].mean()) if count else math.nan})
    return bins


def expected_calibration_error(y_true, probability, num_bins: int = NUM_BINS) -> float:
    """The bin-size-weighted mean gap between probability and observed share (NaN on an empty set); see BINNING."""
    bins = reliability_bins(y_true, probability, num_bins)
    total = sum(b["count"] for b in bins)
    if not total:
        return math.nan
    return float(sum(b["count"] * abs(b["mean_probability"] - b["observed"]) for b in bins if b["count"]) / total)


def brier_score(y_true, probability) -> float:
    """Mean squared error of the probabilities (binary: of the positive class; softmax: summed over classes). NaN when empty."""
    y_true = np.asarray(y_true).reshape(-1)
    _forecasts(y_true, probability)  # checks
    probability = np.asarray(probability, np.float64)
    if not len(y_true):
        return math.nan
    if probability.ndim == 2 and probability.shape[1] > 1:
        one_hot = np.eye(probability.shape[1])[y_true.astype(np.int64)]
        return float(((probability - one_hot) ** 2).sum(axis=1).mean())
    return float(((probability.reshape(-1) - y_true) ** 2).mean())


def calibration_metrics(y_true, probability, num_bins: int = NUM_BINS) -> dict:
    """ECE, Brier score and the reliability bins of one model (or ensemble) on one evaluation set.

    Returns:
        {"ece", "brier", "num_bins", "bins"}: JSON-ready.
    """
    return {"ece": expected_calibration_error(y_true, probability, num_bins), "brier": brier_score(y_true, probability),
            "num_bins": _check_bins(num_bins), "bins": reliability_bins(y_true, probability, num_bins)}
