"""The training-curve figure (`losses.png`) drawn from a run's history."""

import math
from pathlib import Path

import numpy as np

from ..runs import atomic_path
from .health import ACCURACY_KEYS, LOSS_KEYS

NOT_PLOTTED = ("epoch", "step", "kimg", "seconds")  # bookkeeping, not metrics


def plot_history(history: list[dict], path: Path) -> Path:
    """Plot losses, discriminator accuracies and every other numeric metric against the epoch.

    Metrics logged by extra callbacks (e.g. `kid`, only on some epochs) get a panel each, drawn
    through the epochs where they were recorded.

    Args:
        history: per-epoch dicts, each with `epoch` and metric values.
        path: PNG to write (atomically).
    """
    from matplotlib.figure import Figure  # no pyplot state, no backend switch: files only

    panels = plot_panels(history)
    columns = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(5.5 * columns, 3.2 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, (title, keys) in zip(axes.flat, panels):
        for key in keys:
            points = [(entry["epoch"], entry[key]) for entry in history if _is_number(entry.get(key))]
            if points:
                epochs, values = zip(*points)
                axis.plot(epochs, values, label=key, marker="." if len(points) < 30 else None, linewidth=1)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        if title == "discriminator accuracy":
            axis.set_ylim(-0.02, 1.02)
            axis.axhline(0.5, color="gray", linewidth=0.5, linestyle=":")
        if axis.lines:
            axis.legend(fontsize="small")
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.tight_layout()
    with atomic_path(Path(path)) as temporary:
        figure.savefig(temporary, format="png", dpi=90)
    return Path(path)


def plot_panels(history: list[dict]) -> list[tuple[str, tuple[str, ...]]]:
    """(title, metric names) of each panel: losses, accuracies, then one per other numeric metric.

    The loss and accuracy panels list the metrics the history has (a diffusion model has no discriminator);
    the loss panel is always drawn.
    """
    recorded = {key for entry in history for key, value in entry.items() if _is_number(value)}
    extras = sorted(recorded - {*NOT_PLOTTED, *LOSS_KEYS, *ACCURACY_KEYS})
    losses = tuple(key for key in LOSS_KEYS if key in recorded) or LOSS_KEYS[:2]
    accuracies = tuple(key for key in ACCURACY_KEYS if key in recorded)
    return ([("loss", losses)] + ([("discriminator accuracy", accuracies)] if accuracies else [])
            + [(name, (name,)) for name in extras])


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and math.isfinite(float(value))
