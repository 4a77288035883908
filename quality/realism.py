"""Held-out realism: can a classifier tell synthetic images from real images the GAN never read?

Comparing synthetic images with the GAN's own training images rewards a generator that stays close
to those few images. The held-out measure compares them with real images of the class the GAN never
saw (the validation split), and sets beside it the floor: the GAN's training images against the
same unseen images. Two real sets of one class differ too (patients, scanners, the cut), so the
floor is what a perfect copy of the training distribution would score, and the headline number is
the gap between the two AUCs.

Both comparisons use the same classifier two-sample test (`measures.two_sample`) on equal numbers
of images: the synthetic set is subsampled to the training set's size (averaged over a few draws),
so the two AUCs have the same power and the gap is not a difference in sample sizes.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import invalid_argument
from ..measures.two_sample import classifier_two_sample_test

DEFAULT_NUM_DRAWS = 3


@dataclass(frozen=True)
class HeldOutGap:
    """Two-sample AUCs against the unseen real images, and the gap between them.

    Attributes:
        synthetic_auc: AUC of synthetic (1) versus unseen real (0), mean over the draws.
        synthetic_standard_error: Hanley-McNeil standard error of one draw's AUC.
        floor_auc: AUC of the GAN's training images (1) versus the same unseen images (0).
        floor_standard_error: its Hanley-McNeil standard error.
        gap: synthetic_auc - floor_auc; 0 means as hard to spot as real training images.
        gap_standard_error: sqrt of the sum of the two squared standard errors. The two AUCs share
            the unseen images, whose errors correlate positively, so this overstates the error.
        gap_ci_low, gap_ci_high: gap -+ 1.96 standard errors.
        synthetic_draw_aucs: the AUC of each draw of the synthetic set.
        num_unseen, num_training, num_synthetic: images in each set; num_per_draw synthetic images
            per draw (the training set's size, or all synthetic images when there are fewer).
    """

    synthetic_auc: float
    synthetic_standard_error: float
    floor_auc: float
    floor_standard_error: float
    gap: float
    gap_standard_error: float
    gap_ci_low: float
    gap_ci_high: float
    synthetic_draw_aucs: list[float]
    num_unseen: int
    num_training: int
    num_synthetic: int
    num_per_draw: int
    num_folds: int
    classifier: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def held_out_gap(training, synthetic, unseen, *, num_folds: int = 5, num_draws: int = DEFAULT_NUM_DRAWS,
                 seed: int = 0) -> HeldOutGap:
    """The held-out two-sample AUC of synthetic images, its floor, and the gap between them.

    Args:
        training: (N, D) features of the real images the GAN read.
        synthetic: (M, D) features of synthetic images.
        unseen: (V, D) features of real images of the class the GAN never read (validation).
        num_folds: cross-validation folds (lowered to the smallest set's size when needed).
        num_draws: draws of `min(N, M)` synthetic images; one when M <= N.
        seed: seed of the draws and of the folds.

    Raises:
        ValueError: fewer than 2 images in a set, mismatched dimensions, or num_draws < 1.
    """
    training, synthetic, unseen = (np.asarray(values, dtype=np.float64) for values in (training, synthetic, unseen))
    if num_draws < 1:
        raise invalid_argument("num_draws", "a positive integer", received=f"num_draws={num_draws}", error=ValueError)
    per_draw = min(len(training), len(synthetic))
    folds = min(num_folds, per_draw, len(unseen))
    if folds < 2:
        raise invalid_argument("unseen", "at least 2 images in every set",
                               received=f"{len(training)} training, {len(synthetic)} synthetic, {len(unseen)} unseen", error=ValueError)
    floor = classifier_two_sample_test(unseen, training, num_folds=folds, seed=seed)
    rng = np.random.default_rng(seed)
    draws = 1 if len(synthetic) == per_draw else num_draws
    results = []
    for _ in range(draws):
        chosen = synthetic if draws == 1 else synthetic[np.sort(rng.choice(len(synthetic), per_draw, replace=False))]
        results.append(classifier_two_sample_test(unseen, chosen, num_folds=folds, seed=seed))
    synthetic_auc = float(np.mean([result.auc for result in results]))
    synthetic_error = float(np.mean([result.auc_standard_error for result in results]))
    gap = synthetic_auc - floor.auc
    gap_error = float(np.hypot(synthetic_error, floor.auc_standard_error))
    return HeldOutGap(
        synthetic_auc=synthetic_auc, synthetic_standard_error=synthetic_error,
        floor_auc=floor.auc, floor_standard_error=floor.auc_standard_error,
        gap=float(gap), gap_standard_error=gap_error,
        gap_ci_low=float(gap - 1.96 * gap_error), gap_ci_high=float(gap + 1.96 * gap_error),
        synthetic_draw_aucs=[float(result.auc) for result in results],
        num_unseen=len(unseen), num_training=len(training), num_synthetic=len(synthetic), num_per_draw=per_draw,
        num_folds=folds, classifier=floor.classifier,
    )


def describe_gap(name: str, gap: dict) -> str:
    """One sentence: the held-out gap with its interval, and the two AUCs it comes from."""
    return (f"held-out gap in {name}: {gap['gap']:+.2f} [{gap['gap_ci_low']:+.2f}, {gap['gap_ci_high']:+.2f}] "
            f"(synthetic vs {gap['num_unseen']} unseen real images AUC {gap['synthetic_auc']:.2f} "
            f"± {gap['synthetic_standard_error']:.2f}; the GAN's {gap['num_training']} training images vs the same "
            f"unseen images, the floor, {gap['floor_auc']:.2f} ± {gap['floor_standard_error']:.2f})")
