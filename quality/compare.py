"""All distribution metrics between real and synthetic images in one feature space, as plain dicts."""

import numpy as np

from .kid import frechet_distance, kernel_inception_distance
from .prdc import matched_precision_recall
from ..measures.two_sample import classifier_two_sample_test
from .realism import held_out_gap

FRECHET_NOTE = ("biased upwards with few images (not 0 even for two draws of one distribution); compare only "
                "between reports with the same numbers of images; KID is the headline")


def compare_feature_sets(real, synthetic, val=None, *, neighbours: int = 3, kid_subsets: int = 100,
                         kid_subset_size: int = 1000, num_folds: int = 5, seed: int = 0) -> dict:
    """KID, Fréchet distance, precision/recall and the two-sample test between two feature sets.

    Args:
        real: (N, D) features of the real reference (the class's training images).
        synthetic: (M, D) features of the synthetic images.
        val: (V, D) features of the class's held-out validation images, or None: with two or more,
            KID and precision/recall of the synthetic images against them, a real-versus-real
            baseline (validation against training images) that shows what a perfect generator
            would score, and the held-out gap (`realism.held_out_gap`): the two-sample AUC of
            synthetic against validation images minus that of training against validation images.
        neighbours: k of the precision/recall manifolds; the larger set is subsampled to the
            smaller one's size (see `matched_precision_recall`).
        kid_subsets: subsets KID is averaged over.
        kid_subset_size: upper bound on the images per KID subset.
        num_folds: cross-validation folds of the two-sample test (fewer when a set is smaller).
        seed: seed of the KID subsets and the folds.

    Returns:
        A JSON-ready dict; a metric that needs more images than there are is None with a note.
    """
    real, synthetic = np.asarray(real), np.asarray(synthetic)
    kid_options = {"num_subsets": kid_subsets, "max_subset_size": kid_subset_size, "seed": seed}
    notes = []
    result = {
        "dimension": int(real.shape[1]),
        "kid": kernel_inception_distance(real, synthetic, **kid_options).to_dict(),
        "frechet_distance": {"value": frechet_distance(real, synthetic), "biased": True, "note": FRECHET_NOTE,
                             "num_real": len(real), "num_synthetic": len(synthetic)},
    }
    if min(len(real), len(synthetic)) > neighbours:
        result["precision_recall"] = matched_precision_recall(real, synthetic, neighbours, seed=seed)
    else:
        result["precision_recall"] = None
        notes.append(f"precision/recall skipped: needs more than k={neighbours} images in each set")
    folds = min(num_folds, len(real), len(synthetic))
    if folds >= 2:
        result["two_sample"] = classifier_two_sample_test(real, synthetic, num_folds=folds, seed=seed).to_dict()
        if folds < num_folds:
            notes.append(f"two-sample test: {folds} folds instead of {num_folds} (only {len(real)} real images)")
    else:
        result["two_sample"] = None
        notes.append("two-sample test skipped: needs at least 2 images in each set")
    val = None if val is None else np.asarray(val)
    if val is not None and len(val) >= 2:
        result["val"] = {
            "num_val": len(val),
            "kid_synthetic_vs_val": kernel_inception_distance(val, synthetic, **kid_options).to_dict(),
            "kid_val_vs_train": kernel_inception_distance(real, val, **kid_options).to_dict(),
            "precision_recall_val_vs_train": (matched_precision_recall(real, val, neighbours, seed=seed)
                                              if len(val) > neighbours else None),
            "precision_recall_synthetic_vs_val": (matched_precision_recall(val, synthetic, neighbours, seed=seed)
                                                  if min(len(val), len(synthetic)) > neighbours else None),
            "held_out": held_out_gap(real, synthetic, val, num_folds=num_folds, seed=seed).to_dict(),
        }
    else:
        result["val"] = None
        notes.append("no held-out comparison: fewer than 2 validation images of the class")
    result["notes"] = notes
    return result
