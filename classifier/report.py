"""Writing what the classifier measured: report.json, a readable report.md, and plots.

Plots: training curves (loss and accuracy in separate panels, training dashed, validation solid),
ROC curves per arm (one line per seed), confusion matrices per arm (summed over seeds) and reliability
diagrams per arm (one line per seed).
"""

from pathlib import Path

import numpy as np

from ..runs import write_json, write_text
from .calibration import calibration_metrics
from .compare import HEADLINE_METRICS, PER_CLASS_METRICS, POWER, SECONDARY_METRICS, SIGNIFICANCE, test_targets
from .metrics import AT_DEFAULT_THRESHOLD, PRIMARY_METRIC
from .explain import format_gradcam
from .external_report import external_summary_lines, format_external
from .shift_report import format_shift, shift_summary_lines
from .realism import format_realism
from .figures import (CONFUSION_FILE, CURVES_FILE, RELIABILITY_FILE, ROC_FILE, plot_confusion_matrices, plot_one_vs_rest_roc_curves,
                      plot_reliability_diagrams, plot_roc_curves, plot_training_curves)
from .formatting import METRIC_LABELS, format_metrics, format_number, json_ready


def write_plots(run_dir: Path, runs, experiment) -> list[str]:
    """The three plots of a run folder, from its scored runs; returns the file names."""
    arms = list(dict.fromkeys(r.arm for r in runs))
    by_arm = {arm: sorted((r for r in runs if r.arm == arm), key=lambda r: r.seed) for arm in arms}
    y_true = test_targets(experiment)
    multiclass = experiment.positive is None
    names = experiment.class_names if multiclass else [experiment.negative, experiment.positive]
    plot_training_curves(run_dir / CURVES_FILE, {arm: [(r.seed, r.history, r.best_epoch) for r in rs] for arm, rs in by_arm.items()})
    probabilities = {arm: np.stack([r.probabilities for r in rs]) for arm, rs in by_arm.items()}
    if multiclass:
        plot_one_vs_rest_roc_curves(run_dir / ROC_FILE, y_true, probabilities, names)
    else:
        plot_roc_curves(run_dir / ROC_FILE, y_true, probabilities, experiment.positive, [r.seed for r in by_arm[arms[0]]])
    matrices = {arm: sum(np.asarray(r.metrics["confusion_matrix"]["matrix"]) for r in rs) for arm, rs in by_arm.items()}
    plot_confusion_matrices(run_dir / CONFUSION_FILE, matrices, names, len(by_arm[arms[0]]))
    plot_reliability_diagrams(run_dir / RELIABILITY_FILE,
                              {arm: [(f"seed {r.seed}", calibration_metrics(y_true, r.probabilities)) for r in rs] for arm, rs in by_arm.items()},
                              multiclass)
    return [CURVES_FILE, ROC_FILE, CONFUSION_FILE, RELIABILITY_FILE]


def write_single_report(run_dir: Path, run, experiment) -> str:
    """Plots for a one-model run (its metrics.json is already written); returns the printed summary."""
    write_plots(run_dir, [run], experiment)
    return format_metrics(run.metrics, f"{run.arm} model, seed {run.seed}, best epoch {run.best_epoch} of {len(run.history)}, "
                                       f"tested on the {run.metrics['num_images']} real images of the test split")


def write_ensemble_report(run_dir: Path, report: dict, runs, experiment) -> str:
    """report.json, report.md, metrics.json (the ensemble's) and plots of one arm trained with several seeds; returns the summary."""
    plots = write_plots(run_dir, runs, experiment)
    report = {**report, "arm": runs[0].arm, "plots": plots, "tta": report.get("tta", False)}
    write_json(run_dir / "report.json", json_ready(report))
    write_text(run_dir / "report.md", format_ensemble_report(report))
    if "ensemble" in report:
        write_json(run_dir / "metrics.json", json_ready({**report["ensemble"]["metrics"], AT_DEFAULT_THRESHOLD: report["ensemble"][AT_DEFAULT_THRESHOLD],
                                                         "threshold": report["ensemble"]["threshold"]["threshold"],
                                                         "confusion_matrix": report["ensemble"]["confusion_matrix"],
                                                         "models": [r["run_dir"] for r in report["runs"]],
                                                         "evaluated_on": f"test split of {experiment.splits.path}"}))
    return ensemble_summary(report)


