"""Checkpoint selection: score a GAN run's generator checkpoints and say which to sample from.

With real images of the class the GAN never read (the validation split), each checkpoint is scored
by the held-out measure (`realism.held_out_gap`): how well a classifier tells its images from those
unseen images, beside the floor of the GAN's training images; KID is then computed against the
unseen images too. Without them, KID against the training images is all there is. Every checkpoint
generates from the same latents (one seed), so the comparison is paired: the differences come from
the generators, not from the draw.
"""

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, invalid_argument
from .kid import KidResult, kernel_inception_distance
from .realism import held_out_gap

log = logging.getLogger("xgan")


@dataclass(frozen=True)
class CheckpointScore:
    """KID of one generator checkpoint (against the unseen real images when there are some), and its held-out gap."""

    checkpoint: str
    step: int
    kid: KidResult
    held_out: dict | None = None  # `HeldOutGap.to_dict()`; None without unseen images

    def to_dict(self, feature_name: str) -> dict:
        return {"checkpoint": self.checkpoint, "step": self.step, "kid": self.kid.to_dict(), "held_out": self.held_out,
                "feature_name": feature_name}


def resolve_checkpoints(requested: str, available: list[str]) -> list[str]:
    """Turn "all" or a comma-separated list into checkpoint names of the run, in the run's order.

    Raises:
        UserError: the run has no checkpoints, or a requested name is not one of them.
    """
    if not available:
        raise UserError("the GAN run has no generator checkpoints to score; train it first (xgan train)")
    if requested.strip().lower() == "all":
        return list(available)
    names = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise invalid_argument("--checkpoints", f"'all' or names among {', '.join(available)}", received=f"checkpoints={requested!r}")
    return [name for name in available if name in names]


def recommend_checkpoint(scores: list[CheckpointScore]) -> tuple[CheckpointScore, str]:
    """The checkpoint with the smallest held-out gap (else the lowest mean KID), and how clear the choice is.

    When every score has a held-out gap, the smallest gap wins (the floor is the same for every
    checkpoint, so this is the lowest AUC against the unseen images); checkpoints whose gap lies within
    one standard error of the synthetic AUC of the best are named. Otherwise the lowest mean KID
    wins, and checkpoints within one standard deviation of it are named. Ties go to the later step.
    """
    if not scores:
        raise invalid_argument("scores", "at least one checkpoint score", received="[]", error=ValueError)
    if all(score.held_out for score in scores):
        best = min(scores, key=lambda s: (s.held_out["gap"], -s.step))
        spread = best.held_out["synthetic_standard_error"]
        close = [s.checkpoint for s in scores if s is not best and s.held_out["gap"] - best.held_out["gap"] <= spread]
        reason = (f"`{best.checkpoint}` (step {best.step}) has the smallest held-out gap, {best.held_out['gap']:+.2f} "
                  f"(AUC {best.held_out['synthetic_auc']:.2f} ± {spread:.2f} against {best.held_out['num_unseen']} unseen "
                  f"real images; floor {best.held_out['floor_auc']:.2f})")
        return best, _closeness(reason, close, len(scores), "standard error")
    best = min(scores, key=lambda s: (s.kid.mean, -s.step))
    close = [s.checkpoint for s in scores if s is not best and s.kid.mean - best.kid.mean <= best.kid.std]
    reason = (f"`{best.checkpoint}` (step {best.step}) has the lowest KID ×1000, "
              f"{1000 * best.kid.mean:.2f} ± {1000 * best.kid.std:.2f}")
    return best, _closeness(reason, close, len(scores), "standard deviation")


def _closeness(reason: str, close: list[str], num_scores: int, unit: str) -> str:
    if close:
        verb = "lies" if len(close) == 1 else "lie"
        return reason + (f"; {', '.join(f'`{name}`' for name in close)} {verb} within one {unit} of it, "
                         "so the choice is not clear-cut (look at their previews too)")
    if num_scores == 1:
        return reason
    return reason + f", more than one {unit} below the other {num_scores - 1} checkpoint(s)"


def sample_command(run_dir: Path, checkpoint: str, class_name: str | None = None) -> str:
    """The `xgan sample` command that draws images from a checkpoint (of `class_name`, for a conditional run)."""
    command = f"xgan sample --run {shlex.quote(str(run_dir))} --checkpoint {shlex.quote(checkpoint)}"
    return command + (f" --class {shlex.quote(class_name)}" if class_name else "")


def score_checkpoints(run_dir: Path, checkpoints: list[str], real_features: np.ndarray, extractor, *,
                      num_images: int, seed: int, kid_subsets: int = 100, kid_subset_size: int = 1000,
                      class_name: str | None = None, unseen_features: np.ndarray | None = None,
                      num_folds: int = 5) -> list[CheckpointScore]:
    """Generate `num_images` from every checkpoint with one seed and score them.

    Args:
        run_dir: the GAN run folder.
        checkpoints: checkpoint names (from `gan.list_checkpoints`).
        real_features: (N, D) features of the real images the GAN read, from `extractor`.
        extractor: maps (N, S, S) uint8 images to features.
        num_images: images per checkpoint.
        seed: latent seed, the same for every checkpoint; also the KID subsets' and folds' seed.
        class_name: the class to draw from a conditional run; None for a one-class run.
        unseen_features: (V, D) features of real images of the class the GAN never read; with two or
            more, KID is computed against them and every score carries its held-out gap.
        num_folds: folds of the held-out two-sample test.
    """
    from ..gan import generate_images, load_generator

    scores = []
    for name in checkpoints:
        generator, info = load_generator(run_dir, name, class_name)
        images = generate_images(generator, num_images, seed, info["latent_dim"])
        features = extractor(images)
        held_out = unseen_features is not None and len(unseen_features) >= 2
        kid = kernel_inception_distance(unseen_features if held_out else real_features, features, num_subsets=kid_subsets,
                                        max_subset_size=kid_subset_size, seed=seed)
        gap = held_out_gap(real_features, features, unseen_features, num_folds=num_folds, seed=seed).to_dict() if held_out else None
        step = int(info.get("step") or 0)
        log.info("checkpoint %s (step %d): KID x 1000 = %.2f +- %.2f%s", name, step, 1000 * kid.mean, 1000 * kid.std,
                 f", held-out gap {gap['gap']:+.3f}" if gap else "")
        scores.append(CheckpointScore(name, step, kid, gap))
    return scores
