"""The comparison's shift suite: every model scored on corrupted copies of the internal test split, at its stored threshold.

The copies come from `measures.corruptions` (MedMNIST-C's PneumoniaMNIST corruptions and patient
positioning), built once per comparison from the comparison's seed. Each model's probabilities on
them are summarized per corruption (the mean over severities), over corruptions, and as the drop
from the clean test split; the arms are compared with the baseline on the primary metric averaged
over every copy (a paired bootstrap that draws an image's copies together, with thresholds re-chosen
on resampled validation images as for the clean comparison). A proxy for a change of machine or
site, never an external validation: the images, patients and labels stay those of the test split.
"""

import time

import numpy as np

from ..measures.corruptions import CORRUPTIONS, corrupt
from .calibration import expected_calibration_error
from .metrics import METRICS, PRIMARY_METRIC, batched_metric, batched_multiclass_metric, paired_bootstrap_over_copies, summarize_runs

# MedMNIST-C's mildest, middle and harshest severity: three of its five keep the suite's cost (every model predicts
# every copy) near a third of a model's test-time cost per corruption, and span the same range.
SUITE_SEVERITIES = (1, 3, 5)
PROXY_NOTE = ("corrupted copies of the internal test split (the same images, patients and labels): a proxy for a change "
              "of machine or site, not an external validation")


# The copies are built once and kept when they fit in this much memory (48 copies of PneumoniaMNIST's 524 test images
# at 32 px take 26 MB); larger suites (big test splits, a backbone's 224 px) are rebuilt copy by copy for each model.
KEEP_COPIES_BYTES = 512 * 2 ** 20


def suite_keys(severities=SUITE_SEVERITIES) -> list[tuple[str, int]]:
    """The suite's (corruption, severity) of every copy, every corruption of the registry at each of `severities`."""
    return [(name, severity) for name in CORRUPTIONS for severity in severities]


def suite_copies(images: np.ndarray, seed: int = 0, severities=SUITE_SEVERITIES) -> tuple[list[tuple[str, int]], np.ndarray]:
    """The suite's (corruption, severity) keys and the copies of (N, S, S) uint8 images, stacked (C, N, S, S)."""
    keys = suite_keys(severities)
    return keys, np.stack([corrupt(images, name, severity, seed) for name, severity in keys])


def copy_metrics(y_true: np.ndarray, probabilities: np.ndarray, threshold: float | None) -> dict[str, np.ndarray]:
    """Every metric on each copy: (C, N) positive-class probabilities at `threshold`, or (C, N, classes) softmax outputs."""
    if threshold is None:
        return {m: batched_multiclass_metric(m, y_true, probabilities) for m in METRICS}
    return {m: batched_metric(m, y_true, probabilities, threshold) for m in METRICS}


def summarize_copies(keys, values: dict[str, np.ndarray], clean: dict) -> dict:
    """One model's suite: per corruption the mean over severities, the mean over corruptions, the drop from clean.

    Args:
        keys: the (corruption, severity) of each copy.
        values: {metric: (C,) values}, one per copy.
        clean: {metric: value} on the clean test split.
    """
    names = list(dict.fromkeys(name for name, _ in keys))
    per_corruption = {name: {m: float(np.nanmean([v for (n, _), v in zip(keys, values[m]) if n == name])) for m in values}
                      for name in names}
    per_severity = {name: {str(severity): {m: float(values[m][index]) for m in values}
                           for index, (n, severity) in enumerate(keys) if n == name} for name in names}
    mean = {m: float(np.nanmean([per_corruption[name][m] for name in names])) for m in values}
    return {"per_corruption": per_corruption, "per_severity": per_severity, "mean": mean,
            "drop": {m: float(clean[m] - mean[m]) for m in values if m in clean}}


def keep_copies(images: np.ndarray, seed: int = 0, severities=SUITE_SEVERITIES) -> list[np.ndarray] | None:
    """The suite's copies of `images`, made once to score several models on, when together they fit KEEP_COPIES_BYTES;
    None when they do not (each model then corrupts one copy at a time, `shift_scores`)."""
    keys = suite_keys(severities)
    if len(keys) * images.nbytes > KEEP_COPIES_BYTES:
        return None
    return [corrupt(images, name, severity, seed) for name, severity in keys]


def shift_scores(model, images: np.ndarray, seed: int = 0, tta: bool = False, kept: list[np.ndarray] | None = None,
                 severities=SUITE_SEVERITIES) -> np.ndarray:
    """One model's probabilities on the suite's copies of `images`, stacked (copies, images[, classes]): the `kept` copies
    (`keep_copies`), or each copy made, scored and let go in turn, so that a large test split's 48 copies are never held
    at once."""
    from .train import predict_probabilities

    keys = suite_keys(severities)
    return np.stack([predict_probabilities(model, kept[index] if kept is not None else corrupt(images, name, severity, seed), tta=tta)
                     for index, (name, severity) in enumerate(keys)])


