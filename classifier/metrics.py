"""Pure metric functions on arrays: point metrics, a paired bootstrap interval and McNemar's exact test.

Point metrics come from scikit-learn. The bootstrap needs the same metrics on thousands of
resamples at once, so `batched_metric` computes them along the last axis of stacked arrays (ROC-AUC
through scipy's tie-aware ranks, the Mann-Whitney form); the tests check it against scikit-learn.
"""

import math

import numpy as np
from scipy.stats import binomtest, norm, rankdata
from sklearn import metrics as skm

from ..errors import invalid_argument

METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc")
DEFAULT_THRESHOLD = 0.5
# The comparison's declared primary metric, at the threshold chosen on the validation split; every other is secondary.
PRIMARY_METRIC = "balanced_accuracy"
AT_DEFAULT_THRESHOLD = "at_threshold_0.5"  # key of the metrics at the fixed 0.5 threshold, beside those at the chosen one


def _check_pair(y_true, probability) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).reshape(-1)
    probability = np.asarray(probability, np.float64).reshape(-1)
    if y_true.shape != probability.shape:
        raise invalid_argument("probability", f"one probability per label ({len(y_true)})", received=f"{len(probability)}", error=ValueError)
    if not np.isin(y_true, (0, 1)).all():
        raise invalid_argument("y_true", "0 (negative) and 1 (positive) only", received=f"values {sorted(set(y_true.tolist()))[:5]}",
                               error=ValueError)
    return y_true.astype(np.int64), probability


