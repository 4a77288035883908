"""The statistics of an arms x seeds comparison: per-arm mean and spread, and paired differences to the baseline.

Pure: takes the scored runs, returns a JSON-ready dict; `report.py` writes and plots it.
"""

import math

import numpy as np

from .metrics import METRICS, mcnemar_exact, paired_bootstrap, summarize_runs

# The differences the report states in words; all METRICS get an interval in report.json.
HEADLINE_METRICS = ("balanced_accuracy", "roc_auc", "sensitivity", "specificity")
PER_CLASS_METRICS = ("sensitivity", "specificity", "roc_auc")  # per class, one-vs-rest, with three or more classes
NUM_RESAMPLES = 2000
CONFIDENCE = 0.95
SIGNIFICANCE = 0.05


def verdict(interval: dict) -> str:
    """"better", "worse" or "within noise": whether the interval of arm - baseline excludes zero."""
    low, high = interval["low"], interval["high"]
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undefined"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "within noise"


def compare_arms(runs, experiment, seed: int = 0, baseline: str = "baseline") -> dict:
    """Summarize every arm and compare each with the baseline arm, paired over test images and seeds.

    Args:
        runs: ArmRun objects: every arm has the same seeds, scored on the same test images.
        experiment: the shared data (test labels, positive class, splits).
        seed: seeds the bootstrap.
        baseline: the arm the others are compared with.

    Returns:
        A dict with the test set's make-up, per-arm runs and mean/std per metric, `comparisons`: per
        non-baseline arm a `paired_comparison` with the baseline, and `gan_vs_oversample` when both
        arms ran.
    """
    y_true = test_targets(experiment)
    arms = list(dict.fromkeys(run.arm for run in runs))
    by_arm = {arm: sorted((r for r in runs if r.arm == arm), key=lambda r: r.seed) for arm in arms}
    seeds = [r.seed for r in by_arm[arms[0]]]
    for arm, arm_runs in by_arm.items():
        if [r.seed for r in arm_runs] != seeds:
            raise ValueError(f"Invalid value received for argument `runs`. Expected the same seeds {seeds} for every arm. Received: {arm} with {[r.seed for r in arm_runs]}")
    probabilities = {arm: np.stack([r.probabilities for r in arm_runs]) for arm, arm_runs in by_arm.items()}
    report = {
        "dataset": str(experiment.dataset.source),
        "dataset_fingerprint": experiment.dataset.fingerprint,
        "splits": str(experiment.splits.path),
        "class_names": experiment.class_names,
        "positive_class": experiment.positive,
        "seeds": seeds,
        "baseline": baseline,
        "test_set": {**_test_counts(y_true, experiment),
                     "source": f"test split of {experiment.splits.path}: real images only, none read by the classifier or by any GAN"},
        "validation_set": {"num_images": len(experiment.validation), "use": "early stopping (best weights restored)"},
        "arms": {},
        "comparisons": {},
    }
    for arm, arm_runs in by_arm.items():
        report["arms"][arm] = {
            "training_set": arm_runs[0].training_set,
            "runs": [{"seed": r.seed, "best_epoch": r.best_epoch, "epochs_trained": len(r.history), "seconds": round(r.seconds, 2),
                      "run_dir": str(r.run_dir),
                      "metrics": {m: r.metrics[m] for m in METRICS}, "confusion_matrix": r.metrics["confusion_matrix"]["matrix"]}
                     for r in arm_runs],
            "summary": {m: summarize_runs([r.metrics[m] for r in arm_runs]) for m in METRICS},
        }
        if experiment.positive is None:  # three or more classes: per class: mean and std over seeds of its one-vs-rest metrics
            report["arms"][arm]["per_class"] = {
                name: {m: summarize_runs([r.metrics["per_class"][name][m] for r in arm_runs]) for m in PER_CLASS_METRICS}
                for name in experiment.class_names}
    if baseline not in probabilities:
        return report
    for arm in arms:
        if arm != baseline:
            report["comparisons"][arm] = paired_comparison(y_true, probabilities[arm], probabilities[baseline], seeds, seed)
    if "gan" in probabilities and "oversample" in probabilities:
        # A GAN is only worth its cost where it beats repeating the real minority images.
        report["gan_vs_oversample"] = paired_comparison(y_true, probabilities["gan"], probabilities["oversample"], seeds, seed)
    return report


def test_targets(experiment) -> np.ndarray:
    """The test images' targets: 0/1 for the positive class, or class indices when there is none (three or more classes)."""
    if experiment.positive is None:
        return experiment.test.class_indices(experiment.class_names)
    return experiment.test.targets(experiment.positive)


def _test_counts(y_true: np.ndarray, experiment) -> dict:
    """The test set's size, and its positive and negative counts (binary) or its count per class."""
    if experiment.positive is None:
        return {"num_images": int(len(y_true)),
                "num_per_class": {name: int((y_true == index).sum()) for index, name in enumerate(experiment.class_names)}}
    return {"num_images": int(len(y_true)), "num_positive": int(y_true.sum()), "num_negative": int(len(y_true) - y_true.sum())}


def correct_calls(probabilities: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Whether each image is called right: positive probability at 0.5 for a binary model, the top class for a softmax."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 2:  # (N, classes)
        return probabilities.argmax(axis=1) == y_true
    return (probabilities >= 0.5) == y_true


def paired_comparison(y_true: np.ndarray, arm: np.ndarray, reference: np.ndarray, seeds: list[int], seed: int = 0) -> dict:
    """Arm against a reference arm, both (seeds, N) probabilities on the same test images.

    With three or more classes, (seeds, N, classes) softmax outputs and macro-averaged metrics.

    Returns:
        differences (a bootstrap interval per metric), verdicts, and McNemar's exact test per seed
        and on the seed-averaged (ensemble) predictions, with the two ensembles' accuracies.
    """
    intervals = {m: paired_bootstrap(y_true, arm, reference, m, num_resamples=NUM_RESAMPLES, confidence=CONFIDENCE, seed=seed)
                 for m in METRICS}
    per_seed = [{"seed": s, **mcnemar_exact(correct_calls(reference[k], y_true), correct_calls(arm[k], y_true))} for k, s in enumerate(seeds)]
    ensemble_arm, ensemble_reference = arm.mean(0), reference.mean(0)
    return {
        "differences": intervals,
        "verdicts": {m: verdict(intervals[m]) for m in METRICS},
        "mcnemar": {"per_seed": per_seed, "ensemble": mcnemar_exact(correct_calls(ensemble_reference, y_true), correct_calls(ensemble_arm, y_true)),
                    "ensemble_accuracy": {"reference": float(correct_calls(ensemble_reference, y_true).mean()),
                                          "arm": float(correct_calls(ensemble_arm, y_true).mean())}},
    }