def score_shift_suite(runs, experiment, tta: bool = False, seed: int = 0, target_sensitivity: float | None = None,
                      severities=SUITE_SEVERITIES, num_resamples: int = 2000, baseline: str = "baseline",
                      scores: dict | None = None) -> dict:
    """Score every run's saved model on the suite and compare the arms with the baseline there.

    Args:
        runs: the comparison's ArmRun objects (saved models in `run_dir`, the same seeds for every arm).
        experiment: the comparison's data (test split, validation split, classes).
        tta: score each copy with test-time augmentation, as the test split was.
        seed: seeds the corruptions and the bootstrap.
        target_sensitivity: the rule the bootstrap re-chooses thresholds by (None: Youden's J), as the models' was.
        scores: {(arm, seed): `shift_scores` of that run's model} already computed (by the worker that trained it,
            with the same copies); the runs missing from it are loaded and scored here.

    Returns:
        A JSON-ready record: what the suite is (note, corruptions and their parameters, severities, seed), per arm
        the per-seed summaries and their mean ± std, and `comparisons`: per non-baseline arm the paired interval of
        the primary metric averaged over every copy, with the Holm-adjusted verdict over those comparisons.
    """
    from .compare import SIGNIFICANCE, side_by_side, test_targets
    from .metrics import holm_adjust
    from .threshold import ThresholdRule

    start = time.perf_counter()
    images = np.asarray(experiment.test.images)
    keys = suite_keys(severities)
    num_copies, num_images = len(keys), len(images)
    scored_here = [run for run in runs if scores is None or (run.arm, run.seed) not in scores]
    kept = keep_copies(images, seed, severities) if scored_here else None
    y_true = test_targets(experiment)
    probabilities, per_seed = {}, {}
    for run in sorted(runs, key=lambda r: r.seed):
        if scores is not None and (run.arm, run.seed) in scores:
            run_scores = scores[(run.arm, run.seed)]
        else:  # Keras only here: with every model scored in its worker, this process never starts TensorFlow
            import keras

            from .saving import load_classifier

            run_scores = shift_scores(load_classifier(run.run_dir), images, seed, tta, kept, severities)
            keras.backend.clear_session()
        probabilities.setdefault(run.arm, []).append(run_scores)
        record = summarize_copies(keys, copy_metrics(y_true, run_scores, run.threshold), {m: run.metrics[m] for m in METRICS})
        eces = [expected_calibration_error(y_true, copy) for copy in run_scores]
        record["ece_mean"] = float(np.mean(eces))
        per_seed.setdefault(run.arm, []).append({"seed": run.seed, "threshold": run.threshold, **record})
    arms = list(dict.fromkeys(run.arm for run in runs))
    names = list(dict.fromkeys(name for name, _ in keys))
    report = {"note": PROXY_NOTE, "seed": seed, "severities": list(severities), "num_images": int(num_images),
              "num_copies": int(num_copies), "tta": tta,
              "corruptions": {name: {"stands_for": CORRUPTIONS[name].stands_for,
                                     "parameters": {str(s): CORRUPTIONS[name].severities[s - 1] for s in severities}} for name in names},
              "arms": {}, "comparisons": {}}
    for arm in arms:
        seeds = per_seed[arm]
        report["arms"][arm] = {
            "runs": seeds,
            "per_corruption": {name: {m: summarize_runs([s["per_corruption"][name][m] for s in seeds]) for m in METRICS} for name in names},
            "mean": {m: summarize_runs([s["mean"][m] for s in seeds]) for m in METRICS},
            "drop": {m: summarize_runs([s["drop"][m] for s in seeds]) for m in METRICS},
            "ece_mean": summarize_runs([s["ece_mean"] for s in seeds])}

    if baseline not in probabilities:
        report["seconds"] = round(time.perf_counter() - start, 1)
        return report
    by_arm = {arm: sorted((r for r in runs if r.arm == arm), key=lambda r: r.seed) for arm in arms}
    binary = experiment.positive is not None
    resample = binary and all(r.validation_probabilities is not None for r in runs)
    validation_true = experiment.validation.targets(experiment.positive) if resample else None

    def thresholds(arm):
        return np.array([r.threshold for r in by_arm[arm]], np.float64) if binary else None

    def compare(arm):
        pair = ((validation_true, np.stack([r.validation_probabilities for r in by_arm[arm]]),
                 np.stack([r.validation_probabilities for r in by_arm[baseline]])) if resample else None)
        return paired_bootstrap_over_copies(
            y_true, np.stack(probabilities[arm]), np.stack(probabilities[baseline]), PRIMARY_METRIC, num_resamples=num_resamples,
            seed=seed, threshold=0.5 if not binary else thresholds(arm), baseline_threshold=None if not binary else thresholds(baseline),
            validation=pair, choose_thresholds=ThresholdRule(target_sensitivity))

    compared = side_by_side(compare, [(arm,) for arm in arms if arm != baseline])
    report["comparisons"] = {arm: compared[arm,] for arm in arms if arm != baseline}
    adjusted = holm_adjust({arm: c["p_value"] for arm, c in report["comparisons"].items()})
    for arm, comparison in report["comparisons"].items():
        comparison["adjusted_p_value"] = adjusted[arm]
        comparison["family_size"] = len(report["comparisons"])
        if adjusted[arm] != adjusted[arm]:
            comparison["verdict"] = "undefined"
        elif adjusted[arm] < SIGNIFICANCE and comparison["difference"] != 0:
            comparison["verdict"] = "better" if comparison["difference"] > 0 else "worse"
        else:
            comparison["verdict"] = "within noise"
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report
