"""Checkpoint selection: score a GAN run's generator checkpoints by KID and say which to sample from.

Every checkpoint generates from the same latents (one seed), so the comparison is paired: the
differences come from the generators, not from the draw.
"""

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .kid import KidResult, kernel_inception_distance

log = logging.getLogger("xgan")


@dataclass(frozen=True)
class CheckpointScore:
    """KID of one generator checkpoint against the real reference."""

    checkpoint: str
    step: int
    kid: KidResult

    def to_dict(self, feature_name: str) -> dict:
        return {"checkpoint": self.checkpoint, "step": self.step, "kid": self.kid.to_dict(), "feature_name": feature_name}


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
        raise UserError(f"Invalid value received for argument `--checkpoints`. Expected 'all' or names among "
                        f"{', '.join(available)}. Received: checkpoints={requested!r}")
    return [name for name in available if name in names]


def recommend_checkpoint(scores: list[CheckpointScore]) -> tuple[CheckpointScore, str]:
    """The checkpoint with the lowest mean KID, and a sentence saying how clear the choice is.

    Ties in the mean go to the later step. Checkpoints whose mean lies within one standard
    deviation of the best's are named, as the data cannot tell them apart.
    """
    if not scores:
        raise ValueError("Invalid value received for argument `scores`. Expected at least one checkpoint score. Received: []")
    best = min(scores, key=lambda s: (s.kid.mean, -s.step))
    close = [s.checkpoint for s in scores if s is not best and s.kid.mean - best.kid.mean <= best.kid.std]
    reason = (f"`{best.checkpoint}` (step {best.step}) has the lowest KID ×1000, "
              f"{1000 * best.kid.mean:.2f} ± {1000 * best.kid.std:.2f}")
    if close:
        verb = "lies" if len(close) == 1 else "lie"
        reason += (f"; {', '.join(f'`{name}`' for name in close)} {verb} within one standard deviation of it, "
                   "so the choice is not clear-cut (look at their previews too)")
    else:
        reason += f", more than one standard deviation below the other {len(scores) - 1} checkpoint(s)"
    return best, reason


def sample_command(run_dir: Path, checkpoint: str, class_name: str | None = None) -> str:
    """The `xgan sample` command that draws images from a checkpoint (of `class_name`, for a conditional run)."""
    command = f"xgan sample --run {shlex.quote(str(run_dir))} --checkpoint {shlex.quote(checkpoint)}"
    return command + (f" --class {shlex.quote(class_name)}" if class_name else "")


def score_checkpoints(run_dir: Path, checkpoints: list[str], real_features: np.ndarray, extractor, *,
                      num_images: int, seed: int, kid_subsets: int = 100, kid_subset_size: int = 1000,
                      class_name: str | None = None) -> list[CheckpointScore]:
    """Generate `num_images` from every checkpoint with one seed and compute KID against `real_features`.

    Args:
        run_dir: the GAN run folder.
        checkpoints: checkpoint names (from `gan.list_checkpoints`).
        real_features: (N, D) features of the real reference, from `extractor`.
        extractor: maps (N, S, S) uint8 images to features.
        num_images: images per checkpoint.
        seed: latent seed, the same for every checkpoint; also the KID subsets' seed.
        class_name: the class to draw from a conditional run; None for a one-class run.
    """
    from ..gan import generate_images, load_generator

    scores = []
    for name in checkpoints:
        generator, info = load_generator(run_dir, name, class_name)
        images = generate_images(generator, num_images, seed, info["latent_dim"])
        kid = kernel_inception_distance(real_features, extractor(images), num_subsets=kid_subsets,
                                        max_subset_size=kid_subset_size, seed=seed)
        step = int(info.get("step") or 0)
        log.info("checkpoint %s (step %d): KID x 1000 = %.2f +- %.2f", name, step, 1000 * kid.mean, 1000 * kid.std)
        scores.append(CheckpointScore(name, step, kid))
    return scores
