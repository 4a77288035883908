"""The statistics of an arms x seeds comparison: per-arm mean and spread, and paired differences to the baseline.

Pure: takes the scored runs, returns a JSON-ready dict; `report.py` writes and plots it.
"""

import copy
import math

import numpy as np

from ..errors import invalid_argument
from .arms import uses_synthetic
from .calibration import BINNING, calibration_metrics
from .metrics import (AT_DEFAULT_THRESHOLD, METRICS, PRIMARY_METRIC, holm_adjust, mcnemar_exact, metrics_at_thresholds, minimum_detectable_effect,
                      multiclass_metrics, paired_bootstrap_metrics, summarize_runs)
from .threshold import ThresholdRule, choose_threshold

# The differences the report states in words; all METRICS get an interval in report.json.
HEADLINE_METRICS = ("balanced_accuracy", "roc_auc", "sensitivity", "specificity")
PER_CLASS_METRICS = ("sensitivity", "specificity", "roc_auc")  # per class, one-vs-rest, with three or more classes
NUM_RESAMPLES = 2000
CONFIDENCE = 0.95
SIGNIFICANCE = 0.05
POWER = 0.8  # the power at which the report states the minimum detectable effect
SECONDARY_METRICS = tuple(m for m in METRICS if m != PRIMARY_METRIC)


def primary_metric_record() -> dict:
    """report.json's `primary_metric` (the metric's name, which study_report reads) and `primary_metric_details`.

    The details: where its threshold comes from, the secondary metrics, and the rule.
    """
    return {"primary_metric": PRIMARY_METRIC, "primary_metric_details": _primary_metric_details()}


def _primary_metric_details() -> dict:
    return {"name": PRIMARY_METRIC,
            "threshold": "each model's own, chosen on the validation split (Youden's J, or --target-sensitivity); never on test images",
            "secondary": list(SECONDARY_METRICS),
            "rule": f"the verdict of an arm is the verdict of {PRIMARY_METRIC}; the other metrics' intervals are secondary and "
                    "reported for description only (they are correlated, and reading 'helped' off any of them would inflate false positives)"}


def seed_ensemble(runs, experiment, target_sensitivity: float | None = None) -> dict:
    """One arm's seeds: per-seed metrics, their mean ± std, and the seed ensemble scored like one model.

    The ensemble's probability is the mean of the seeds'; its threshold is chosen the same way as a
    single model's, on the mean of the seeds' validation probabilities (never on test images).

    Args:
        runs: ArmRun objects of one arm, each with `validation_probabilities`.
        experiment: the shared data (validation and test labels, class names).
        target_sensitivity: None for Youden's J.

    Returns:
        A JSON-ready dict: seeds, runs (seed, threshold, metrics, metrics at 0.5), summary and
        summary at 0.5 (mean/std per metric), ensemble (threshold record, metrics, metrics at 0.5).
    """
    runs = sorted(runs, key=lambda r: r.seed)
    y_true = test_targets(experiment)
    multiclass = experiment.positive is None
    at_default = [] if multiclass else [AT_DEFAULT_THRESHOLD]  # a softmax model has no threshold to move
    record = {"seeds": [r.seed for r in runs], "positive_class": experiment.positive, "class_names": experiment.class_names,
              "num_test_images": int(len(y_true)), **primary_metric_record(),
              "runs": [{"seed": r.seed, "threshold": r.threshold, "best_epoch": r.best_epoch, "epochs_trained": len(r.history),
                        "seconds": round(r.seconds, 2), "run_dir": str(r.run_dir), "metrics": {m: r.metrics[m] for m in METRICS},
                        **{key: {m: r.metrics[key][m] for m in METRICS} for key in at_default}} for r in runs],
              "summary": {m: summarize_runs([r.metrics[m] for r in runs]) for m in METRICS},
              **{"summary_" + key: {m: summarize_runs([r.metrics[key][m] for r in runs]) for m in METRICS} for key in at_default}}
    record["calibration"] = {"binning": BINNING,
                             "runs": [{"seed": r.seed, **calibration_metrics(y_true, r.probabilities)} for r in runs]}
    record["calibration"]["summary"] = {key: summarize_runs([c[key] for c in record["calibration"]["runs"]]) for key in ("ece", "brier")}
    if any(r.validation_probabilities is None for r in runs):
        return record
    probability = np.mean([r.probabilities for r in runs], axis=0)
    record["calibration"]["ensemble"] = calibration_metrics(y_true, probability)
    if multiclass:
        metrics = multiclass_metrics(y_true, probability, experiment.class_names)
        threshold = {"threshold": None, "method": "the most probable class", "fitted_on": None}
    else:
        validation = np.mean([r.validation_probabilities for r in runs], axis=0)
        threshold = choose_threshold(experiment.validation.targets(experiment.positive), validation, target_sensitivity)
        threshold["fitted_on"] = "validation (mean of the seeds' probabilities)"
        metrics = metrics_at_thresholds(y_true, probability, (experiment.negative, experiment.positive), threshold["threshold"])
    record["ensemble"] = {"num_models": len(runs), "threshold": threshold,
                          "metrics": {m: metrics[m] for m in METRICS}, "confusion_matrix": metrics["confusion_matrix"]["matrix"],
                          **{key: {m: metrics[key][m] for m in METRICS} for key in at_default}}
    return record


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


