"""Signs that GAN training has failed, read from its history and its previews (pure functions)."""

import math

import numpy as np

LOSS_KEYS = ("d_loss", "g_loss", "noise_loss")  # a DCGAN's, a diffusion model's
ACCURACY_KEYS = ("d_real_acc", "d_fake_acc")  # the discriminator's (a DCGAN's only)
# What the progress bar and the run summary show of an epoch: each family's keys, in this order.
SHOWN_KEYS = (*LOSS_KEYS, *ACCURACY_KEYS)
# The discriminator tells (augmented) real from fake this well for this many epochs: the generator
# no longer fools it at all, which after the first epochs means collapse or divergence.
WINNING_ACCURACY = 0.98
WINNING_EPOCHS = 10
# Previews this much less varied than the real images: the generator draws (nearly) one image.
COLLAPSED_DIVERSITY = 0.2
# The config.json key under which a run records the diversity of its real preview-sized sample.
REAL_DIVERSITY_KEY = "real_preview_diversity"


def has_non_finite_loss(entry: dict) -> bool:
    """True when a history entry's losses are NaN or infinite."""
    return any(not math.isfinite(float(entry.get(key, 0.0))) for key in LOSS_KEYS)


def discriminator_wins(history: list[dict], epochs: int = WINNING_EPOCHS, accuracy: float = WINNING_ACCURACY) -> bool:
    """True when, over the last `epochs` epochs, the discriminator was right on nearly every real and fake image."""
    recent = history[-epochs:]
    if len(recent) < epochs:
        return False
    return all(e.get("d_real_acc", 0.0) >= accuracy and e.get("d_fake_acc", 0.0) >= accuracy for e in recent)


def image_diversity(images: np.ndarray) -> float:
    """Mean over pixels of the standard deviation across images (gray levels 0-255); 0 for identical images."""
    images = np.asarray(images, dtype=np.float64)
    if len(images) < 2:
        return 0.0
    return float(images.std(axis=0).mean())


def is_collapsed(preview_diversity: float, real_diversity: float, best_diversity: float,
                 threshold: float = COLLAPSED_DIVERSITY) -> bool:
    """True when generated images vary less than `threshold` times as much as the real ones, and
    less than half as much as they did earlier in the run.

    A generator starts out drawing near-constant images; only a fall from a higher diversity is a
    collapse.
    """
    return (real_diversity > 0 and preview_diversity < threshold * real_diversity
            and preview_diversity < 0.5 * best_diversity)


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def history_problems(history: list[dict], real_diversity: float | None) -> list[str]:
    """One plain sentence per sign of failure in a GAN run's history; [] for a healthy run.

    Judges the state the run ended in, the one a sample would be drawn from: a loss that became
    NaN or infinite (history.json stores those as null), a discriminator that wins over the last
    `WINNING_EPOCHS` epochs, and a last preview that collapsed (see `is_collapsed`).

    Args:
        history: the entries of history.json, oldest first.
        real_diversity: `image_diversity` of the real preview-sized sample, or None when the run
            did not record it (the collapse check is then skipped).
    """
    problems = []
    diverged = next((entry for entry in history
                     if any(key in entry and not _is_finite_number(entry[key]) for key in LOSS_KEYS)), None)
    if diverged is not None:
        problems.append(f"training diverged at epoch {diverged.get('epoch')}: the losses became NaN or infinite")
        return problems  # what follows a NaN says nothing more
    if discriminator_wins(history):
        last = history[-1]
        problems.append(f"the discriminator told real from fake almost perfectly over the last {WINNING_EPOCHS} epochs "
                        f"(epochs {history[-WINNING_EPOCHS].get('epoch')}-{last.get('epoch')}; at the end real "
                        f"{last.get('d_real_acc', 0):.2f}, fake {last.get('d_fake_acc', 0):.2f}): the generator no longer fools it")
    previews = [entry for entry in history if _is_finite_number(entry.get("preview_diversity"))]
    if previews and real_diversity:
        last = previews[-1]
        best = max(entry["preview_diversity"] for entry in previews)
        if is_collapsed(last["preview_diversity"], real_diversity, best):
            problems.append(f"the generator collapsed: its last previews (epoch {last.get('epoch')}) vary "
                            f"{last['preview_diversity']:.1f} gray levels per pixel against {real_diversity:.1f} for the "
                            f"real images and {best:.1f} earlier in the run")
    return problems


def training_problems(run_dir) -> list[str]:
    """One plain sentence per problem of a finished or stopped GAN run (diverged, discriminator
    winning, collapsed); [] when it looks healthy or has no history yet.

    Reads only the run folder (history.json and config.json), so it answers after the training
    process has ended.

    Raises:
        UserError: `run_dir` is not a GAN run folder.
    """
    from ..runs import read_gan_config, read_history

    config = read_gan_config(run_dir)
    return history_problems(read_history(run_dir), config.get(REAL_DIVERSITY_KEY))

