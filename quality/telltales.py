"""Which simple image statistics give synthetic images away, measured against unseen real images.

Every image is reduced to a handful of numbers a radiologist's eye also reads: brightness, contrast,
the intensity histogram, sharpness (variance of the Laplacian), fine-grain noise and the share of
high-frequency power. For each statistic, the AUC of synthetic versus unseen real images says how
well it alone tells them apart (0.5: not at all; above 0.5: synthetic images score higher), and the
floor AUC of the GAN's training images versus the same unseen images says how much two real sets
differ in it anyway. Statistics are ranked by how far the synthetic AUC lies beyond that floor.

One statistic is learned from the unseen films rather than fixed: the energy an image has outside
the principal subspace that real films span (`off_subspace_energy`). Simple statistics can all match
while synthetic images still carry structure no real film has, which is what a linear two-sample
classifier on pixels finds; this number shows it.
"""

import numpy as np

from ..errors import invalid_argument
from ..measures.pixels import check_images

HISTOGRAM_BINS = 8
OFF_SUBSPACE = "energy off the unseen films' principal subspace (16x16, 95% of variance)"
# A statistic is named a giveaway when its AUC is this much further from 0.5 than the floor's.
GIVEAWAY_MARGIN = 0.1


def _laplacian(images: np.ndarray) -> np.ndarray:
    """The 4-neighbour discrete Laplacian of the interior pixels."""
    return (images[:, :-2, 1:-1] + images[:, 2:, 1:-1] + images[:, 1:-1, :-2] + images[:, 1:-1, 2:]
            - 4.0 * images[:, 1:-1, 1:-1])


def _box_blur(images: np.ndarray) -> np.ndarray:
    """The 3x3 mean of the interior pixels."""
    total = np.zeros_like(images[:, 1:-1, 1:-1])
    size = images.shape[1]
    for dy in range(3):
        for dx in range(3):
            total += images[:, dy:dy + size - 2, dx:dx + images.shape[2] - 2]
    return total / 9.0


def _high_frequency_share(images: np.ndarray) -> np.ndarray:
    """Share of each image's non-constant spectral power above half the Nyquist frequency."""
    centred = images - images.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(centred)) ** 2
    fy = np.fft.fftfreq(images.shape[1])[:, None]
    fx = np.fft.fftfreq(images.shape[2])[None, :]
    high = np.hypot(fy, fx) > 0.25  # the Nyquist frequency is 0.5 cycles per pixel
    total = power.sum(axis=(1, 2))
    return np.where(total > 0, (power * high).sum(axis=(1, 2)) / np.maximum(total, 1e-12), 0.0)


def _grid_power_share(images: np.ndarray) -> np.ndarray:
    """Share of each image's non-constant spectral power at the periods 2 and 4 of strided upsampling (its checkerboard)."""
    centred = images - images.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(centred)) ** 2
    fy = np.abs(np.fft.fftfreq(images.shape[1]))[:, None]
    fx = np.abs(np.fft.fftfreq(images.shape[2]))[None, :]
    on_grid = np.isin(fy, (0.0, 0.25, 0.5)) & np.isin(fx, (0.0, 0.25, 0.5))
    total = power.sum(axis=(1, 2))
    return np.where(total > 0, (power * on_grid).sum(axis=(1, 2)) / np.maximum(total, 1e-12), 0.0)


def image_statistics(images) -> dict[str, np.ndarray]:
    """Per-image statistics of (N, S, S) uint8 images (S >= 3), intensities scaled to [0, 1].

    Returns:
        An ordered dict name -> (N,) float array: mean intensity, contrast (standard deviation),
        the share of pixels in each of `HISTOGRAM_BINS` equal intensity bins, sharpness (variance
        of the Laplacian), noise (standard deviation of what a 3x3 mean filter removes) and the
        share of high-frequency power (above half the Nyquist frequency), and the share of power at
        the periods 2 and 4 pixels in either direction, where stride-2 transposed convolutions leave
        their checkerboard.
    """
    images = check_images(images)
    if images.shape[1] < 3 or images.shape[2] < 3:
        raise invalid_argument("images", "images of at least 3x3 pixels", received=f"images with shape {images.shape}", error=ValueError)
    values = images.astype(np.float64) / 255.0
    statistics = {"mean intensity": values.mean(axis=(1, 2)), "contrast (intensity std)": values.std(axis=(1, 2))}
    bins = np.minimum((values * HISTOGRAM_BINS).astype(np.int64), HISTOGRAM_BINS - 1)
    for index in range(HISTOGRAM_BINS):
        low, high = index / HISTOGRAM_BINS, (index + 1) / HISTOGRAM_BINS
        statistics[f"share of pixels in [{low:.3g}, {high:.3g}{']' if index == HISTOGRAM_BINS - 1 else ')'}"] = (
            (bins == index).mean(axis=(1, 2)))
    statistics["sharpness (variance of the Laplacian)"] = _laplacian(values).var(axis=(1, 2))
    statistics["noise (std of the 3x3 high-pass)"] = (values[:, 1:-1, 1:-1] - _box_blur(values)).std(axis=(1, 2))
    statistics["high-frequency power share"] = _high_frequency_share(values)
    statistics["checkerboard power share (periods 2 and 4)"] = _grid_power_share(values)
    return statistics


