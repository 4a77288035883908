"""The operating threshold of a binary classifier, chosen on the validation split (never on test images).

Binary only: the model's sigmoid scores the positive class and one threshold turns that score into
a call. A multi-class (softmax) model calls the arg-max class and has no threshold; its code sits
beside this module rather than inside it.

Two rules:
- Youden's J (the default): the threshold maximizing sensitivity + specificity - 1 on the validation
  split, i.e. its balanced accuracy. Ties go to the threshold closest to 0.5.
- A target sensitivity: the highest threshold whose validation sensitivity reaches the target (so
  specificity is as high as that sensitivity allows).

The stored record (`threshold_record`) travels in the model's config.json so `xgan evaluate` and
`xgan predict` call images exactly as the comparison did.
"""

import math

import numpy as np

from ..errors import invalid_argument
from .metrics import DEFAULT_THRESHOLD, _check_pair, draw_counts

THRESHOLD_KEY = "decision_threshold"  # config.json key of the record for plain predictions
TTA_THRESHOLD_KEY = "decision_threshold_tta"  # and for predictions with test-time augmentation


def _check(y_true, probability) -> tuple[np.ndarray, np.ndarray]:
    y_true, probability = _check_pair(y_true, probability)
    return y_true.astype(bool), probability


def candidate_thresholds(probability: np.ndarray) -> np.ndarray:
    """Every distinct way to split the scores: midpoints between sorted distinct values, plus one above and one below all."""
    values = np.unique(probability)
    middles = (values[:-1] + values[1:]) / 2
    return np.concatenate([[max(0.0, values[0] / 2)], middles, [(values[-1] + 1) / 2]]) if len(values) else np.array([DEFAULT_THRESHOLD])