def binary_metrics(y_true, probability, class_names=("negative", "positive"), threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Every metric of one model on one evaluation set.

    Args:
        y_true: 1 for the positive class, 0 for the negative.
        probability: the model's positive-class probability per image.
        class_names: (negative name, positive name), for the confusion matrix and the report.
        threshold: probability at or above which an image is called positive.

    Returns:
        accuracy, balanced_accuracy, sensitivity (positive recall), specificity (negative recall),
        precision and f1 (of the positive class), roc_auc (NaN with one class present), the
        confusion matrix (rows true, columns predicted, order negative then positive), counts,
        and scikit-learn's classification report as a dict and as text.
    """
    y_true, probability = _check_pair(y_true, probability)
    predicted = (probability >= threshold).astype(np.int64)
    labels, names = [0, 1], list(class_names)
    matrix = skm.confusion_matrix(y_true, predicted, labels=labels)
    both_classes = len(np.unique(y_true)) == 2
    report_args = {"labels": labels, "target_names": names, "zero_division": 0}
    return {
        "num_images": int(len(y_true)),
        "num_positive": int(y_true.sum()),
        "num_negative": int(len(y_true) - y_true.sum()),
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, predicted)) if both_classes else math.nan,
        "sensitivity": float(skm.recall_score(y_true, predicted, pos_label=1, zero_division=np.nan)),
        "specificity": float(skm.recall_score(y_true, predicted, pos_label=0, zero_division=np.nan)),
        "precision": float(skm.precision_score(y_true, predicted, pos_label=1, zero_division=0)),
        "f1": float(skm.f1_score(y_true, predicted, pos_label=1, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y_true, probability)) if both_classes else math.nan,
        "confusion_matrix": {"labels": names, "rows": "true", "columns": "predicted", "matrix": matrix.tolist()},
        "classification_report": skm.classification_report(y_true, predicted, output_dict=True, **report_args),
        "classification_report_text": skm.classification_report(y_true, predicted, digits=3, **report_args),
    }


def multiclass_metrics(y_true, probabilities, class_names) -> dict:
    """Every metric of one softmax model on one evaluation set of three or more classes.

    The keys of METRICS keep their meaning as macro averages over the classes, so reports and
    comparisons treat both kinds of model alike: sensitivity is the mean per-class recall (equal to
    balanced accuracy), specificity, precision and F1 the means of the one-vs-rest ones, and roc_auc
    the mean one-vs-rest ROC-AUC. A class absent from `y_true` is left out of the means (NaN for it).

    Args:
        y_true: the index of each image's class in `class_names`.
        probabilities: (N, classes) softmax outputs.
        class_names: the class of each column.

    Returns:
        The METRICS, `per_class` (sensitivity, specificity, precision, f1, roc_auc and support per
        class), the confusion matrix (rows true, columns predicted, in `class_names` order), counts,
        and scikit-learn's classification report as a dict and as text.
    """
    names = list(class_names)
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape != (len(y_true), len(names)):
        raise invalid_argument("probabilities", f"shape ({len(y_true)}, {len(names)}): one row per label, one column per class",
                               received=f"{probabilities.shape}", error=ValueError)
    if not np.isin(y_true, np.arange(len(names))).all():
        raise invalid_argument("y_true", f"class indices 0 to {len(names) - 1}", received=f"values {sorted(set(y_true.tolist()))[:5]}",
                               error=ValueError)
    predicted = probabilities.argmax(axis=1)
    labels = list(range(len(names)))
    matrix = skm.confusion_matrix(y_true, predicted, labels=labels)
    per_class = {}
    for index, name in enumerate(names):
        is_class, called = y_true == index, predicted == index
        support = int(is_class.sum())
        defined = 0 < support < len(y_true)
        per_class[name] = {
            "support": support,
            "sensitivity": float((called & is_class).sum() / support) if support else math.nan,
            "specificity": float((~called & ~is_class).sum() / (~is_class).sum()) if (~is_class).any() else math.nan,
            "precision": float((called & is_class).sum() / called.sum()) if called.any() else 0.0,
            "f1": float(skm.f1_score(is_class, called, zero_division=0)),
            "roc_auc": float(skm.roc_auc_score(is_class, probabilities[:, index])) if defined else math.nan,
        }

    def macro(metric):
        values = [c[metric] for c in per_class.values() if c["support"] and math.isfinite(c[metric])]
        return float(np.mean(values)) if values else math.nan

    report_args = {"labels": labels, "target_names": names, "zero_division": 0}
    return {
        "num_images": int(len(y_true)),
        "num_per_class": {name: c["support"] for name, c in per_class.items()},
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "balanced_accuracy": macro("sensitivity"),
        "sensitivity": macro("sensitivity"),
        "specificity": macro("specificity"),
        "precision": macro("precision"),
        "f1": macro("f1"),
        "roc_auc": macro("roc_auc"),
        "averaging": "macro over classes present; roc_auc one-vs-rest",
        "per_class": per_class,
        "confusion_matrix": {"labels": names, "rows": "true", "columns": "predicted", "matrix": matrix.tolist()},
        "classification_report": skm.classification_report(y_true, predicted, output_dict=True, **report_args),
        "classification_report_text": skm.classification_report(y_true, predicted, digits=3, **report_args),
    }


def batched_multiclass_metric(name: str, y_true: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """One macro-averaged metric (as `multiclass_metrics` defines it) along the image axis of stacked arrays.

    Args:
        name: one of METRICS.
        y_true: (..., N) class indices.
        probabilities: (..., N, C) softmax outputs, broadcastable with `y_true` over the leading axes.

    Returns:
        An array of the broadcast leading shape; classes absent from a row are left out of its mean.
    """
    if name not in METRICS:
        raise invalid_argument("name", f"one of {', '.join(METRICS)}", name, error=ValueError)
    probabilities = np.asarray(probabilities, np.float64)
    num_classes = probabilities.shape[-1]
    y_true = np.asarray(y_true, np.int64)
    y_true, _ = np.broadcast_arrays(y_true, probabilities[..., 0])
    predicted = probabilities.argmax(-1)
    if name == "accuracy":
        return (predicted == y_true).mean(-1)
    per_class = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for index in range(num_classes):
            per_class.append(batched_metric("roc_auc" if name == "roc_auc" else ("sensitivity" if name == "balanced_accuracy" else name),
                                            y_true == index, probabilities[..., index] if name == "roc_auc" else (predicted == index).astype(np.float64)))
        stacked = np.stack(per_class, axis=-1)
        present = np.stack([(y_true == index).any(-1) for index in range(num_classes)], axis=-1)
        stacked = np.where(present & np.isfinite(stacked), stacked, np.nan)
        count = np.isfinite(stacked).sum(-1)
        return np.where(count > 0, np.nansum(stacked, -1) / np.maximum(count, 1), np.nan)


def metrics_at_thresholds(y_true, probability, class_names, threshold: float) -> dict:
    """`binary_metrics` at the chosen `threshold`, plus the same at 0.5 under the key `at_threshold_0.5`.

    The top-level keys keep their old meaning for readers of earlier reports (one set of metrics per
    model) and now hold the metrics at the threshold chosen on the validation split.
    """
    chosen = binary_metrics(y_true, probability, class_names, threshold)
    fixed = binary_metrics(y_true, probability, class_names, DEFAULT_THRESHOLD)
    chosen[AT_DEFAULT_THRESHOLD] = {key: fixed[key] for key in ("threshold", *METRICS, "confusion_matrix")}
    return chosen


def batched_metric(name: str, y_true: np.ndarray, probability: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """One metric along the last axis of broadcastable arrays (NaN where it is undefined).

    Args:
        name: one of METRICS.
        y_true: (..., N) of 0 and 1.
        probability: (..., N) positive-class probabilities, broadcastable with `y_true`.
        threshold: a scalar, or an array broadcastable with (..., 1): one threshold per row (seed).

    Returns:
        An array of the broadcast leading shape.
    """
    if name not in METRICS:
        raise invalid_argument("name", f"one of {', '.join(METRICS)}", name, error=ValueError)
    y_true, probability = np.broadcast_arrays(np.asarray(y_true, bool), np.asarray(probability, np.float64))
    num_positive = y_true.sum(-1)
    num_negative = y_true.shape[-1] - num_positive
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "roc_auc":
            ranks = rankdata(probability, axis=-1)
            rank_sum = np.where(y_true, ranks, 0).sum(-1)
            return (rank_sum - num_positive * (num_positive + 1) / 2) / (num_positive * num_negative)
        predicted = probability >= threshold
        true_positive = (predicted & y_true).sum(-1)
        true_negative = (~predicted & ~y_true).sum(-1)
        false_positive = (predicted & ~y_true).sum(-1)
        return _from_counts(name, true_positive, true_negative, false_positive, num_positive, num_negative, y_true.shape[-1])


def _from_counts(name: str, true_positive, true_negative, false_positive, num_positive, num_negative, total: int) -> np.ndarray:
    """A thresholded metric of METRICS from confusion counts (arrays of one shape), NaN where it is undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = true_positive / num_positive
        specificity = true_negative / num_negative
        if name == "accuracy":
            return (true_positive + true_negative) / total
        if name == "sensitivity":
            return sensitivity
        if name == "specificity":
            return specificity
        if name == "balanced_accuracy":
            return (sensitivity + specificity) / 2
        called_positive = true_positive + false_positive
        precision = np.where(called_positive > 0, true_positive / called_positive, 0.0)
        if name == "precision":
            return precision
        # F1 = 2TP / (2TP + FP + FN), 0 when there is no positive at all (scikit-learn's zero_division=0).
        denominator = 2 * true_positive + false_positive + (num_positive - true_positive)
        return np.where(denominator > 0, 2 * true_positive / denominator, 0.0)


def paired_bootstrap(y_true, arm_probability, baseline_probability, metric: str, *, num_resamples: int = 2000,
                     confidence: float = 0.95, seed: int = 0, threshold=DEFAULT_THRESHOLD, baseline_threshold=None,
                     validation=None, choose_thresholds=None) -> dict:
    """The difference arm - baseline in a metric, averaged over seeds, with a percentile bootstrap interval.

    Pairing: seed k of the arm is compared with seed k of the baseline (same splits, same seed),
    on the same test images. Each resample draws test images with replacement (the same draw for
    every seed and both arms) and seed indices with replacement, so the interval covers both the
    choice of test images and the training noise between seeds. With `validation`, each resample
    also draws validation images with replacement (one draw for every model) and re-chooses every
    model's threshold on them with `choose_thresholds`, so the interval includes the noise of the
    threshold, chosen on a validation split as small as the real one.

    Args:
        y_true: (N,) 0/1 test labels.
        arm_probability: (K, N) positive-class probabilities, one row per seed.
        baseline_probability: (K, N), the baseline's, the same seeds in the same order.
        metric: one of METRICS.
        num_resamples: bootstrap resamples.
        confidence: the interval's coverage.
        seed: seeds the resampling.
        threshold: the arm's threshold: a scalar, or (K,) one per seed (each model's own, chosen on validation).
        baseline_threshold: the baseline's, the same way; None: `threshold`.
        validation: None, or (validation labels (V,), the arm's (K, V) and the baseline's (K, V) validation
            probabilities) of binary models: their thresholds are then re-chosen in every resample.
        choose_thresholds: with `validation`, maps (labels (..., V), scores (..., V)) to (...) thresholds
            (`threshold.batched_thresholds`); a NaN (no usable draw) keeps the model's stored threshold. A rule that
            also offers `of_draws(labels, scores (K, V), draw (R, V))` (`threshold.ThresholdRule`) is used through it:
            the same thresholds, counted from each draw instead of sorting its copied-out scores.

    Returns:
        difference (on the full test set, at the stored thresholds), low, high, confidence, num_resamples,
        num_undefined (resamples where the metric was undefined, e.g. no positive image drawn; left out),
        p_value (two-sided, from the resampled differences: twice the smaller share on either side of zero,
        at most 1) and thresholds_resampled (whether the thresholds were re-chosen in each resample).
    """
    return paired_bootstrap_metrics(y_true, arm_probability, baseline_probability, (metric,), num_resamples=num_resamples,
                                    confidence=confidence, seed=seed, threshold=threshold, baseline_threshold=baseline_threshold,
                                    validation=validation, choose_thresholds=choose_thresholds)[metric]


def paired_bootstrap_metrics(y_true, arm_probability, baseline_probability, metrics=METRICS, *, num_resamples: int = 2000,
                             confidence: float = 0.95, seed: int = 0, threshold=DEFAULT_THRESHOLD, baseline_threshold=None,
                             validation=None, choose_thresholds=None) -> dict:
    """`paired_bootstrap` of several metrics on the same resamples: {metric: its result}.

    One draw of test images, seeds and validation images (and one re-choice of the thresholds) serves every
    metric of a resample, so each metric's interval equals the one `paired_bootstrap` gives it alone.
    """
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise invalid_argument("metrics", f"names among {', '.join(METRICS)}", received=f"{metrics!r}", error=ValueError)
    y_true = np.asarray(y_true).reshape(-1)
    arm = np.atleast_2d(np.asarray(arm_probability, np.float64))
    baseline = np.atleast_2d(np.asarray(baseline_probability, np.float64))
    if arm.ndim == 3:  # (seeds, N, classes): softmax outputs, macro-averaged metrics
        return _paired_bootstrap(y_true, arm, baseline, metrics, num_resamples, confidence, seed,
                                 lambda metric, labels, p, _: batched_multiclass_metric(metric, labels, p))
    num_seeds = arm.shape[0]  # the shapes, confidence and resample count are checked in `_paired_bootstrap`
    arm_threshold = np.broadcast_to(np.asarray(threshold, np.float64), (num_seeds,))
    baseline_threshold = arm_threshold if baseline_threshold is None else np.broadcast_to(np.asarray(baseline_threshold, np.float64), (num_seeds,))
    validation = _check_validation(validation, choose_thresholds, metrics, num_seeds)
    return _paired_bootstrap(y_true, arm, baseline, metrics, num_resamples, confidence, seed, batched_metric,
                             arm_threshold, baseline_threshold, validation, choose_thresholds)


def _check_validation(validation, choose_thresholds, metrics, num_seeds: int):
    """The (labels, arm, baseline) validation arrays as float arrays, or None when no metric has a threshold to re-choose."""
    if validation is None or all(m == "roc_auc" for m in metrics):  # ROC-AUC has no threshold to re-choose
        return None
    if choose_thresholds is None:
        raise invalid_argument("choose_thresholds", "the rule that re-chooses thresholds on resampled validation images", received="None",
                               error=ValueError)
    validation_true = np.asarray(validation[0]).reshape(-1)
    validation = (validation_true, *(np.atleast_2d(np.asarray(v, np.float64)) for v in validation[1:]))
    if any(v.shape != (num_seeds, len(validation_true)) for v in validation[1:]):
        raise invalid_argument("validation", f"(seeds, {len(validation_true)}) validation probabilities for both arms",
                               received=f"{validation[1].shape} and {validation[2].shape}", error=ValueError)
    return validation


def paired_bootstrap_over_copies(y_true, arm_probability, baseline_probability, metric: str, *, num_resamples: int = 2000,
                                 confidence: float = 0.95, seed: int = 0, threshold=DEFAULT_THRESHOLD, baseline_threshold=None,
                                 validation=None, choose_thresholds=None) -> dict:
    """`paired_bootstrap` of a metric averaged over several copies of the same test images (a shift suite's corrupted copies).

    Each resample draws the images once for every copy (image i's copies travel together), the seeds and,
    with `validation`, the validation images as `paired_bootstrap` does; the metric is computed on each
    copy and averaged over the copies.

    Args:
        arm_probability: (K, C, N) positive-class probabilities (seed, copy, image), or (K, C, N, classes).
        baseline_probability: the baseline's, the same shape.
        The other arguments as `paired_bootstrap`.
    """
    if metric not in METRICS:
        raise invalid_argument("metric", f"one of {', '.join(METRICS)}", metric, error=ValueError)
    y_true = np.asarray(y_true).reshape(-1)
    arm, baseline = np.asarray(arm_probability, np.float64), np.asarray(baseline_probability, np.float64)
    if arm.ndim not in (3, 4) or arm.shape != baseline.shape:
        raise invalid_argument("arm_probability", f"(seeds, copies, {len(y_true)}) or (seeds, copies, {len(y_true)}, classes), as the baseline's",
                               received=f"{arm.shape} and {baseline.shape}", error=ValueError)
    # (K, N, C, ...): the image axis second, as `_paired_bootstrap` draws it; the copies ride along.
    arm, baseline = np.moveaxis(arm, 1, 2), np.moveaxis(baseline, 1, 2)
    if arm.ndim == 4:  # softmax outputs: macro-averaged metrics, no threshold
        def score(name, labels, p, _):
            return batched_multiclass_metric(name, np.asarray(labels)[..., None, :], np.moveaxis(p, -2, -3)).mean(-1)
        return _paired_bootstrap(y_true, arm, baseline, (metric,), num_resamples, confidence, seed, score)[metric]
    num_seeds = arm.shape[0]
    arm_threshold = np.broadcast_to(np.asarray(threshold, np.float64), (num_seeds,))
    baseline_threshold = arm_threshold if baseline_threshold is None else np.broadcast_to(np.asarray(baseline_threshold, np.float64), (num_seeds,))

    def score(name, labels, p, thresholds):
        return batched_metric(name, np.asarray(labels)[..., None, :], np.moveaxis(p, -1, -2), thresholds[..., None]).mean(-1)
    validation = _check_validation(validation, choose_thresholds, (metric,), num_seeds)
    return _paired_bootstrap(y_true, arm, baseline, (metric,), num_resamples, confidence, seed, score,
                             arm_threshold, baseline_threshold, validation, choose_thresholds)[metric]


def _paired_bootstrap(y_true, arm, baseline, metrics, num_resamples, confidence, seed, score,
                      arm_threshold=None, baseline_threshold=None, validation=None, choose_thresholds=None) -> dict:
    """The resampling of `paired_bootstrap_metrics`.

    `score(metric, labels, probabilities, thresholds)` is the metric along the image axis, `thresholds`
    broadcastable with the leading axes (each seed's own); the thresholds are None for softmax outputs.
    `validation` and `choose_thresholds` as in `paired_bootstrap` (checked there).
    """
    if arm.shape != baseline.shape or arm.shape[1] != len(y_true):
        raise invalid_argument("arm_probability", f"the baseline's shape (seeds, {len(y_true)}, ...)", received=f"{arm.shape} and {baseline.shape}",
                               error=ValueError)
    if not 0 < confidence < 1:
        raise invalid_argument("confidence", "a float in (0, 1)", received=f"confidence={confidence}", error=ValueError)
    if num_resamples < 1:
        raise invalid_argument("num_resamples", "a positive integer", received=f"num_resamples={num_resamples}", error=ValueError)
    num_seeds, num_images = arm.shape[:2]
    num_classes = int(np.prod(arm.shape[2:]))  # classes (softmax), copies (a shift suite) or both

    def cut(thresholds, rows):
        return None if thresholds is None else thresholds[rows][..., None]

    def rechosen(stored, validation_probability, draw):
        """(count, K) thresholds of every seed's model re-chosen on the drawn validation images; the stored one where
        none can be chosen."""
        of_draws = getattr(choose_thresholds, "of_draws", None)
        if of_draws is not None:
            chosen = of_draws(validation[0], validation_probability, draw)
        else:
            chosen = choose_thresholds(validation[0][draw][:, None, :], validation_probability[:, draw].swapaxes(0, 1))
        return np.where(np.isfinite(chosen), chosen, stored[None, :])

    every_seed = np.arange(num_seeds)
    point = {m: float(np.mean(score(m, y_true, arm, cut(arm_threshold, every_seed)) - score(m, y_true, baseline, cut(baseline_threshold, every_seed))))
             for m in metrics}
    # Binary scores are counted: a draw of test images is a multiset, so each metric comes from how often each image
    # was drawn, never from the drawn copies of the scores (the same counts, so the same values to the bit).
    counted = arm_threshold is not None and np.isfinite(arm).all() and np.isfinite(baseline).all()
    if counted:
        labels_true = np.asarray(y_true, bool)
        drawn_arm, drawn_baseline = _DrawScorer(arm, labels_true), _DrawScorer(baseline, labels_true)
    rng = np.random.default_rng(seed)
    # Resamples in chunks of about 2 million values, to bound memory on large test sets.
    chunk = max(1, 2_000_000 // (num_seeds * num_images * num_classes))
    differences = {m: [] for m in metrics}
    for start in range(0, num_resamples, chunk):
        count = min(chunk, num_resamples - start)
        images = rng.integers(0, num_images, (count, num_images))
        seeds = rng.integers(0, num_seeds, (count, num_seeds))
        # Every threshold is one seed's model's: (count, K) per seed, or None for softmax outputs.
        stored = tuple(None if t is None else np.broadcast_to(t, (count, num_seeds)) for t in (arm_threshold, baseline_threshold))
        chosen = stored
        if validation is not None:
            validation_true, arm_validation, baseline_validation = validation
            draw = rng.integers(0, len(validation_true), (count, len(validation_true)))
            chosen = rechosen(arm_threshold, arm_validation, draw), rechosen(baseline_threshold, baseline_validation, draw)
        if counted:
            counts = draw_counts(images, num_images)
            for m in metrics:
                cuts = stored if m == "roc_auc" else chosen
                per_seed = [scorer(m, counts, thresholds) for scorer, thresholds in ((drawn_arm, cuts[0]), (drawn_baseline, cuts[1]))]
                slots = [np.take_along_axis(values, seeds.reshape(seeds.shape + (1,) * (values.ndim - 2)), 1) for values in per_seed]
                if arm.ndim > 2:  # copies of the test images (a shift suite): the metric averaged over them
                    slots = [values.mean(-1) for values in slots]
                differences[m].append((slots[0] - slots[1]).mean(axis=1))
            continue
        rows, columns, labels = seeds[:, :, None], images[:, None, :], y_true[images][:, None, :]
        arm_drawn, baseline_drawn = arm[rows, columns], baseline[rows, columns]
        for m in metrics:
            cuts = stored if m == "roc_auc" else chosen
            slot_cuts = [None if c is None else np.take_along_axis(c, seeds, 1)[..., None] for c in cuts]
            per_seed = score(m, labels, arm_drawn, slot_cuts[0]) - score(m, labels, baseline_drawn, slot_cuts[1])
            differences[m].append(per_seed.mean(axis=1))
    results = {}
    for m in metrics:
        drawn = np.concatenate(differences[m])
        defined = drawn[np.isfinite(drawn)]
        tail = (1 - confidence) / 2 * 100
        low, high = np.percentile(defined, [tail, 100 - tail]) if len(defined) else (math.nan, math.nan)
        p_value = min(1.0, 2 * min((defined <= 0).mean(), (defined >= 0).mean())) if len(defined) else math.nan
        results[m] = {"metric": m, "difference": point[m], "low": float(low), "high": float(high), "confidence": confidence,
                      "num_resamples": int(num_resamples), "num_undefined": int(len(drawn) - len(defined)),
                      "p_value": float(p_value), "thresholds_resampled": validation is not None and m != "roc_auc"}
    return results


def draw_counts(draws: np.ndarray, size: int) -> np.ndarray:
    """(R, size): how often each of `size` items appears in each row of (R, n) draws with replacement."""
    rows = len(draws)
    return np.bincount((draws + size * np.arange(rows)[:, None]).ravel(), minlength=rows * size).reshape(rows, size)


class _DrawScorer:
    """Binary metrics of one arm's models on bootstrap draws of the test images, from the draws' counts.

    `probability` is (K, N, ...): K seeds' models, N test images, and optionally copies of them (a shift suite). A
    thresholded metric counts the drawn images called positive, each as often as it was drawn; ROC-AUC sums the drawn
    positives' tie-averaged ranks the same way. Integer counts, then `_from_counts` and the Mann-Whitney form as in
    `batched_metric`: the same values as scoring the drawn copies, to the bit.
    """

    def __init__(self, probability: np.ndarray, labels: np.ndarray):
        self.labels, self.size = labels, len(labels)
        self.scores = np.ascontiguousarray(np.moveaxis(probability, 1, -1))  # (K, ..., N)
        self.ranked = None

    def __call__(self, metric: str, counts: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """(R, K, ...) values of `metric` on the draws of `counts` (R, N), each model at its (R, K) thresholds."""
        num_positive = counts @ self.labels.astype(np.int64)
        num_negative = self.size - num_positive
        if metric == "roc_auc":
            return self._roc_auc(counts, num_positive, num_negative)
        # Counts of at most N drawn images: exact in float32 below 2**24 images, so a matrix product adds them up.
        exact = np.float32 if self.size < 2**24 else np.float64
        weights = np.stack([counts * self.labels, counts * ~self.labels], 2).astype(exact)  # (R, N, 2)
        extra = self.scores.ndim - 2
        values = []
        for k, scores in enumerate(self.scores):
            called = np.empty((len(counts),) + scores.shape, exact)  # (R, ..., N): 1 where the image is called positive
            np.greater_equal(scores[None], thresholds[:, k].reshape((-1,) + (1,) * (extra + 1)), out=called, casting="unsafe")
            flat = called.reshape(len(counts), -1, self.size)
            confusion = np.rint(flat @ weights).astype(np.int64)  # (R, copies, 2): positives and negatives called
            shape = (len(counts),) + scores.shape[:-1]
            true_positive, false_positive = confusion[..., 0].reshape(shape), confusion[..., 1].reshape(shape)
            positives, negatives = (n.reshape((-1,) + (1,) * extra) for n in (num_positive, num_negative))
            values.append(_from_counts(metric, true_positive, negatives - false_positive, false_positive, positives, negatives, self.size))
        return np.stack(values, 1)

    def _roc_auc(self, counts, num_positive, num_negative) -> np.ndarray:
        if self.ranked is None:  # per model: the ascending order and where each run of equal scores starts
            self.ranked = []
            for scores in self.scores.reshape(-1, self.size):
                order = np.argsort(scores, kind="stable")
                ordered = scores[order]
                starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
                self.ranked.append((order, starts, self.labels[order].astype(np.int64)))
        values = []
        for order, starts, labels in self.ranked:
            drawn = counts[:, order]
            tied = np.add.reduceat(drawn, starts, axis=1)  # images drawn per run of equal scores
            positive = np.add.reduceat(drawn * labels, starts, axis=1)
            below = np.cumsum(tied, 1) - tied
            # A run of m drawn scores above `below` others takes ranks below + 1 ... below + m: on average below + (m + 1) / 2.
            rank_sum = (positive * (2 * below + tied + 1)).sum(1) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                values.append((rank_sum - num_positive * (num_positive + 1) / 2) / (num_positive * num_negative))
        return np.stack(values, 1).reshape((len(counts),) + self.scores.shape[:-1])


def mcnemar_exact(reference_correct, arm_correct) -> dict:
    """McNemar's exact test: do two models err on different images more often one way than the other?

    Only the discordant images count: `reference_only` (the reference right, the arm wrong) and
    `arm_only`. Under the null hypothesis each discordant image goes either way with probability
    1/2, so the two-sided p-value is scipy's exact binomial test of `arm_only` in the discordant total.

    Returns:
        reference_only, arm_only, both_correct, both_wrong and p_value (1.0 without discordant images).
    """
    reference_correct = np.asarray(reference_correct, bool).reshape(-1)
    arm_correct = np.asarray(arm_correct, bool).reshape(-1)
    if reference_correct.shape != arm_correct.shape:
        raise invalid_argument("arm_correct", f"{len(reference_correct)} values, one per image", received=f"{len(arm_correct)}", error=ValueError)
    reference_only = int((reference_correct & ~arm_correct).sum())
    arm_only = int((~reference_correct & arm_correct).sum())
    discordant = reference_only + arm_only
    p_value = binomtest(arm_only, discordant, 0.5).pvalue if discordant else 1.0
    return {"reference_only": reference_only, "arm_only": arm_only,
            "both_correct": int((reference_correct & arm_correct).sum()),
            "both_wrong": int((~reference_correct & ~arm_correct).sum()), "p_value": float(p_value)}


def summarize_runs(values) -> dict:
    """Mean and sample standard deviation (ddof 1; 0 for one value) of a metric over seeds, NaNs left out."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if len(values) == 0:
        return {"mean": math.nan, "std": math.nan, "num_runs": 0}
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(values.mean()), "std": std, "num_runs": int(len(values))}


def holm_adjust(p_values: dict) -> dict:
    """Holm's step-down adjustment of a family of p-values (Holm, 1979): same keys, adjusted values.

    The i-th smallest of m p-values is multiplied by m - i + 1, and each adjusted value is at least
    the one before it (and at most 1). A NaN stays NaN and is not counted in m.
    """
    defined = sorted((value, key) for key, value in p_values.items() if value == value)
    adjusted, running = {key: math.nan for key in p_values}, 0.0
    for rank, (value, key) in enumerate(defined):
        running = max(running, min(1.0, (len(defined) - rank) * value))
        adjusted[key] = running
    return adjusted


def minimum_detectable_effect(half_width: float, confidence: float = 0.95, power: float = 0.8, family_size: int = 1) -> float:
    """The true difference that a paired interval of this half-width detects with probability `power` (normal approximation).

    The half-width is z(1 - alpha/2) standard errors; a true difference D is detected (the interval
    excludes zero on its side) when the estimate lands beyond z(1 - alpha/2) standard errors, which
    happens with probability `power` for D = (z(1 - alpha/2) + z(power)) standard errors: about 1.43
    half-widths at 95% and 80%. With Holm over `family_size` comparisons, the first must clear
    alpha / family_size: the larger value returned then is the strictest case.
    """
    if not (half_width == half_width and math.isfinite(half_width)):
        return math.nan
    alpha = 1 - confidence
    standard_error = half_width / norm.ppf(1 - alpha / 2)
    return float((norm.ppf(1 - alpha / (2 * family_size)) + norm.ppf(power)) * standard_error)
