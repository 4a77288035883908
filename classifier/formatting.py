"""Plain-text formatting shared by every classifier report and command: metric labels, numbers, JSON-ready values."""

import math

import numpy as np

from .metrics import AT_DEFAULT_THRESHOLD, METRICS

METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "sensitivity": "sensitivity",
                 "specificity": "specificity", "precision": "precision", "f1": "F1", "roc_auc": "ROC-AUC"}

def json_ready(value):
    """NaN and infinities become None (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def format_number(value, digits: int = 3, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"



def format_metrics(metrics: dict, title: str) -> str:
    """A few lines of metrics (at the chosen threshold, and at 0.5 when given), the confusion matrix and scikit-learn's classification report."""
    matrix = metrics["confusion_matrix"]
    names = matrix["labels"]
    width = max(len(n) for n in names) + 2
    lines = [title]
    called = f"at threshold {format_number(metrics['threshold'])}" if metrics.get("threshold") is not None else "the most probable class"
    lines.append(f"{called}: " + "  ".join(f"{METRIC_LABELS[m]} {format_number(metrics[m])}" for m in METRICS))
    if AT_DEFAULT_THRESHOLD in metrics:
        fixed = metrics[AT_DEFAULT_THRESHOLD]
        lines.append("at threshold 0.5: " + "  ".join(f"{METRIC_LABELS[m]} {format_number(fixed[m])}" for m in METRICS if m != "roc_auc"))
    lines.append(f"confusion matrix (rows true, columns predicted):\n{'':<{width}}" + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, matrix["matrix"]):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines.append(metrics["classification_report_text"].rstrip())
    if "per_class" in metrics:
        lines.append("per class (one vs rest): " + "; ".join(
            f"{name} sensitivity {format_number(c['sensitivity'])}, specificity {format_number(c['specificity'])}, ROC-AUC {format_number(c['roc_auc'])}"
            for name, c in metrics["per_class"].items()))
        lines.append(f"sensitivity, specificity, precision, F1 and ROC-AUC above are macro averages ({metrics['averaging']})")
    return "\n".join(lines)