def _seed_table(report: dict) -> list[str]:
    """Markdown rows: one per seed, mean ± std, and the ensemble; metrics at the chosen threshold, primary first."""
    order = (PRIMARY_METRIC, *SECONDARY_METRICS)
    lines = ["| model | threshold | " + " | ".join(METRIC_LABELS[m] + (" (primary)" if m == PRIMARY_METRIC else "") for m in order) + " |",
             "| --- | --- |" + " --- |" * len(order)]
    for run in report["runs"]:
        lines.append(f"| seed {run['seed']} | {format_number(run['threshold'])} | " + " | ".join(format_number(run["metrics"][m]) for m in order) + " |")
    lines.append("| mean ± std | | " + " | ".join(f"{format_number(report['summary'][m]['mean'])} ± {format_number(report['summary'][m]['std'])}" for m in order) + " |")
    if "ensemble" in report:
        ensemble = report["ensemble"]
        lines.append(f"| **ensemble** ({ensemble['num_models']} seeds) | {format_number(ensemble['threshold']['threshold'])} | "
                     + " | ".join(format_number(ensemble["metrics"][m]) for m in order) + " |")
    return lines


def _seed_table_at_default(report: dict) -> list[str]:
    order = (PRIMARY_METRIC, *SECONDARY_METRICS)
    lines = ["| model | " + " | ".join(METRIC_LABELS[m] for m in order) + " |", "| --- |" + " --- |" * len(order)]
    for run in report["runs"]:
        lines.append(f"| seed {run['seed']} | " + " | ".join(format_number(run[AT_DEFAULT_THRESHOLD][m]) for m in order) + " |")
    summary = report["summary_" + AT_DEFAULT_THRESHOLD]
    lines.append("| mean ± std | " + " | ".join(f"{format_number(summary[m]['mean'])} ± {format_number(summary[m]['std'])}" for m in order) + " |")
    if "ensemble" in report:
        lines.append("| **ensemble** | " + " | ".join(format_number(report["ensemble"][AT_DEFAULT_THRESHOLD][m]) for m in order) + " |")
    return lines


def threshold_sentence(method: str | None = None, multiclass: bool = False) -> str:
    """How the thresholds of a report were chosen, for report.md."""
    if multiclass:
        return "Each model (a softmax over the classes) calls an image its most probable class; there is no threshold to choose."
    rule = "the highest threshold reaching the target sensitivity" if method == "target_sensitivity" else "Youden's J (sensitivity + specificity - 1, maximized)"
    return (f"Each model calls an image positive at or above its own threshold, chosen on the validation split by {rule} and stored "
            "with the model (config.json), so `xgan evaluate` and `xgan predict` call images the same way; it is never fitted on test "
            "images. The seed ensemble averages the seeds' probabilities and chooses its threshold the same way, on the mean of their "
            "validation probabilities. report.json: the metric keys hold the values at the chosen threshold; `at_threshold_0.5` holds them at 0.5.")


def format_ensemble_report(report: dict) -> str:
    """report.md of one arm trained with several seeds: per seed, mean ± std and the seed ensemble."""
    method = report.get("ensemble", {}).get("threshold", {}).get("method")
    lines = [f"# Classifier: {report['arm']} arm, {len(report['runs'])} seeds and their ensemble", "",
             f"- positive class: **{report['positive_class']}**; evaluated on the {report['num_test_images']} real images of the test split",
             f"- primary metric: **{METRIC_LABELS[PRIMARY_METRIC]}** at the validation-chosen threshold; the others are secondary",
             f"- test-time augmentation: {'on' if report.get('tta') else 'off'}",
             f"- time: {report.get('seconds', 0):.0f} s", "", threshold_sentence(method, report["positive_class"] is None), "",
             "## At the validation-chosen threshold", ""] + _seed_table(report)
    if "summary_" + AT_DEFAULT_THRESHOLD in report:
        lines += ["", "## At 0.5", ""] + _seed_table_at_default(report)
    lines += format_external(report)
    lines += ["", "## Plots", ""]
    lines += [f"![{name}]({name})" for name in report.get("plots", [])]
    return "\n".join(lines) + "\n"


