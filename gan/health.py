"""Signs that GAN training has failed, read from its history and its previews (pure functions)."""

import math

import numpy as np

LOSS_KEYS = ("d_loss", "g_loss")
# The discriminator tells (augmented) real from fake this well for this many epochs: the generator
# no longer fools it at all, which after the first epochs means collapse or divergence.
WINNING_ACCURACY = 0.98
WINNING_EPOCHS = 10
# Previews this much less varied than the real images: the generator draws (nearly) one image.
COLLAPSED_DIVERSITY = 0.2


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