def rates_at(y_true: np.ndarray, probability: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity and specificity at each threshold (an image is positive at or above it).

    One ROC curve (`sklearn.metrics.roc_curve`, O(N log N)) and a binary search per threshold, instead of
    a thresholds x images matrix (about 1 GB at 15k validation images). The rates are those counts over
    the class sizes, to the last bit.
    """
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import roc_curve

    num_positive, num_negative = int(y_true.sum()), int((~y_true).sum())
    with warnings.catch_warnings():  # one class only: its rate is 0, as the counts say
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        false_rate, true_rate, _ = roc_curve(y_true, probability, drop_intermediate=False)
    # Row k of the curve calls the k highest distinct scores positive (row 0: none).
    values = np.unique(probability)
    rows = len(values) - np.searchsorted(values, thresholds, side="left")
    true_positives = np.round(np.nan_to_num(true_rate[rows]) * num_positive)
    true_negatives = num_negative - np.round(np.nan_to_num(false_rate[rows]) * num_negative)
    return true_positives / max(1, num_positive), true_negatives / max(1, num_negative)


def youden_threshold(y_true, probability) -> float:
    """The threshold maximizing Youden's J (sensitivity + specificity - 1); ties go to the one closest to 0.5.

    Returns 0.5 when the labels hold one class only (J is undefined).
    """
    y_true, probability = _check(y_true, probability)
    if y_true.all() or not y_true.any():
        return DEFAULT_THRESHOLD
    thresholds = candidate_thresholds(probability)
    sensitivity, specificity = rates_at(y_true, probability, thresholds)
    youden = sensitivity + specificity - 1
    best = np.flatnonzero(np.isclose(youden, youden.max(), rtol=0, atol=1e-12))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - DEFAULT_THRESHOLD))]])


def sensitivity_threshold(y_true, probability, target: float) -> float:
    """The highest threshold whose sensitivity on these labels is at least `target`.

    Raises:
        ValueError: a target outside (0, 1], or labels without a positive image.
    """
    if not 0 < target <= 1:
        raise invalid_argument("target", "a float in (0, 1]", target, error=ValueError)
    y_true, probability = _check(y_true, probability)
    if not y_true.any():
        raise invalid_argument("y_true", "at least one positive image to aim a sensitivity at", received="none", error=ValueError)
    thresholds = candidate_thresholds(probability)
    sensitivity, _ = rates_at(y_true, probability, thresholds)
    # Sensitivity falls as the threshold rises; a small tolerance keeps 0.95 reachable with 20 positives.
    return float(thresholds[sensitivity >= target - 1e-12].max())


def choose_threshold(y_true, probability, target_sensitivity: float | None = None) -> dict:
    """The operating threshold and how it was chosen, from validation labels and scores.

    Args:
        y_true: 0/1 labels of the validation split (never the test split).
        probability: the model's positive-class probabilities on those images.
        target_sensitivity: None for Youden's J, else the sensitivity to reach.

    Returns:
        The JSON-ready record stored with the model: threshold, method ("youden" or
        "target_sensitivity"), target_sensitivity, fitted_on ("validation"), num_images, num_positive.
    """
    y_true_checked, probability = _check(y_true, probability)
    if target_sensitivity is None:
        threshold, method = youden_threshold(y_true_checked, probability), "youden"
    else:
        threshold, method = sensitivity_threshold(y_true_checked, probability, target_sensitivity), "target_sensitivity"
    return {"threshold": threshold, "method": method, "target_sensitivity": target_sensitivity, "fitted_on": "validation",
            "num_images": int(len(y_true_checked)), "num_positive": int(y_true_checked.sum())}


def stored_threshold(details: dict, tta: bool = False) -> dict:
    """The threshold record in a saved model's config.json (for TTA predictions when `tta`).

    A model saved before thresholds were stored gets 0.5, with method "default (none stored)".
    """
    record = details.get(TTA_THRESHOLD_KEY if tta else THRESHOLD_KEY)
    if not isinstance(record, dict) or not isinstance(record.get("threshold"), (int, float)) or not math.isfinite(record["threshold"]):
        return {"threshold": DEFAULT_THRESHOLD, "method": "default (none stored)", "target_sensitivity": None, "fitted_on": None}
    return record


def batched_thresholds(y_true, probability, target_sensitivity: float | None = None) -> np.ndarray:
    """The threshold `choose_threshold` picks, for every row of stacked label and score arrays at once (the bootstrap's).

    Same candidates, rule and tie-break as `youden_threshold` and `sensitivity_threshold`, along the last axis.

    Args:
        y_true: (..., V) 0/1 labels, broadcastable with `probability`.
        probability: (..., V) scores.
        target_sensitivity: None for Youden's J, else the sensitivity to reach.

    Returns:
        (...) thresholds: 0.5 for Youden's J on a row with one class only (as `youden_threshold`), NaN
        for a target sensitivity on a row without a positive image (`sensitivity_threshold` refuses it).
    """
    _check_target(target_sensitivity)
    y_true, probability = np.broadcast_arrays(np.asarray(y_true, bool), np.asarray(probability, np.float64))
    order = np.argsort(-probability, axis=-1, kind="stable")
    scores = np.take_along_axis(probability, order, -1)  # highest first
    labels = np.take_along_axis(y_true, order, -1)
    top = (scores[..., :1] + 1) / 2
    # Candidate 0 is the threshold above the top score (which still calls scores of exactly 1 positive, as
    # `candidate_thresholds` does); candidate j + 1 calls the j + 1 highest scores positive.
    called_at_top = scores >= top
    true_positive = np.concatenate([(labels & called_at_top).sum(-1, keepdims=True), np.cumsum(labels, -1)], -1)
    false_positive = np.concatenate([(~labels & called_at_top).sum(-1, keepdims=True), np.cumsum(~labels, -1)], -1)
    # A split inside a run of equal scores is no threshold at all: only between distinct scores (and at the ends).
    distinct = np.concatenate([np.ones(scores.shape[:-1] + (1,), bool), scores[..., :-1] > scores[..., 1:],
                               np.ones(scores.shape[:-1] + (1,), bool)], -1)
    thresholds = np.concatenate([top, (scores[..., :-1] + scores[..., 1:]) / 2,
                                 np.maximum(0.0, scores[..., -1:] / 2)], -1)
    return _pick(thresholds, true_positive, false_positive, distinct, target_sensitivity)


def _check_target(target_sensitivity: float | None) -> None:
    if target_sensitivity is not None and not 0 < target_sensitivity <= 1:
        raise invalid_argument("target_sensitivity", "a float in (0, 1]", received=f"{target_sensitivity!r}", error=ValueError)


def _pick(thresholds, true_positive, false_positive, distinct, target_sensitivity: float | None) -> np.ndarray:
    """The rule's threshold among candidates along the last axis, highest first: their thresholds, the true and false
    positives each calls (integer counts; the last candidate calls every image), and which are real splits (`distinct`)."""
    num_positive, num_negative = true_positive[..., -1:], false_positive[..., -1:]
    if target_sensitivity is not None:
        sensitivity = true_positive / np.maximum(num_positive, 1)
        # The highest threshold reaching the target: the first candidate, highest first, that does.
        reaches = distinct & (sensitivity >= target_sensitivity - 1e-12)
        chosen = np.take_along_axis(thresholds, reaches.argmax(-1)[..., None], -1)[..., 0]
        return np.where(num_positive[..., 0] > 0, chosen, np.nan)
    # Youden's J = TP / P - FP / N, times P * N: an integer, so equal J are equal here, as `youden_threshold`'s J within
    # 1e-12 are (two different J differ by at least 1 / (P * N), far more than the rounding of the quotients).
    youden = np.where(distinct, true_positive * num_negative - false_positive * num_positive, np.iinfo(np.int64).min)
    best = youden == youden.max(-1, keepdims=True)
    # Ties go to the threshold closest to 0.5, then the lowest (as `youden_threshold`, whose candidates rise): lowest first.
    distance = np.where(best, np.abs(thresholds - DEFAULT_THRESHOLD), np.inf)[..., ::-1]
    chosen = np.take_along_axis(thresholds[..., ::-1], distance.argmin(-1)[..., None], -1)[..., 0]
    one_class = (num_positive[..., 0] == 0) | (num_negative[..., 0] == 0)
    return np.where(one_class, DEFAULT_THRESHOLD, chosen)


def thresholds_of_draws(y_true, probability, draw, target_sensitivity: float | None = None) -> np.ndarray:
    """`batched_thresholds` of every bootstrap draw of the validation images and every model, without sorting a draw.

    The bootstrap re-chooses each model's threshold on thousands of draws with replacement; a draw is a multiset of
    the images, so its sorted scores are the model's sorted scores, each repeated as often as it was drawn. This sorts
    each model's scores once and walks them with the draw's counts: the same candidates, counts, rates and tie-breaks,
    so the same thresholds to the bit, in a third of the time.

    Args:
        y_true: (V,) 0/1 labels.
        probability: (K, V) scores, one row per model.
        draw: (R, V) image indices, each row one draw with replacement.
        target_sensitivity: None for Youden's J, else the sensitivity to reach.

    Returns:
        (R, K): row r, column k is `batched_thresholds(y_true[draw[r]], probability[k, draw[r]], target_sensitivity)`.
    """
    y_true = np.asarray(y_true, bool).reshape(-1)
    probability = np.atleast_2d(np.asarray(probability, np.float64))
    draw = np.atleast_2d(np.asarray(draw))
    _check_target(target_sensitivity)
    if np.isnan(probability).any():  # NaN sorts last and is never "distinct": the general rule handles it as it always did
        return batched_thresholds(y_true[draw][:, None, :], probability[:, draw].swapaxes(0, 1), target_sensitivity)
    rows, size = draw.shape
    counts = draw_counts(draw, size)
    chosen = np.empty((rows, len(probability)))
    ends = np.ones((rows, 1), bool)
    for k, scores in enumerate(probability):
        order = np.argsort(-scores, kind="stable")
        ranked, labels = scores[order], y_true[order]
        drawn = counts[:, order]  # how often each score, highest first, was drawn
        present = drawn > 0
        positive = np.cumsum(drawn * labels, 1)
        negative = np.cumsum(drawn, 1) - positive
        # For each position, the next drawn score after it (NaN after the last): a candidate splits there only when it is lower.
        following = np.minimum.accumulate(np.where(present, np.arange(size), size)[:, ::-1], 1)[:, ::-1]
        following = np.concatenate([following[:, 1:], np.full((rows, 1), size)], 1)
        next_score = np.append(ranked, np.nan)[following]
        split = present & (following < size) & (ranked > next_score)
        highest = ranked[np.argmax(present, 1)]
        lowest = ranked[size - 1 - np.argmax(present[:, ::-1], 1)]
        top = ((highest + 1) / 2)[:, None]
        # Candidate 0 (above the top score) still calls the drawn scores at or above `top`: only a score s with
        # s >= (s + 1) / 2, i.e. of 1 or more, can be (top is at least that of s when s is drawn), so only those are counted.
        reach = np.flatnonzero(ranked >= (ranked + 1) / 2)
        at_top = drawn[:, reach] * (ranked[reach] >= top)
        top_positive, top_negative = (at_top * labels[reach]).sum(1, keepdims=True), (at_top * ~labels[reach]).sum(1, keepdims=True)
        # Candidate 0 lies above the top score, candidate 1 + i splits after position i, the last lies below every score.
        true_positive = np.concatenate([top_positive, positive, positive[:, -1:]], 1)
        false_positive = np.concatenate([top_negative, negative, negative[:, -1:]], 1)
        distinct = np.concatenate([ends, split, ends], 1)
        thresholds = np.concatenate([top, (ranked + next_score) / 2, np.maximum(0.0, lowest / 2)[:, None]], 1)
        chosen[:, k] = _pick(thresholds, true_positive, false_positive, distinct, target_sensitivity)
    return chosen


class ThresholdRule:
    """The rule a bootstrap re-chooses thresholds by: `batched_thresholds` at one target sensitivity (None: Youden's J).

    Called as `choose_thresholds(labels, scores)`; `_paired_bootstrap` uses `of_draws`, the same thresholds counted
    from each draw (`thresholds_of_draws`), when the rule offers it.
    """

    def __init__(self, target_sensitivity: float | None = None):
        self.target_sensitivity = target_sensitivity

    def __call__(self, y_true, probability) -> np.ndarray:
        return batched_thresholds(y_true, probability, self.target_sensitivity)

    def of_draws(self, y_true, probability, draw) -> np.ndarray:
        return thresholds_of_draws(y_true, probability, draw, self.target_sensitivity)