def ensemble_summary(report: dict) -> str:
    """The lines `xgan classify --seeds N` prints."""
    lines = [f"{report['arm']} arm, seeds {', '.join(map(str, report['seeds']))}, on the {report['num_test_images']} real test images "
             f"(metrics at each model's validation-chosen threshold):"]
    for run in report["runs"]:
        lines.append(f"  seed {run['seed']}: accuracy {format_number(run['metrics']['accuracy'])}, balanced accuracy "
                     f"{format_number(run['metrics']['balanced_accuracy'])}, ROC-AUC {format_number(run['metrics']['roc_auc'], 4)} (threshold {format_number(run['threshold'])})")
    summary = report["summary"]
    lines.append(f"  mean ± std: accuracy {format_number(summary['accuracy']['mean'])} ± {format_number(summary['accuracy']['std'])}, "
                 f"ROC-AUC {format_number(summary['roc_auc']['mean'], 4)} ± {format_number(summary['roc_auc']['std'], 4)}")
    if "ensemble" in report:
        ensemble = report["ensemble"]
        lines.append(f"  ensemble: accuracy {format_number(ensemble['metrics']['accuracy'])}, balanced accuracy {format_number(ensemble['metrics']['balanced_accuracy'])}, "
                     f"ROC-AUC {format_number(ensemble['metrics']['roc_auc'], 4)} (threshold {format_number(ensemble['threshold']['threshold'])})")
    return "\n".join(lines + external_summary_lines(report))


def write_compare_report(run_dir: Path, report: dict, runs, experiment) -> str:
    """report.json, report.md and the plots of a comparison; returns the printed summary."""
    plots = write_plots(run_dir, runs, experiment)
    report = {**report, "plots": plots}
    write_json(run_dir / "report.json", json_ready(report))
    markdown = format_report(report)
    write_text(run_dir / "report.md", markdown)
    return summary_lines(report)


def _composition(training_set: dict) -> str:
    parts = []
    for label, origins in training_set.items():
        detail = " + ".join(f"{n} {origin}" for origin, n in origins.items())
        parts.append(f"{label} {sum(origins.values())} ({detail})")
    return "; ".join(parts)


def plain_sentence(arm: str, reference: str, metric: str, interval: dict, verdict: str, confidence: float, holm: dict | None = None) -> str:
    """One sentence that says what a difference means, stating plainly when it is within noise.

    Args:
        holm: the primary metric's Holm record (`compare.adjust_verdicts`): `verdict` is then the adjusted one.
    """
    label = METRIC_LABELS[metric]
    span = f"{format_number(interval['difference'], signed=True)} ({confidence:.0%} interval {format_number(interval['low'], signed=True)} to {format_number(interval['high'], signed=True)})"
    if verdict == "undefined":
        return f"{arm} vs {reference}, {label}: undefined on this test set."
    excludes_zero = interval["low"] > 0 or interval["high"] < 0
    if holm and holm["family_size"] > 1:
        adjusted = (f"Holm-adjusted p = {format_number(holm['adjusted_p_value'])} over {holm['family_size']} comparisons "
                    f"(unadjusted {format_number(holm['p_value'])})")
        if verdict == "within noise" and excludes_zero:
            return (f"{arm} vs {reference}, {label}: {span}. Within noise after adjusting for {holm['family_size']} comparisons: "
                    f"the interval alone excludes zero, but {adjusted} is not below {holm['significance']}.")
        if verdict == "within noise":
            return f"{arm} vs {reference}, {label}: {span}. Within noise: the interval includes zero ({adjusted}), so this test set and these seeds cannot tell the two apart."
        return f"{arm} vs {reference}, {label}: {span}. The {arm} arm is {verdict}: {adjusted}, below {holm['significance']}."
    if verdict == "within noise":
        return f"{arm} vs {reference}, {label}: {span}. Within noise: the interval includes zero, so this test set and these seeds cannot tell the two apart."
    return f"{arm} vs {reference}, {label}: {span}. The {arm} arm is {verdict}; the interval excludes zero."


