"""How far an arm's synthetic images are from the real images of their own class.

A classifier two-sample test (`quality.two_sample`) on each class of a training set: its synthetic
images against its real ones (repeats left out), in 16x16-pixel features. An AUC near 1 means a
CNN can tell them apart from coarse layout alone; when all synthetic images carry one label, "looks
generated" then predicts that label, which is the shortcut that makes GAN images hurt.
"""

import numpy as np

from .data import LabeledImages

MAX_IMAGES_PER_SIDE = 1000  # enough for a tight AUC; the majority class can hold thousands
PIXEL_SIZE = 16
MIN_IMAGES_PER_SIDE = 5  # the test's folds need a few images of each side


def synthetic_vs_real(images: LabeledImages, *, seed: int = 0, max_images: int = MAX_IMAGES_PER_SIDE) -> dict:
    """Per class holding synthetic images: the two-sample AUC of its synthetic vs its real images.

    Args:
        images: a training set (real, oversampled and synthetic rows).
        seed: seeds the subsample and the folds.
        max_images: the most images per side (a seeded subsample beyond that).

    Returns:
        `{class: {"auc", "auc_ci_low", "auc_ci_high", "num_real", "num_synthetic", "synthetic_share",
        "features"}}`; `auc` is None (with a `note`) when a side has too few images.
    """
    from ..measures.pixels import PixelFeatures
    from ..measures.two_sample import classifier_two_sample_test

    labels = np.asarray(images.labels)
    origins = np.asarray(images.origins)
    rng = np.random.default_rng(seed)
    features = PixelFeatures(PIXEL_SIZE)
    measured = {}
    for label in sorted(set(labels[origins == "synthetic"].tolist())):
        in_class = labels == label
        real = np.flatnonzero(in_class & (origins == "real"))
        synthetic = np.flatnonzero(in_class & (origins == "synthetic"))
        entry = {"num_real": int(len(real)), "num_synthetic": int(len(synthetic)),
                 "synthetic_share": round(len(synthetic) / int(in_class.sum()), 4), "features": features.description}
        if min(len(real), len(synthetic)) < MIN_IMAGES_PER_SIDE:
            measured[label] = {**entry, "auc": None, "note": f"fewer than {MIN_IMAGES_PER_SIDE} images on a side"}
            continue
        real = np.sort(rng.choice(real, min(len(real), max_images), replace=False))
        synthetic = np.sort(rng.choice(synthetic, min(len(synthetic), max_images), replace=False))
        result = classifier_two_sample_test(features(np.asarray(images.images[real])), features(np.asarray(images.images[synthetic])), seed=seed)
        measured[label] = {**entry, "auc": round(result.auc, 4), "auc_ci_low": round(result.auc_ci_low, 4),
                           "auc_ci_high": round(result.auc_ci_high, 4), "num_real_tested": int(len(real)),
                           "num_synthetic_tested": int(len(synthetic))}
    return measured


def format_realism(report: dict) -> list[str]:
    """The report.md section: per GAN arm and class, the synthetic share and the two-sample AUC, beside the result."""
    rows = [(arm, data) for arm, data in report["arms"].items() if data.get("synthetic_vs_real")]
    lines = []
    best = report.get("best_gan_vs_best_other")
    if best:
        lines += ["", f"Best GAN arm: **{best['arm']}**; best other arm: **{best['reference']}** (each chosen by {best['chosen_by']}); "
                      "their paired difference is among the paired differences below."]
    if not rows:
        return lines
    lines += ["", "## Synthetic vs real images of the same class", "",
             "A logistic regression on 16x16-pixel images tells an arm's synthetic images of a class from that class's real "
             "training images (5-fold cross-validated ROC-AUC, 95% interval): 0.5 = indistinguishable, 1 = always told apart. "
             "When only one class receives synthetic images and this AUC is high, \"looks generated\" predicts the label.", "",
             "| arm | class | synthetic share | two-sample AUC | balanced accuracy | ROC-AUC |", "| --- | --- | --- | --- | --- | --- |"]
    for arm, data in rows:
        for label, entry in data["synthetic_vs_real"].items():
            auc = "n/a" if entry["auc"] is None else f"{entry['auc']:.3f} [{entry['auc_ci_low']:.3f}, {entry['auc_ci_high']:.3f}]"
            summary = data["summary"]
            lines.append(f"| {arm} | {label} | {entry['synthetic_share']:.2f} | {auc} | "
                         f"{summary['balanced_accuracy']['mean']:.3f} | {summary['roc_auc']['mean']:.3f} |")
    return lines