def compare_arms(runs, experiment, seed: int = 0, baseline: str = "baseline", target_sensitivity: float | None = None) -> dict:
    """Summarize every arm and compare each with the baseline arm, paired over test images and seeds.

    Args:
        runs: ArmRun objects: every arm has the same seeds, scored on the same test images.
        experiment: the shared data (test labels, positive class, splits).
        seed: seeds the bootstrap.
        baseline: the arm the others are compared with.
        target_sensitivity: how the ensembles' thresholds are chosen (None: Youden's J), as the models' were.

    Every metric is at each model's own threshold, chosen on the validation split (`runs[i].threshold`);
    the same metrics at 0.5 are under `at_threshold_0.5` / `summary_at_threshold_0.5`. The declared
    primary metric (`primary_metric`) decides each comparison's `primary_verdict`.

    Returns:
        A dict with the test set's make-up, `primary_metric`, per-arm runs, mean/std per metric and the
        seed ensemble (`seed_ensemble`), `comparisons`: per
        non-baseline arm a `paired_comparison` with the baseline, and `gan_vs_oversample` when both
        arms ran.
    """
    y_true = test_targets(experiment)
    arms = list(dict.fromkeys(run.arm for run in runs))
    by_arm = {arm: sorted((r for r in runs if r.arm == arm), key=lambda r: r.seed) for arm in arms}
    seeds = [r.seed for r in by_arm[arms[0]]]
    for arm, arm_runs in by_arm.items():
        if [r.seed for r in arm_runs] != seeds:
            raise invalid_argument("runs", f"the same seeds {seeds} for every arm", received=f"{arm} with {[r.seed for r in arm_runs]}",
                                   error=ValueError)
    probabilities = {arm: np.stack([r.probabilities for r in arm_runs]) for arm, arm_runs in by_arm.items()}
    # Each model's own decision threshold (NaN-free 0.5 placeholders for softmax models, which call the top class).
    thresholds = {arm: np.array([0.5 if r.threshold is None else r.threshold for r in arm_runs], np.float64) for arm, arm_runs in by_arm.items()}
    report = {
        "dataset": str(experiment.dataset.source),
        "dataset_fingerprint": experiment.dataset.fingerprint,
        "splits": str(experiment.splits.path),
        "class_names": experiment.class_names,
        "positive_class": experiment.positive,
        "seeds": seeds,
        "baseline": baseline,
        **primary_metric_record(),
        "test_set": {**_test_counts(y_true, experiment),
                     "source": f"test split of {experiment.splits.path}: real images only, none read by the classifier or by any GAN"},
        "validation_set": {"num_images": len(experiment.validation),
                           "use": "early stopping (best weights restored) and each model's decision threshold"},
        "arms": {},
        "comparisons": {},
    }
    for arm, arm_runs in by_arm.items():
        ensemble = seed_ensemble(arm_runs, experiment, target_sensitivity)
        for run, record in zip(arm_runs, ensemble["runs"]):
            record["confusion_matrix"] = run.metrics["confusion_matrix"]["matrix"]
        report["arms"][arm] = {"training_set": arm_runs[0].training_set,
                               **{key: ensemble[key] for key in ("runs", "summary", "summary_" + AT_DEFAULT_THRESHOLD, "ensemble", "calibration")
                                  if key in ensemble}}
        if experiment.positive is None:  # three or more classes: per class: mean and std over seeds of its one-vs-rest metrics
            report["arms"][arm]["per_class"] = {
                name: {m: summarize_runs([r.metrics["per_class"][name][m] for r in arm_runs]) for m in PER_CLASS_METRICS}
                for name in experiment.class_names}
    if baseline not in probabilities:
        return report

    def ensemble_threshold(arm):
        ensemble = report["arms"][arm].get("ensemble")
        return ensemble["threshold"]["threshold"] if ensemble and ensemble["threshold"]["threshold"] is not None else float(thresholds[arm].mean())

    # Binary models re-choose their thresholds on resampled validation images in every bootstrap resample.
    resample_thresholds = experiment.positive is not None and all(r.validation_probabilities is not None for r in runs)
    validation = {arm: np.stack([r.validation_probabilities for r in arm_runs]) for arm, arm_runs in by_arm.items()} if resample_thresholds else {}
    validation_true = experiment.validation.targets(experiment.positive) if resample_thresholds else None

    def compare(arm, reference):
        pair = (validation_true, validation[arm], validation[reference]) if resample_thresholds else None
        return paired_comparison(y_true, probabilities[arm], probabilities[reference], seeds, seed, thresholds[arm], thresholds[reference],
                                 (ensemble_threshold(arm), ensemble_threshold(reference)), validation=pair,
                                 target_sensitivity=target_sensitivity)

    pairs = [(arm, baseline) for arm in arms if arm != baseline]
    if "gan" in probabilities and "oversample" in probabilities:
        # A GAN is only worth its cost where it beats repeating the real minority images.
        pairs.append(("gan", "oversample"))
    gan_arms = [arm for arm in arms if uses_synthetic(arm)]
    other_arms = [arm for arm in arms if not uses_synthetic(arm)]
    best = None
    if gan_arms and other_arms:
        # The question of issue 11: does the best GAN arm reach the best classic remedy? Each is
        # chosen on the validation split, never on the test images it is then scored on.
        best = best_by_validation(by_arm, gan_arms), best_by_validation(by_arm, other_arms)
        pairs.append(best)
    compared = side_by_side(compare, list(dict.fromkeys(pairs)))
    for arm in arms:
        if arm != baseline:
            report["comparisons"][arm] = copy.deepcopy(compared[arm, baseline])
    if ("gan", "oversample") in pairs:
        report["gan_vs_oversample"] = copy.deepcopy(compared["gan", "oversample"])
    if best is not None:
        report["best_gan_vs_best_other"] = {"arm": best[0], "reference": best[1],
                                            "chosen_by": "mean over seeds of the validation ROC-AUC at each model's best epoch",
                                            **copy.deepcopy(compared[best])}
    adjust_verdicts(report)
    return report


