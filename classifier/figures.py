"""The classifier's figures: training curves, ROC curves, confusion matrices and reliability diagrams, one panel per arm (matplotlib, no pyplot)."""

import math
from pathlib import Path

import numpy as np

from ..runs import atomic_path

CURVES_FILE, ROC_FILE, CONFUSION_FILE = "training_curves.png", "roc_curves.png", "confusion_matrices.png"
RELIABILITY_FILE = "reliability.png"


def _figure(rows: int, columns: int, figsize: tuple[float, float]):
    """A matplotlib `Figure` (no pyplot state, no backend switch) and its (rows, columns) axes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.subplots(rows, columns, squeeze=False)


def _arm_panels(arms: list[str], panel_size: tuple[float, float]):
    """A figure with one panel per arm, three to a row, the last row's unused panels hidden; returns it and (axis, arm) pairs."""
    columns = min(3, len(arms))
    rows = math.ceil(len(arms) / columns)
    figure, axes = _figure(rows, columns, (panel_size[0] * columns, panel_size[1] * rows))
    for axis in list(axes.flat)[len(arms):]:
        axis.axis("off")
    return figure, list(zip(axes.flat, arms))


def _save(figure, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")


def plot_training_curves(path: Path, histories: dict[str, list[tuple[int, list[dict], int]]]) -> None:
    """One row per arm, loss and accuracy apart; one colour per seed, training dashed, validation solid.

    Args:
        histories: per arm, (seed, per-epoch history, best epoch) of each model; the best epoch,
            whose weights the model keeps, is marked with a dot on the validation curve.
    """
    from matplotlib import rcParams
    from matplotlib.ticker import MaxNLocator

    arms = list(histories)
    figure, axes = _figure(len(arms), 2, (10, 2.7 * len(arms)))
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    for row, arm in enumerate(arms):
        for column, metric in enumerate(("loss", "accuracy")):
            axis = axes[row, column]
            for index, (seed, history, best_epoch) in enumerate(histories[arm]):
                epochs = [h["epoch"] for h in history]
                colour = colours[index % len(colours)]
                validation = [h.get(f"val_{metric}", np.nan) for h in history]
                axis.plot(epochs, [h.get(metric, np.nan) for h in history], "--", color=colour, alpha=0.7)
                axis.plot(epochs, validation, "-", color=colour, label=f"seed {seed}")
                if 1 <= best_epoch <= len(validation):
                    axis.plot(best_epoch, validation[best_epoch - 1], "o", color=colour, markersize=5)
            axis.set_title(f"{arm}: {metric}")
            axis.set_xlabel("epoch")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.grid(alpha=0.3)
        axes[row, 0].set_yscale("log")  # one diverging epoch would otherwise flatten every other curve
        axes[row, 0].set_ylabel("cross-entropy (log)")
        axes[row, 1].set_ylabel("accuracy")
    axes[0, 1].legend(title="dashed: train, solid: validation,\ndot: best epoch (kept)", fontsize=8, title_fontsize=8, loc="lower right")
    figure.tight_layout()
    _save(figure, path)


def plot_roc_curves(path: Path, y_true: np.ndarray, probabilities: dict[str, np.ndarray], positive: str,
                    seeds: list[int] | None = None) -> None:
    """One panel per arm, one ROC curve per seed (probabilities: (seeds, N) per arm), with its AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    arms = list(probabilities)
    figure, panels = _arm_panels(arms, (4, 4))
    defined = len(np.unique(y_true)) == 2
    for axis, arm in panels:
        axis.plot([0, 1], [0, 1], ":", color="gray", linewidth=1)
        for index, scores in enumerate(np.atleast_2d(probabilities[arm])):
            if defined:
                false_positive_rate, true_positive_rate, _ = roc_curve(y_true, scores)
                name = f"seed {seeds[index]}" if seeds else "model"
                axis.plot(false_positive_rate, true_positive_rate, label=f"{name}: AUC {roc_auc_score(y_true, scores):.3f}")
        axis.set_title(arm if defined else f"{arm}: undefined (one class in test)")
        axis.set_xlabel("1 - specificity (false positive rate)")
        axis.set_ylabel(f"sensitivity ({positive})")
        axis.set_aspect("equal")
        axis.grid(alpha=0.3)
        if defined:
            axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    _save(figure, path)


def plot_one_vs_rest_roc_curves(path: Path, y_true: np.ndarray, probabilities: dict[str, np.ndarray], class_names: list[str]) -> None:
    """One panel per arm, one one-vs-rest ROC curve per class, from the seed-averaged softmax outputs.

    Args:
        y_true: class index per test image.
        probabilities: per arm, (seeds, N, classes) or (N, classes) softmax outputs.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    arms = list(probabilities)
    figure, panels = _arm_panels(arms, (4, 4))
    for axis, arm in panels:
        scores = np.asarray(probabilities[arm])
        scores = scores.mean(axis=0) if scores.ndim == 3 else scores
        axis.plot([0, 1], [0, 1], ":", color="gray", linewidth=1)
        for index, name in enumerate(class_names):
            is_class = y_true == index
            if 0 < is_class.sum() < len(y_true):
                false_positive_rate, true_positive_rate, _ = roc_curve(is_class, scores[:, index])
                axis.plot(false_positive_rate, true_positive_rate, label=f"{name} vs rest: AUC {roc_auc_score(is_class, scores[:, index]):.3f}")
        axis.set_title(f"{arm} (mean over seeds)" if np.asarray(probabilities[arm]).ndim == 3 else arm)
        axis.set_xlabel("false positive rate (one vs rest)")
        axis.set_ylabel("sensitivity of the class")
        axis.set_aspect("equal")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:  # no curve when the test images hold a single class
            axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    _save(figure, path)


def plot_confusion_matrices(path: Path, matrices: dict[str, np.ndarray], class_names: list[str], num_seeds: int) -> None:
    """One panel per arm: counts summed over seeds, rows true class, columns predicted."""
    arms = list(matrices)
    figure, panels = _arm_panels(arms, (3.6, 3.4))
    for axis, arm in panels:
        matrix = np.asarray(matrices[arm])
        axis.imshow(matrix, cmap="Blues", vmin=0)
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if count > matrix.max() / 2 else "black"
            axis.text(j, i, str(int(count)), ha="center", va="center", color=colour, fontsize=12)
        axis.set_xticks(range(len(class_names)), class_names)
        axis.set_yticks(range(len(class_names)), class_names)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        suffix = f" (sum of {num_seeds} seeds)" if num_seeds > 1 else ""
        axis.set_title(f"{arm}{suffix}", fontsize=10)
    figure.tight_layout()
    _save(figure, path)


def plot_reliability_diagrams(path: Path, calibration: dict[str, list[tuple[str, dict]]], multiclass: bool = False) -> None:
    """One panel per arm: observed share against mean predicted probability per bin, one line per model, the diagonal ideal.

    Args:
        calibration: per arm, (label, `calibration_metrics` record) of each model (seed) to draw; its ECE goes in the legend.
        multiclass: the records are top-label (softmax) calibration: the axes say so.
    """
    arms = list(calibration)
    figure, panels = _arm_panels(arms, (4, 4))
    for axis, arm in panels:
        axis.plot([0, 1], [0, 1], ":", color="gray", linewidth=1)
        for label, record in calibration[arm]:
            filled = [b for b in record["bins"] if b["count"]]
            axis.plot([b["mean_probability"] for b in filled], [b["observed"] for b in filled], "o-", markersize=3,
                      label=f"{label}: ECE {record['ece']:.3f}, Brier {record['brier']:.3f}")
        axis.set_title(arm)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("top-class probability (bin mean)" if multiclass else "predicted probability (bin mean)")
        axis.set_ylabel("share called right" if multiclass else "share positive")
        axis.set_aspect("equal")
        axis.grid(alpha=0.3)
        if calibration[arm]:
            axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    _save(figure, path)
