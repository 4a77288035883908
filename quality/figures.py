"""Figures of a quality report, drawn on matplotlib `Figure` objects (no pyplot state) and saved atomically."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..gan.preview import make_image_grid
from ..runs import atomic_path

REAL_COLOUR, SYNTHETIC_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728", "#2ca02c"


def save_figure(figure: Figure, path: Path) -> Path:
    """Write a figure as PNG, atomically."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def plot_closest_pairs(path: Path, pairs: list[dict], synthetic_images, real_images, threshold: float,
                       pairs_per_row: int = 2) -> Path:
    """Each synthetic image beside its best-correlated real training image, closest pair first.

    Args:
        pairs: dicts with `synthetic_index`, `real_index`, `correlation`, `training_key`, `synthetic_name`.
        threshold: near-copy correlation; pairs at or above it get a red title.
    """
    rows = max(1, int(np.ceil(len(pairs) / pairs_per_row)))
    figure = Figure(figsize=(2.3 * 2 * pairs_per_row, 2.6 * rows))
    for position, pair in enumerate(pairs):
        row, column = divmod(position, pairs_per_row)
        copied = pair["correlation"] >= threshold
        for offset, (image, title) in enumerate((
                (synthetic_images[pair["synthetic_index"]], f"synthetic {pair['synthetic_name']}"),
                (real_images[pair["real_index"]], f"train {pair['training_key']}"))):
            axes = figure.add_subplot(rows, 2 * pairs_per_row, row * 2 * pairs_per_row + 2 * column + offset + 1)
            axes.imshow(image, cmap="gray", vmin=0, vmax=255)
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_title(_shorten(title, 28), fontsize=7)
            if offset == 0:
                axes.set_xlabel(f"r = {pair['correlation']:.3f}" + ("  NEAR COPY" if copied else ""), fontsize=8,
                                color="red" if copied else "black")
    figure.suptitle(f"Closest synthetic / real-training pairs, each training image once\n"
                    f"(pixel correlation r; near copy at r >= {threshold})", fontsize=10)
    return save_figure(figure, path)


def plot_nearest_correlations(path: Path, synthetic_correlation, real_correlation, threshold: float) -> Path:
    """Histogram of each synthetic image's best correlation with a training image, against the real baseline."""
    figure = Figure(figsize=(7, 3.8))
    axes = figure.add_subplot()
    values = [np.asarray(synthetic_correlation)] + ([np.asarray(real_correlation)] if len(real_correlation) else [])
    low = min(v.min() for v in values)
    bins = np.linspace(min(low, threshold) - 0.01, 1.0, 41)
    axes.hist(synthetic_correlation, bins=bins, density=True, alpha=0.6, color=SYNTHETIC_COLOUR,
              label=f"synthetic -> nearest training image (n={len(synthetic_correlation)})")
    if len(real_correlation):
        axes.hist(real_correlation, bins=bins, density=True, alpha=0.5, color=REAL_COLOUR,
                  label=f"training image -> nearest other training image (n={len(real_correlation)})")
    axes.axvline(threshold, color="black", linestyle="--", label=f"near-copy threshold {threshold}")
    axes.set_xlabel("pixel correlation with the nearest real training image")
    axes.set_ylabel("density")
    axes.legend(fontsize=7, loc="upper left")
    axes.set_title("Memorization: how close is each image to the training set?", fontsize=10)
    return save_figure(figure, path)


def plot_feature_spaces(path: Path, spaces: dict[str, dict]) -> Path:
    """2-D PCA of real training, real validation and synthetic features, one panel per feature space.

    Args:
        spaces: name -> {"real": (N, D), "synthetic": (M, D), "val": (V, D) or None}.
    """
    figure = Figure(figsize=(4.2 * len(spaces), 4))
    for position, (name, sets) in enumerate(spaces.items(), start=1):
        axes = figure.add_subplot(1, len(spaces), position)
        real, synthetic = np.asarray(sets["real"], float), np.asarray(sets["synthetic"], float)
        val = sets.get("val")
        # The projection comes from the real features only, so a collapsed synthetic set shows as a clump.
        mean = real.mean(axis=0)
        scale = real.std(axis=0) + 1e-8
        _, _, components = np.linalg.svd((real - mean) / scale, full_matrices=False)
        project = lambda x: ((np.asarray(x, float) - mean) / scale) @ components[:2].T  # noqa: E731
        for data, colour, label, marker in ((synthetic, SYNTHETIC_COLOUR, "synthetic", "x"),
                                            (real, REAL_COLOUR, "real train", "o"),
                                            (val, VAL_COLOUR, "real val", "^")):
            if data is None or not len(data):
                continue
            points = project(data)
            if points.shape[1] == 1:
                points = np.column_stack([points[:, 0], np.zeros(len(points))])
            axes.scatter(points[:, 0], points[:, 1], s=10, alpha=0.6, c=colour, marker=marker,
                         label=f"{label} ({len(data)})")
        axes.set_title(f"{name} features, PCA of the real training set", fontsize=9)
        axes.legend(fontsize=7)
    return save_figure(figure, path)


def plot_sample_grid(path: Path, real_images, synthetic_images, num_images: int = 16, seed: int = 0) -> Path:
    """Random real training images (left) and synthetic images (right), for a look by eye."""
    rng = np.random.default_rng(seed)
    figure = Figure(figsize=(11, 5.6))
    for position, (images, title) in enumerate(((real_images, "real training images"),
                                                (synthetic_images, "synthetic images")), start=1):
        chosen = np.sort(rng.choice(len(images), min(num_images, len(images)), replace=False))
        axes = figure.add_subplot(1, 2, position)
        axes.imshow(make_image_grid(np.asarray(images)[chosen], 4, padding=2, fill=255), cmap="gray", vmin=0, vmax=255)
        axes.axis("off")
        axes.set_title(f"{title} (random {len(chosen)} of {len(images)})", fontsize=9)
    return save_figure(figure, path)


def plot_checkpoint_kid(path: Path, scores: list[dict], recommended: str) -> Path:
    """KID (mean +- std over subsets) of every scored checkpoint against its training step."""
    figure = Figure(figsize=(7, 3.8))
    axes = figure.add_subplot()
    steps = [score["step"] for score in scores]
    means = np.array([score["kid"]["mean"] for score in scores]) * 1000
    stds = np.array([score["kid"]["std"] for score in scores]) * 1000
    axes.errorbar(steps, means, yerr=stds, marker="o", capsize=3, color=SYNTHETIC_COLOUR)
    for score, mean in zip(scores, means):
        if score["checkpoint"] == recommended:
            axes.scatter([score["step"]], [mean], s=150, facecolors="none", edgecolors="black",
                         label=f"recommended: {recommended}", zorder=3)
    if means.max() > 20 * max(np.median(np.abs(means)), 1e-9):
        # An early checkpoint far off would flatten the rest: a log scale that also takes values <= 0.
        axes.set_yscale("symlog", linthresh=1.0)
    axes.set_xlabel("training step of the checkpoint")
    axes.set_ylabel("KID x 1000 (lower is better)")
    axes.set_title(f"Checkpoint selection by KID ({scores[0]['feature_name']} features)", fontsize=10)
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]