def off_subspace_energy(training, synthetic, unseen, *, size: int = 16, variance: float = 0.95,
                        seed: int = 0) -> dict[str, np.ndarray]:
    """Each image's energy outside the principal subspace of unseen real films, out of sample.

    The images are shrunk to `size` x `size` (as the pixel features are); the unseen images are split
    in two halves, and each half's principal components (as many as hold `variance` of its variance)
    measure the other half and every training and synthetic image: the squared distance from the
    subspace, averaged over the two halves for training and synthetic images. A real film lies close to
    the subspace other real films span; structure no real film has shows up as energy outside it.

    Returns:
        {"training": (N,), "synthetic": (M,), "unseen": (V,)} energies, V >= 4.
    """
    from ..measures.pixels import PixelFeatures

    shrink = PixelFeatures(size)
    sets = {"training": shrink(training), "synthetic": shrink(synthetic), "unseen": shrink(unseen)}
    num_unseen = len(sets["unseen"])
    if num_unseen < 4:
        raise invalid_argument("unseen", "at least 4 images", received=f"{num_unseen}", error=ValueError)
    order = np.random.default_rng(seed).permutation(num_unseen)
    halves = (order[: num_unseen // 2], order[num_unseen // 2:])
    energy = {"training": np.zeros(len(sets["training"])), "synthetic": np.zeros(len(sets["synthetic"])),
              "unseen": np.zeros(num_unseen)}
    for fit, other in (halves, halves[::-1]):
        reference = sets["unseen"][fit].astype(np.float64)
        mean = reference.mean(axis=0)
        _, singular, components = np.linalg.svd(reference - mean, full_matrices=False)
        explained = np.cumsum(singular ** 2) / max(float((singular ** 2).sum()), 1e-12)
        basis = components[: int(np.searchsorted(explained, variance) + 1)]

        def residual(values):
            centred = values.astype(np.float64) - mean
            return ((centred - (centred @ basis.T) @ basis) ** 2).sum(axis=1)

        energy["unseen"][other] = residual(sets["unseen"][other])
        energy["training"] += residual(sets["training"]) / 2
        energy["synthetic"] += residual(sets["synthetic"]) / 2
    return energy


def rank_auc(negative, positive) -> float:
    """ROC AUC of `positive` against `negative` from one score each (Mann-Whitney, ties count half)."""
    negative, positive = np.asarray(negative, np.float64), np.asarray(positive, np.float64)
    if len(negative) == 0 or len(positive) == 0:
        raise invalid_argument(("negative", "positive"), "non-empty score arrays", received=f"{len(negative)} and {len(positive)} scores",
                               error=ValueError)
    combined = np.concatenate([negative, positive])
    order = np.argsort(combined, kind="mergesort")
    ranks = np.empty(len(combined))
    sorted_values = combined[order]
    # average ranks over ties
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(combined)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    positive_ranks = ranks[len(negative):].sum()
    return float((positive_ranks - len(positive) * (len(positive) + 1) / 2.0) / (len(positive) * len(negative)))


def telltale_statistics(training, synthetic, unseen) -> list[dict]:
    """Every statistic of `image_statistics`, ranked by how much better it spots synthetic images than real ones.

    Args:
        training: (N, S, S) uint8, the real images the GAN read.
        synthetic: (M, S, S) uint8 synthetic images.
        unseen: (V, S, S) uint8 real images of the class the GAN never read.

    Returns:
        One dict per statistic, the most telling first: `statistic`, the medians of each set,
        `auc` (synthetic vs unseen; above 0.5: synthetic higher), `floor_auc` (training vs unseen),
        `excess` (|auc - 0.5| - |floor_auc - 0.5|), `direction` ("higher"/"lower") and
        `giveaway` (excess of at least `GIVEAWAY_MARGIN`).
    """
    sets = {name: image_statistics(images) for name, images in
            (("training", training), ("synthetic", synthetic), ("unseen", unseen))}
    if len(unseen) >= 4:
        for name, values in off_subspace_energy(training, synthetic, unseen).items():
            sets[name][OFF_SUBSPACE] = values
    rows = []
    for statistic in sets["synthetic"]:
        auc = rank_auc(sets["unseen"][statistic], sets["synthetic"][statistic])
        floor = rank_auc(sets["unseen"][statistic], sets["training"][statistic])
        excess = abs(auc - 0.5) - abs(floor - 0.5)
        rows.append({
            "statistic": statistic,
            "median_synthetic": float(np.median(sets["synthetic"][statistic])),
            "median_unseen": float(np.median(sets["unseen"][statistic])),
            "median_training": float(np.median(sets["training"][statistic])),
            "auc": auc, "floor_auc": floor, "excess": float(excess),
            "direction": "higher" if auc >= 0.5 else "lower",
            "giveaway": bool(excess >= GIVEAWAY_MARGIN),
        })
    return sorted(rows, key=lambda row: -row["excess"])


def describe_telltales(rows: list[dict], limit: int = 3) -> str:
    """One sentence naming the statistics that give synthetic images away, or saying none does."""
    giveaways = [row for row in rows if row["giveaway"]][:limit]
    if not giveaways:
        return (f"no single image statistic (intensity histogram, sharpness, noise, spectrum) tells synthetic from unseen "
                f"real images more than {GIVEAWAY_MARGIN} AUC beyond the real-versus-real floor")
    parts = [f"{row['statistic']} is {row['direction']} (median {row['median_synthetic']:.3g} against "
             f"{row['median_unseen']:.3g} unseen; AUC {row['auc']:.2f}, floor {row['floor_auc']:.2f})" for row in giveaways]
    return "what gives synthetic images away: " + "; ".join(parts)