def interval_sentence(report: dict, pairs) -> str:
    """How the paired intervals were made: what is resampled, how seeds and thresholds enter, and the Holm adjustment."""
    resampled = any(c["differences"][PRIMARY_METRIC].get("thresholds_resampled") for _, _, c in pairs)
    num_seeds = len(report["seeds"])
    thresholds = ("In every resample each binary model's threshold is re-chosen, by the same rule, on validation images drawn "
                  "with replacement (one draw for every model), so the intervals of the threshold metrics include the noise of "
                  "choosing the threshold on a validation split this small; the point difference uses the stored thresholds. "
                  if resampled else
                  "Each model is held at its stored threshold in every resample (softmax models have none), so threshold noise "
                  "is not in these intervals. ")
    family = max((c.get("holm", {}).get("family_size", 0) for _, _, c in pairs), default=0)
    return ("The interval is a percentile bootstrap (" + f"{pairs[0][2]['differences'][PRIMARY_METRIC]['num_resamples']} resamples), paired: "
            "each resample draws the test images with replacement (the same images for both arms and every seed) and the "
            f"seeds with replacement ({num_seeds} of the {num_seeds}, seed k of the arm always against seed k of the other), and "
            "averages the difference over the drawn seeds. " + thresholds +
            f"Seeds: with {num_seeds} seed(s), resampling them shows only part of the variation between training runs (a handful "
            "of values cannot show its tails), so read the interval as a lower bound on the seed-to-seed noise. "
            f"The primary metric's verdicts are Holm-adjusted over the {family} paired comparison(s) of this report (step-down, "
            f"at {SIGNIFICANCE}, on two-sided bootstrap p-values: twice the share of resampled differences on the far side of zero). "
            f"Interval half-width: half the 95% interval; minimum detectable effect: the true difference detected with "
            f"{POWER:.0%} power, about 1.43 half-widths (normal approximation; more under Holm, see report.json `power`).")


