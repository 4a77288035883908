"""The held-out realism measure (gap to the real-versus-real floor) and the image statistics that give synthetic images away."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from xgan.quality.kid import KidResult
from xgan.quality.realism import describe_gap, held_out_gap
from xgan.quality.report import held_out_lines
from xgan.quality.selection import CheckpointScore, recommend_checkpoint
from xgan.quality.telltales import describe_telltales, image_statistics, rank_auc, telltale_statistics


def features(seed, rows, shift=0.0, dimension=4):
    return np.random.default_rng(seed).normal(shift, 1.0, (rows, dimension))


def test_a_copy_of_the_training_set_has_no_gap():
    training, unseen = features(0, 30), features(1, 40)
    gap = held_out_gap(training, training.copy(), unseen, num_folds=5, seed=0)
    assert gap.synthetic_auc == gap.floor_auc and gap.gap == 0.0
    assert gap.synthetic_draw_aucs == [gap.floor_auc]  # as many synthetic as training images: one draw
    assert gap.gap_ci_low == pytest.approx(-1.96 * gap.gap_standard_error)
    assert gap.gap_standard_error == pytest.approx(np.hypot(gap.synthetic_standard_error, gap.floor_standard_error))


def test_separable_synthetic_images_have_the_largest_gap_and_are_subsampled_to_the_training_size():
    training, unseen, synthetic = features(0, 20), features(1, 40), features(2, 100, shift=20.0)
    gap = held_out_gap(training, synthetic, unseen, num_folds=4, num_draws=3, seed=0)
    assert gap.synthetic_draw_aucs == [1.0, 1.0, 1.0] and gap.synthetic_auc == 1.0
    assert gap.gap == pytest.approx(1.0 - gap.floor_auc)
    assert (gap.num_per_draw, gap.num_synthetic, gap.num_training, gap.num_unseen, gap.num_folds) == (20, 100, 20, 40, 4)
    assert "held-out gap in pixels16: " in describe_gap("pixels16", gap.to_dict())


def test_folds_shrink_to_the_smallest_set_and_bad_arguments_are_refused():
    assert held_out_gap(features(0, 3), features(1, 10), features(2, 10), num_folds=5).num_folds == 3
    with pytest.raises(ValueError, match="Expected a positive integer. Received: num_draws=0"):
        held_out_gap(features(0, 10), features(1, 10), features(2, 10), num_draws=0)
    with pytest.raises(ValueError, match="Expected at least 2 images in every set. Received: 10 training, 10 synthetic, 1 unseen"):
        held_out_gap(features(0, 10), features(1, 10), features(2, 1))


@pytest.mark.parametrize("negative, positive", [([0, 1, 2], [3, 4]), ([1, 1, 2, 5], [1, 2, 2]), ([3, 3], [3])])
def test_rank_auc_matches_scikit_learn_with_ties(negative, positive):
    expected = roc_auc_score([0] * len(negative) + [1] * len(positive), negative + positive)
    assert rank_auc(negative, positive) == pytest.approx(expected)


def test_image_statistics_of_known_images():
    flat = np.full((2, 8, 8), 255, np.uint8)
    stripes = np.zeros((1, 8, 8), np.uint8)
    stripes[:, :, ::2] = 255
    statistics = image_statistics(np.concatenate([flat, stripes]))
    assert statistics["mean intensity"].tolist() == [1.0, 1.0, 0.5]
    assert statistics["share of pixels in [0.875, 1]"].tolist() == [1.0, 1.0, 0.5]
    assert statistics["share of pixels in [0, 0.125)"].tolist() == [0.0, 0.0, 0.5]
    assert statistics["sharpness (variance of the Laplacian)"][:2].tolist() == [0.0, 0.0]
    assert statistics["sharpness (variance of the Laplacian)"][2] == pytest.approx(4.0)  # Laplacian +-2 on every interior pixel
    assert statistics["high-frequency power share"].tolist() == [0.0, 0.0, 1.0]  # columns alternate at the Nyquist frequency
    assert statistics["checkerboard power share (periods 2 and 4)"].tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="Expected images of at least 3x3 pixels"):
        image_statistics(np.zeros((1, 2, 2), np.uint8))


def test_blurred_synthetic_images_are_given_away_by_their_sharpness():
    rng = np.random.default_rng(0)
    training = rng.integers(0, 256, (30, 16, 16)).astype(np.uint8)
    unseen = rng.integers(0, 256, (30, 16, 16)).astype(np.uint8)
    blurred = training.astype(np.float64)
    blurred = (blurred + np.roll(blurred, 1, 1) + np.roll(blurred, 1, 2) + np.roll(blurred, (1, 1), (1, 2))) / 4
    rows = telltale_statistics(training, blurred.astype(np.uint8), unseen)
    by_name = {row["statistic"]: row for row in rows}
    sharpness = by_name["sharpness (variance of the Laplacian)"]
    assert sharpness["auc"] == 0.0 and sharpness["direction"] == "lower" and sharpness["giveaway"]
    assert rows[0]["excess"] == max(row["excess"] for row in rows) and rows[0]["giveaway"]
    assert "what gives synthetic images away: " in describe_telltales(rows)
    same = telltale_statistics(training, training, training)
    assert not any(row["giveaway"] for row in same)
    assert describe_telltales(same).startswith("no single image statistic")


def gap_score(name, step, gap, error=0.02):
    held_out = {"gap": gap, "synthetic_auc": 0.7 + gap, "synthetic_standard_error": error, "floor_auc": 0.7, "num_unseen": 40}
    return CheckpointScore(name, step, KidResult(0.01, 0.001, 10, 10, 10, 10), held_out)


def test_selection_uses_the_held_out_gap_when_every_checkpoint_has_one():
    best, reason = recommend_checkpoint([gap_score("a", 50, 0.30), gap_score("b", 100, 0.10), gap_score("c", 150, 0.25)])
    assert best.checkpoint == "b" and "smallest held-out gap, +0.10" in reason
    assert "more than one standard error below the other 2" in reason
    best, reason = recommend_checkpoint([gap_score("a", 50, 0.11), gap_score("b", 100, 0.10)])
    assert best.checkpoint == "b" and "`a` lies within one standard error" in reason


def test_the_report_section_reads_out_the_gap_and_the_giveaways():
    gap = held_out_gap(features(0, 20), features(1, 20, shift=5.0), features(2, 30)).to_dict()
    kid = KidResult(0.002, 0.001, 20, 10, 30, 20).to_dict()
    pr = {"precision": 0.5, "recall": 0.25}
    telltales = [{"statistic": "mean intensity", "median_synthetic": 0.6, "median_unseen": 0.5, "median_training": 0.5,
                  "auc": 0.9, "floor_auc": 0.5, "excess": 0.4, "direction": "higher", "giveaway": True}]
    report = {"held_out": {"pixels16": gap}, "telltales": telltales,
              "features": {"pixels16": {"val": {"kid_synthetic_vs_val": kid, "precision_recall_synthetic_vs_val": pr}}}}
    text = "\n".join(held_out_lines(report))
    assert f"| pixels16 | **{gap['gap']:+.2f}** [" in text and "| 2.00 ± 1.00 (n=20) | 0.50 | 0.25 |" in text
    assert "mean intensity is higher (median 0.6 against 0.5 unseen; AUC 0.90, floor 0.50)" in text
    assert held_out_lines({"held_out": {}}) == []


def test_off_subspace_energy_finds_structure_no_real_film_has():
    from xgan.quality.telltales import OFF_SUBSPACE, off_subspace_energy

    rng = np.random.default_rng(0)
    # Real films: smooth horizontal gradients of random brightness and slope (a two-dimensional family).
    ramp = np.linspace(-1, 1, 16)[None, None, :]

    def films(count):
        values = 128 + 40 * rng.uniform(-1, 1, (count, 1, 1)) + 40 * rng.uniform(-1, 1, (count, 1, 1)) * ramp
        return np.repeat(values, 16, axis=1).astype(np.uint8)

    training, unseen = films(20), films(20)
    noisy = np.clip(films(20) + rng.normal(0, 20, (20, 16, 16)), 0, 255).astype(np.uint8)
    energy = off_subspace_energy(training, noisy, unseen)
    assert {name: len(values) for name, values in energy.items()} == {"training": 20, "synthetic": 20, "unseen": 20}
    assert energy["synthetic"].min() > energy["training"].max()
    row = next(row for row in telltale_statistics(training, noisy, unseen) if row["statistic"] == OFF_SUBSPACE)
    assert row["auc"] == 1.0 and row["giveaway"] and row["direction"] == "higher"
    with pytest.raises(ValueError, match="Expected at least 4 images. Received: 3"):
        off_subspace_energy(training, noisy, unseen[:3])
