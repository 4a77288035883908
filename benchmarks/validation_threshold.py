"""Every arm of a `classify --compare` folder at an operating threshold chosen on validation images.

For each saved model (arms/<arm>/seed<k>/model.keras): the positive-class probabilities of the
validation split choose the threshold (Youden's J: the point of the validation ROC curve farthest
above the diagonal); the test split is then scored at it. No test image takes part in the choice.
Per arm: mean ± std over seeds; paired bootstrap intervals (test images and seeds) against the
baseline, and the best GAN arm against the best other arm (each chosen by validation ROC-AUC, as
the compare report does). Probabilities are mapped monotonically so that each model's threshold
falls at 0.5, which keeps ROC-AUC and lets the report's own bootstrap score them.

    python benchmarks/validation_threshold.py samples/.../00000-classify-compare [...]

Writes threshold_report.json and threshold_report.md into each folder and prints the table.
"""

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_curve

from xgan.classifier.classify import Experiment
from xgan.classifier.compare import best_by_validation, paired_comparison
from xgan.classifier.data import choose_positive, split_images
from xgan.classifier.metrics import METRICS, binary_metrics, summarize_runs
from xgan.classifier.saving import load_classifier
from xgan.classifier.train import predict_probabilities
from xgan.datasets.dataset import load_dataset
from xgan.datasets.splits import resolve_splits


def youden_threshold(y_true: np.ndarray, probability: np.ndarray) -> float:
    """The threshold of the validation ROC curve that maximises sensitivity + specificity - 1."""
    false_positive, true_positive, thresholds = roc_curve(y_true, probability)
    best = int(np.argmax(true_positive - false_positive))
    return float(min(max(thresholds[best], 1e-6), 1 - 1e-6))


def centre_on(probability: np.ndarray, threshold: float) -> np.ndarray:
    """A monotone map of [0, 1] onto itself that sends `threshold` to 0.5."""
    return np.where(probability < threshold, 0.5 * probability / threshold, 0.5 + 0.5 * (probability - threshold) / (1 - threshold))


class Run:
    def __init__(self, arm, seed, probabilities, history, best_epoch):
        self.arm, self.seed, self.probabilities, self.history, self.best_epoch = arm, seed, probabilities, history, best_epoch


def analyse(folder: Path) -> str:
    options = json.loads((folder / "options.json").read_text())
    dataset = load_dataset(options["data"], options["size"])
    splits = resolve_splits(dataset, Path(options["splits_file"]))
    positive = choose_positive(dataset, options.get("positive"))
    experiment = Experiment(dataset, splits, positive, split_images(dataset, splits, "train"), split_images(dataset, splits, "val"),
                            split_images(dataset, splits, "test"))
    y_val, y_test = experiment.validation.targets(positive), experiment.test.targets(positive)
    names = (experiment.negative, positive)
    rows, by_arm, centred = {}, {}, {}
    for arm in options["arms"]:
        runs, per_seed = [], []
        for seed in options["seeds"]:
            model_dir = folder / "arms" / arm / f"seed{seed}"
            model = load_classifier(model_dir)
            threshold = youden_threshold(y_val, predict_probabilities(model, experiment.validation.images))
            test = predict_probabilities(model, experiment.test.images)
            metrics = binary_metrics(y_test, test, names, threshold=threshold)
            history = json.loads((model_dir / "history.json").read_text())
            best_epoch = json.loads((model_dir / "metrics.json").read_text())["best_epoch"]
            runs.append(Run(arm, seed, centre_on(test, threshold), history, best_epoch))
            per_seed.append({"seed": seed, "threshold": threshold, **{m: metrics[m] for m in METRICS}})
        by_arm[arm] = runs
        centred[arm] = np.stack([r.probabilities for r in runs])
        rows[arm] = {"per_seed": per_seed, "summary": {m: summarize_runs([s[m] for s in per_seed]) for m in (*METRICS, "threshold")}}
    seeds = options["seeds"]
    comparisons = {arm: paired_comparison(y_test, centred[arm], centred["baseline"], seeds) for arm in rows if arm != "baseline"}
    gan_arms = [arm for arm in rows if arm.startswith("gan")]
    other_arms = [arm for arm in rows if not arm.startswith("gan")]
    best = None
    if gan_arms and other_arms:
        best_gan, best_other = best_by_validation(by_arm, gan_arms), best_by_validation(by_arm, other_arms)
        best = {"arm": best_gan, "reference": best_other, **paired_comparison(y_test, centred[best_gan], centred[best_other], seeds)}
    # Every GAN arm against every other arm too: which pair matters is only known after the fact, so read these
    # as a post-hoc table, not as a test chosen in advance.
    gan_vs_other = {f"{arm} vs {other}": paired_comparison(y_test, centred[arm], centred[other], seeds)
                    for arm in gan_arms for other in other_arms}
    report = {"folder": str(folder), "threshold_rule": "Youden's J on the validation split, per model", "arms": rows,
              "comparisons": comparisons, "best_gan_vs_best_other": best, "gan_vs_other": gan_vs_other}
    (folder / "threshold_report.json").write_text(json.dumps(report, indent=1, default=float))
    lines = [f"# {folder}: at the validation-chosen threshold (Youden's J), mean ± std over seeds {seeds}", "",
             "| arm | threshold | balanced accuracy | sensitivity | specificity | ROC-AUC | balanced acc. vs baseline (95% CI) | ROC-AUC vs baseline (95% CI) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]

    def cell(summary, name):
        return f"{summary[name]['mean']:.3f} ± {summary[name]['std']:.3f}"

    def interval(comparison, name):
        d = comparison["differences"][name]
        return f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] {comparison['verdicts'][name]}"

    for arm, row in rows.items():
        versus = comparisons.get(arm)
        lines.append(f"| {arm} | {cell(row['summary'], 'threshold')} | {cell(row['summary'], 'balanced_accuracy')} | "
                     f"{cell(row['summary'], 'sensitivity')} | {cell(row['summary'], 'specificity')} | {cell(row['summary'], 'roc_auc')} | "
                     + (f"{interval(versus, 'balanced_accuracy')} | {interval(versus, 'roc_auc')} |" if versus else " | |"))
    if best:
        lines += ["", f"Best GAN arm {best['arm']} vs best other arm {best['reference']} (each chosen by validation ROC-AUC): "
                      f"balanced accuracy {interval(best, 'balanced_accuracy')}; ROC-AUC {interval(best, 'roc_auc')}."]
    if gan_vs_other:
        lines += ["", "Every GAN arm against every other arm (post hoc): difference [95% CI] in balanced accuracy; ROC-AUC", "",
                  "| pair | balanced accuracy | ROC-AUC |", "| --- | --- | --- |"]
        lines += [f"| {pair} | {interval(c, 'balanced_accuracy')} | {interval(c, 'roc_auc')} |" for pair, c in gan_vs_other.items()]
    text = "\n".join(lines) + "\n"
    (folder / "threshold_report.md").write_text(text)
    return text


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(analyse(Path(argument)))