def primary_table(pairs) -> list[str]:
    """Markdown lines: the primary metric per paired comparison, its interval, half-width, detectable effect and Holm verdict."""
    label = METRIC_LABELS[PRIMARY_METRIC]
    lines = [f"| arm | vs | {label} difference (primary) | 95% interval | interval half-width | minimum detectable effect ({POWER:.0%} power) "
             "| p | Holm p | verdict (Holm) | unadjusted verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for arm, reference, comparison in pairs:
        interval = comparison["differences"][PRIMARY_METRIC]
        holm, power = comparison.get("holm", {}), comparison.get("power", {})
        lines.append(f"| {arm} | {reference} | {format_number(interval['difference'], signed=True)} | "
                     f"{format_number(interval['low'], signed=True)} to {format_number(interval['high'], signed=True)} | "
                     f"±{format_number(power.get('interval_half_width', (interval['high'] - interval['low']) / 2))} | "
                     f"{format_number(power.get('minimum_detectable_effect', float('nan')))} | {format_number(holm.get('p_value', float('nan')))} | "
                     f"{format_number(holm.get('adjusted_p_value', float('nan')))} | **{comparison['verdicts'][PRIMARY_METRIC]}** | "
                     f"{comparison.get('primary_verdict_unadjusted', comparison['verdicts'][PRIMARY_METRIC])} |")
    return lines


def calibration_table(report: dict) -> list[str]:
    """Markdown lines: per arm, ECE and Brier score on the test split (mean ± std over seeds, and the seed ensemble)."""
    arms = {arm: data["calibration"] for arm, data in report["arms"].items() if data.get("calibration")}
    if not arms:
        return []
    binning = next(iter(arms.values()))["binning"]
    lines = ["", "## Calibration on the test split", "",
             f"Whether a model's probabilities mean what they say (lower is better for both). Binning: {binning}. Brier score: "
             + ("the mean over images of the squared errors summed over classes (0 to 2)." if report["positive_class"] is None
                else "the mean of (probability - label)² of the positive class.")
             + " An arm that changes the class mix of its training set (oversampling, class weights, synthetic images) moves "
             "its probabilities away from the test split's prevalence: a worse calibration there is expected, and its "
             "validation-chosen threshold, not 0.5, is what corrects the calls. Reliability diagrams: `reliability.png`.", "",
             "| arm | ECE (mean ± std) | Brier score (mean ± std) | ensemble ECE | ensemble Brier score |",
             "| --- | --- | --- | --- | --- |"]
    for arm, calibration in arms.items():
        summary, ensemble = calibration["summary"], calibration.get("ensemble")
        lines.append(f"| {arm} | {format_number(summary['ece']['mean'])} ± {format_number(summary['ece']['std'])} | "
                     f"{format_number(summary['brier']['mean'])} ± {format_number(summary['brier']['std'])} | "
                     f"{format_number(ensemble['ece']) if ensemble else 'n/a'} | {format_number(ensemble['brier']) if ensemble else 'n/a'} |")
    return lines


def paired_comparisons(report: dict) -> list[tuple[str, str, dict]]:
    """(arm, reference arm, comparison) for every paired comparison of a report: each arm vs the baseline, then gan vs oversample."""
    pairs = [(arm, report["baseline"], comparison) for arm, comparison in report["comparisons"].items()]
    if report.get("gan_vs_oversample"):
        pairs.append(("gan", "oversample", report["gan_vs_oversample"]))
    best = report.get("best_gan_vs_best_other")
    if best and best["reference"] != report["baseline"] and (best["arm"], best["reference"]) != ("gan", "oversample"):
        pairs.append((best["arm"], best["reference"], best))
    return pairs


def format_report(report: dict) -> str:
    """The readable report.md."""
    test, seeds = report["test_set"], report["seeds"]
    positive, baseline = report["positive_class"], report["baseline"]
    if positive is None:  # three or more classes
        counts = ", ".join(f"{n} {name}" for name, n in test["num_per_class"].items())
        classes_line = (f"- classes: {', '.join(report['class_names'])} (softmax); sensitivity, specificity, precision, F1 and ROC-AUC are "
                        "macro averages over the classes (one-vs-rest), balanced accuracy the mean per-class sensitivity; per-class results below")
    else:
        negative = next(n for n in report["class_names"] if n != positive)
        counts = f"{test['num_positive']} {positive}, {test['num_negative']} {negative}"
        classes_line = f"- positive class: **{positive}**; sensitivity is the recall of {positive}, specificity the recall of {negative}"
    lines = [
        "# Classifier comparison",
        "",
        f"- dataset: `{report['dataset']}` (fingerprint {report['dataset_fingerprint']}), splits `{report['splits']}`",
        classes_line,
        f"- evaluation: {test['num_images']} real images ({counts}) of the test split; "
        "no synthetic image, no image the classifier trained on, no image any GAN read (checked in code before every training)",
        f"- validation: {report['validation_set']['num_images']} real images, used only to stop early (best weights restored) and to choose each model's threshold",
        f"- primary metric: **{METRIC_LABELS[PRIMARY_METRIC]}** at each model's validation-chosen threshold: it alone gives an arm's verdict; "
        "every other metric is secondary, reported to describe, not to decide",
        f"- seeds: {', '.join(map(str, seeds))}; every arm uses the same splits and the same seeds",
        *([f"- network (every arm): {report['network']}"] if report.get("network") else []),
        f"- time: {report.get('seconds', 0):.0f} s",
        *([f"- GAN images from: {', '.join(f'`{folder}`' for folder in report['synthetic_folders'])}"]
          if report.get("synthetic_folders") else []),
        "",
        "## Arms and their training sets",
        "",
        "| arm | what it trains on | training images |",
        "| --- | --- | --- |",
    ]
    for arm, data in report["arms"].items():
        lines.append(f"| {arm} | {data.get('description', '')} | {_composition(data['training_set'])} |")
    order = (PRIMARY_METRIC, *SECONDARY_METRICS)
    header = "| arm | " + " | ".join(METRIC_LABELS[m] + (" (primary)" if m == PRIMARY_METRIC else "") for m in order) + " |"
    lines += ["", f"## Results on the test split (mean ± std over {len(seeds)} seed(s), and the seed ensemble)", "",
              threshold_sentence(multiclass=positive is None), "", header, "| --- |" + " --- |" * len(order)]
    for arm, data in report["arms"].items():
        cells = [f"{format_number(data['summary'][m]['mean'])} ± {format_number(data['summary'][m]['std'])}" for m in order]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        if data.get("ensemble"):
            lines.append(f"| {arm} ensemble | " + " | ".join(format_number(data["ensemble"]["metrics"][m]) for m in order) + " |")
    at_default = "summary_" + AT_DEFAULT_THRESHOLD
    if all(at_default in data for data in report["arms"].values()):
        lines += ["", "At the fixed threshold 0.5 instead (mean ± std over seeds; ROC-AUC does not depend on a threshold):", "",
                  header, "| --- |" + " --- |" * len(order)]
        for arm, data in report["arms"].items():
            lines.append(f"| {arm} | " + " | ".join(f"{format_number(data[at_default][m]['mean'])} ± {format_number(data[at_default][m]['std'])}" for m in order) + " |")
    if positive is None:
        lines += per_class_table(report)
    lines += calibration_table(report)
    lines += format_realism(report)
    pairs = paired_comparisons(report)
    if pairs:
        lines += ["", "## Paired differences",
                  "",
                  f"Each arm minus the {baseline} arm (and the GAN arm minus the oversampling arm: a GAN is only worth its cost "
                  "where it beats repeating the real images), averaged over seeds. " + interval_sentence(report, pairs),
                  "",
                  "McNemar: exact binomial test on the images where exactly one of the two is right, for the seed-averaged "
                  "(ensemble) predictions; per-seed p-values follow.",
                  ""]
        lines += primary_table(pairs)
        lines += ["", "Every metric, its unadjusted interval (the primary metric's verdict is the Holm-adjusted one above; the "
                      "secondary metrics' verdicts describe, they do not decide):", "",
                  "| arm | vs | metric | difference | 95% interval | verdict |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for arm, reference, comparison in pairs:
            for m in order:
                interval = comparison["differences"][m]
                label = f"**{METRIC_LABELS[m]} (primary)**" if m == PRIMARY_METRIC else f"{METRIC_LABELS[m]} (secondary)"
                shown = comparison.get("primary_verdict_unadjusted", comparison["verdicts"][m]) if m == PRIMARY_METRIC else comparison["verdicts"][m]
                lines.append(f"| {arm} | {reference} | {label} | {format_number(interval['difference'], signed=True)} | "
                             f"{format_number(interval['low'], signed=True)} to {format_number(interval['high'], signed=True)} | {shown} |")
        lines += ["", "| arm | vs | McNemar p (ensemble) | right only with the reference | right only with the arm | p per seed |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for arm, reference, comparison in pairs:
            ensemble = comparison["mcnemar"]["ensemble"]
            per_seed = ", ".join(format_number(s["p_value"]) for s in comparison["mcnemar"]["per_seed"])
            lines.append(f"| {arm} | {reference} | {format_number(ensemble['p_value'])} | {ensemble['reference_only']} | {ensemble['arm_only']} | {per_seed} |")
        lines += ["", "## In plain words", ""]
        for arm, reference, comparison in pairs:
            primary = comparison["differences"][PRIMARY_METRIC]
            lines.append(f"- **Primary:** {plain_sentence(arm, reference, PRIMARY_METRIC, primary, comparison['verdicts'][PRIMARY_METRIC], primary['confidence'], comparison.get('holm'))}")
            for m in (m for m in HEADLINE_METRICS if m != PRIMARY_METRIC):
                lines.append(f"- Secondary: {plain_sentence(arm, reference, m, comparison['differences'][m], comparison['verdicts'][m], comparison['differences'][m]['confidence'])}")
            p_value = comparison["mcnemar"]["ensemble"]["p_value"]
            significant = "" if p_value < SIGNIFICANCE else "not "
            lines.append(f"- {arm} vs {reference}, McNemar on the ensemble predictions: p = {format_number(p_value)}, {significant}significant at {SIGNIFICANCE}.")
        if test.get("num_positive"):
            step = 1 / test["num_positive"]
            lines += ["", f"With {test['num_positive']} {positive} image(s) in the test split, one image moves sensitivity by {step:.3f}: "
                          "differences smaller than that are noise by construction."]
    lines += format_gradcam(report)
    lines += format_shift(report)
    lines += format_external(report)
    lines += ["", "## Plots", ""]
    for name in report.get("plots", []):
        lines.append(f"![{name}]({name})")
    return "\n".join(lines) + "\n"


def per_class_table(report: dict) -> list[str]:
    """Markdown lines: per arm and class, the one-vs-rest sensitivity, specificity and ROC-AUC (mean ± std over seeds)."""
    lines = ["", "## Per class (one vs rest, mean ± std over seeds)", "",
             "| arm | class | test images | " + " | ".join(METRIC_LABELS[m] for m in PER_CLASS_METRICS) + " |",
             "| --- | --- | --- |" + " --- |" * len(PER_CLASS_METRICS)]
    for arm, data in report["arms"].items():
        for name, summary in data.get("per_class", {}).items():
            cells = [f"{format_number(summary[m]['mean'])} ± {format_number(summary[m]['std'])}" for m in PER_CLASS_METRICS]
            lines.append(f"| {arm} | {name} | {report['test_set']['num_per_class'][name]} | " + " | ".join(cells) + " |")
    return lines


def summary_lines(report: dict) -> str:
    """The few lines `xgan classify --compare` prints."""
    width = max(len(arm) for arm in report["arms"])
    test = report["test_set"]
    counts = (", ".join(f"{n} {name}" for name, n in test["num_per_class"].items()) if report["positive_class"] is None
              else f"{test['num_positive']} {report['positive_class']}")
    macro = "; sensitivity, specificity and ROC-AUC are macro averages over the classes" if report["positive_class"] is None else ""
    called = "the most probable class" if report["positive_class"] is None else "each model's validation-chosen threshold"
    network = f"; network {report['network']}" if report.get("network") and not report["network"].startswith("cnn ") else ""
    lines = [f"test split: {test['num_images']} real images ({counts}); seeds {', '.join(map(str, report['seeds']))}{macro}{network}",
             f"metrics at {called}, mean±std over seeds; primary metric: balanced accuracy",
             f"{'arm':<{width}}  balanced acc   ROC-AUC        sensitivity    specificity    ensemble bal. acc  vs baseline (balanced acc, primary)"]
    for arm, data in report["arms"].items():
        cells = "  ".join(f"{format_number(data['summary'][m]['mean'])}±{format_number(data['summary'][m]['std'])}"
                          for m in ("balanced_accuracy", "roc_auc", "sensitivity", "specificity"))
        ensemble = data.get("ensemble")
        cells += f"  {format_number(ensemble['metrics']['balanced_accuracy']) if ensemble else 'n/a':>17}"
        comparison = report["comparisons"].get(arm)
        versus = ""
        if comparison:
            interval = comparison["differences"]["balanced_accuracy"]
            versus = f"{format_number(interval['difference'], signed=True)} [{format_number(interval['low'], signed=True)}, {format_number(interval['high'], signed=True)}] {comparison['verdicts']['balanced_accuracy']}"
        lines.append(f"{arm:<{width}}  {cells}  {versus}")
        if data.get("per_class"):
            lines.append(f"{'':<{width}}  sensitivity per class: " + ", ".join(
                f"{name} {format_number(summary['sensitivity']['mean'])}" for name, summary in data["per_class"].items()))
    return "\n".join(lines + shift_summary_lines(report) + external_summary_lines(report))