def side_by_side(function, arguments: list[tuple]) -> dict:
    """{arguments: function(*arguments)} for every tuple of `arguments`, computed in threads, one per core.

    For the bootstrap comparisons of a report: each draws from its own seeded generator, so its result does not depend on
    what runs beside it, and NumPy's sorting and array operations, most of their time, run outside the GIL: on two cores
    the default study's shift-suite comparisons took 5.0 s instead of 10.1, the same record to the byte
    (benchmarks/README.md, "The report's tail").
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..runtime.workers import available_cores

    if len(arguments) < 2 or available_cores() < 2:
        return {key: function(*key) for key in arguments}
    with ThreadPoolExecutor(min(available_cores(), len(arguments))) as threads:
        return dict(zip(arguments, threads.map(lambda key: function(*key), arguments)))


def comparison_family(report: dict) -> list[tuple[tuple[str, str], dict]]:
    """((arm, reference), comparison) of every paired comparison of a report: each arm against the baseline, the GAN
    arm against oversampling, the best GAN arm against the best other arm (a pair already listed is listed again,
    with the same numbers, and counts once in the family)."""
    family = [((arm, report["baseline"]), comparison) for arm, comparison in report.get("comparisons", {}).items()]
    if report.get("gan_vs_oversample"):
        family.append((("gan", "oversample"), report["gan_vs_oversample"]))
    best = report.get("best_gan_vs_best_other")
    if best:
        family.append(((best["arm"], best["reference"]), best))
    return family


def adjust_verdicts(report: dict, significance: float = SIGNIFICANCE) -> None:
    """Holm-adjust the primary metric's verdicts over every paired comparison of a report, in place.

    Each comparison gains `holm` (its bootstrap p-value, the adjusted one, the family size) and `power`
    (the interval half-width and the minimum detectable effect at POWER, unadjusted and at Holm's strictest
    level); `verdicts[primary]` and `primary_verdict` become the adjusted verdict, and the interval's own
    verdict moves to `primary_verdict_unadjusted`.
    """
    family = comparison_family(report)
    pairs = {pair: comparison["differences"][PRIMARY_METRIC].get("p_value", math.nan) for pair, comparison in family}
    adjusted = holm_adjust(pairs)
    size = sum(1 for value in pairs.values() if value == value)
    for pair, comparison in family:
        interval = comparison["differences"][PRIMARY_METRIC]
        unadjusted = comparison.get("primary_verdict_unadjusted", comparison["verdicts"][PRIMARY_METRIC])
        if adjusted[pair] != adjusted[pair]:
            holm_verdict = "undefined"
        elif adjusted[pair] < significance and interval["difference"] != 0:
            holm_verdict = "better" if interval["difference"] > 0 else "worse"
        else:
            holm_verdict = "within noise"
        half_width = (interval["high"] - interval["low"]) / 2
        comparison["holm"] = {"metric": PRIMARY_METRIC, "p_value": pairs[pair], "adjusted_p_value": adjusted[pair],
                              "family_size": size, "significance": significance}
        comparison["power"] = {"metric": PRIMARY_METRIC, "interval_half_width": half_width, "power": POWER,
                               "minimum_detectable_effect": minimum_detectable_effect(half_width, interval["confidence"], POWER),
                               "minimum_detectable_effect_holm": minimum_detectable_effect(half_width, interval["confidence"], POWER, max(size, 1)),
                               "formula": "(z(1 - alpha / 2m) + z(power)) x half-width / z(1 - alpha / 2), normal approximation; "
                                          "m = 1 unadjusted, m = the family size at Holm's strictest level"}
        comparison["primary_verdict_unadjusted"] = unadjusted
        comparison["verdicts"][PRIMARY_METRIC] = holm_verdict
        comparison["primary_verdict"] = holm_verdict


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


def correct_calls(probabilities: np.ndarray, y_true: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Whether each image is called right: positive probability at `threshold` for a binary model, the top class for a softmax."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 2:  # (N, classes)
        return probabilities.argmax(axis=1) == y_true
    return (probabilities >= threshold) == y_true


def validation_auc(run) -> float:
    """The validation ROC-AUC of a model at the epoch whose weights it kept (NaN when not logged)."""
    if not run.history or not 1 <= run.best_epoch <= len(run.history):
        return math.nan
    return float(run.history[run.best_epoch - 1].get("val_auc", math.nan))


def best_by_validation(by_arm: dict, arms: list[str]) -> str:
    """The arm among `arms` with the highest mean validation ROC-AUC (the first on a tie or when none is logged)."""
    scores = {arm: float(np.mean([validation_auc(run) for run in by_arm[arm]])) for arm in arms}
    finite = [arm for arm in arms if math.isfinite(scores[arm])]
    return max(finite, key=lambda arm: scores[arm]) if finite else arms[0]


def paired_comparison(y_true: np.ndarray, arm: np.ndarray, reference: np.ndarray, seeds: list[int], seed: int = 0,
                      arm_thresholds=0.5, reference_thresholds=0.5, ensemble_thresholds: tuple[float, float] | None = None,
                      validation=None, target_sensitivity: float | None = None) -> dict:
    """Arm against a reference arm, both (seeds, N) probabilities on the same test images.

    With three or more classes, (seeds, N, classes) softmax outputs and macro-averaged metrics (the
    thresholds are then unused: each image is called its most probable class).

    Args:
        arm_thresholds, reference_thresholds: each model's decision threshold, (seeds,) or one scalar.
        ensemble_thresholds: (arm, reference) thresholds of the seed ensembles (chosen on validation);
            None: the mean of each side's seed thresholds.
        validation: None, or (validation labels, the arm's and the reference's (seeds, V) validation probabilities):
            every bootstrap resample then re-chooses each model's threshold on resampled validation images.
        target_sensitivity: the rule those thresholds are re-chosen by (None: Youden's J), as the models' were.

    Returns:
        differences (a bootstrap interval per metric), verdicts, `primary_verdict` (the verdict of the
        primary metric), and McNemar's exact test per seed and on the seed-averaged predictions (each
        called at its ensemble threshold), with the two ensembles' accuracies.
    """
    arm_thresholds = np.broadcast_to(np.asarray(arm_thresholds, np.float64), (len(seeds),))
    reference_thresholds = np.broadcast_to(np.asarray(reference_thresholds, np.float64), (len(seeds),))
    intervals = paired_bootstrap_metrics(y_true, arm, reference, METRICS, num_resamples=NUM_RESAMPLES, confidence=CONFIDENCE, seed=seed,
                                         threshold=arm_thresholds, baseline_threshold=reference_thresholds,
                                         validation=validation, choose_thresholds=ThresholdRule(target_sensitivity))
    per_seed = [{"seed": s, **mcnemar_exact(correct_calls(reference[k], y_true, reference_thresholds[k]), correct_calls(arm[k], y_true, arm_thresholds[k]))}
                for k, s in enumerate(seeds)]
    ensemble_arm, ensemble_reference = arm.mean(0), reference.mean(0)
    arm_cut, reference_cut = ensemble_thresholds or (float(arm_thresholds.mean()), float(reference_thresholds.mean()))
    verdicts = {m: verdict(intervals[m]) for m in METRICS}
    return {
        "differences": intervals,
        "verdicts": verdicts,
        "primary_metric": PRIMARY_METRIC,
        "primary_verdict": verdicts[PRIMARY_METRIC],
        "mcnemar": {"per_seed": per_seed,
                    "ensemble": mcnemar_exact(correct_calls(ensemble_reference, y_true, reference_cut), correct_calls(ensemble_arm, y_true, arm_cut)),
                    "ensemble_accuracy": {"reference": float(correct_calls(ensemble_reference, y_true, reference_cut).mean()),
                                          "arm": float(correct_calls(ensemble_arm, y_true, arm_cut).mean())}},
    }
