"""Metric functions on hand-made predictions with known answers."""

import math

import numpy as np
import pytest

from xgan.classifier.compare import verdict
from xgan.classifier.metrics import METRICS, batched_metric, binary_metrics, mcnemar_exact, paired_bootstrap, summarize_runs

# 4 positives, 6 negatives: the model finds 3 positives (one missed) and raises one false alarm.
Y_TRUE = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
PROBABILITY = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.3, 0.4, 0.05])


def test_binary_metrics_known_answers():
    result = binary_metrics(Y_TRUE, PROBABILITY, ("normal", "covid"))
    assert result["confusion_matrix"]["matrix"] == [[5, 1], [1, 3]]  # rows true normal/covid, columns predicted
    assert result["confusion_matrix"]["labels"] == ["normal", "covid"]
    assert result["sensitivity"] == pytest.approx(3 / 4)
    assert result["specificity"] == pytest.approx(5 / 6)
    assert result["accuracy"] == pytest.approx(8 / 10)
    assert result["balanced_accuracy"] == pytest.approx((3 / 4 + 5 / 6) / 2)
    assert result["precision"] == pytest.approx(3 / 4)
    assert result["f1"] == pytest.approx(3 / 4)
    # Of the 24 positive/negative pairs the positive scores higher in 21: the missed 0.2 is below 0.6, 0.3 and 0.4.
    assert result["roc_auc"] == pytest.approx(21 / 24)
    assert result["classification_report"]["covid"]["recall"] == pytest.approx(3 / 4)
    assert "covid" in result["classification_report_text"]
    assert (result["num_images"], result["num_positive"], result["num_negative"]) == (10, 4, 6)


def test_binary_metrics_one_class_gives_undefined_auc():
    result = binary_metrics([0, 0, 0], [0.1, 0.7, 0.2])
    assert math.isnan(result["roc_auc"]) and math.isnan(result["sensitivity"])
    assert result["specificity"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("y_true, probability, match", [
    ([0, 1, 2], [0.1, 0.2, 0.3], "Expected 0 \\(negative\\) and 1"),
    ([0, 1], [0.1, 0.2, 0.3], "Expected one probability per label"),
])
def test_binary_metrics_refuses_bad_input(y_true, probability, match):
    with pytest.raises(ValueError, match=match):
        binary_metrics(y_true, probability)


@pytest.mark.parametrize("name", METRICS)
def test_batched_metric_matches_scikit_learn(name):
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, (5, 40))
    probability = np.round(rng.random((5, 40)), 1)  # rounded: ties, which ROC-AUC must count as halves
    batched = batched_metric(name, y_true, probability)
    for row in range(5):
        expected = binary_metrics(y_true[row], probability[row])[name]
        assert batched[row] == pytest.approx(expected)


def test_paired_bootstrap_interval_contains_the_true_difference():
    # 400 test images; the arm is right on 85 % and the baseline on 70 % of them, in every seed.
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 400)
    def model(accuracy, seed):
        right = np.random.default_rng(seed).random(400) < accuracy
        return np.where(right == (y_true == 1), 0.9, 0.1)
    arm = np.stack([model(0.85, s) for s in (1, 2, 3)])
    baseline = np.stack([model(0.70, s) for s in (11, 12, 13)])
    result = paired_bootstrap(y_true, arm, baseline, "accuracy", num_resamples=1000, seed=0)
    assert result["low"] < 0.15 < result["high"]
    assert result["low"] > 0 and verdict(result) == "better"
    assert result["difference"] == pytest.approx(np.mean((arm >= 0.5) == y_true) - np.mean((baseline >= 0.5) == y_true))


def test_paired_bootstrap_of_identical_models_is_within_noise():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 60)
    scores = rng.random((3, 60))
    noisy = np.clip(scores + rng.normal(0, 0.05, scores.shape), 0, 1)
    result = paired_bootstrap(y_true, noisy, scores, "roc_auc", num_resamples=500, seed=0)
    assert result["low"] <= 0 <= result["high"]
    assert verdict(result) == "within noise"


def test_paired_bootstrap_is_seeded_and_refuses_mismatched_shapes():
    y_true = np.array([0, 1] * 10)
    arm, baseline = np.full((2, 20), 0.6), np.linspace(0, 1, 40).reshape(2, 20)
    assert paired_bootstrap(y_true, arm, baseline, "f1", num_resamples=50, seed=4) == paired_bootstrap(y_true, arm, baseline, "f1", num_resamples=50, seed=4)
    with pytest.raises(ValueError, match="Expected the baseline's shape"):
        paired_bootstrap(y_true, arm, baseline[:1], "f1")


def test_mcnemar_exact_known_table():
    # 10 images right only with the baseline, 2 right only with the arm: p = 2 * P(X <= 2 | 12, 1/2) = 2 * 79 / 4096.
    baseline = np.array([1] * 10 + [0] * 2 + [1] * 30 + [0] * 5, bool)
    arm = np.array([0] * 10 + [1] * 2 + [1] * 30 + [0] * 5, bool)
    result = mcnemar_exact(baseline, arm)
    assert (result["reference_only"], result["arm_only"], result["both_correct"], result["both_wrong"]) == (10, 2, 30, 5)
    assert result["p_value"] == pytest.approx(2 * 79 / 4096)


def test_mcnemar_without_discordant_images_is_one():
    assert mcnemar_exact([1, 0, 1], [1, 0, 1])["p_value"] == 1.0


def test_summarize_runs_uses_the_sample_std_and_skips_undefined():
    summary = summarize_runs([0.5, 0.7, float("nan"), 0.9])
    assert summary["mean"] == pytest.approx(0.7)
    assert summary["std"] == pytest.approx(0.2)
    assert summary["num_runs"] == 3
    assert summarize_runs([0.4])["std"] == 0.0


def test_verdict_is_plain_about_noise():
    assert verdict({"low": -0.01, "high": 0.2}) == "within noise"
    assert verdict({"low": 0.01, "high": 0.2}) == "better"
    assert verdict({"low": -0.3, "high": -0.2}) == "worse"
    assert verdict({"low": float("nan"), "high": 0.2}) == "undefined"


def test_holm_adjusts_step_down_and_keeps_the_order():
    from xgan.classifier.metrics import holm_adjust

    adjusted = holm_adjust({"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")})
    # Three defined: 0.01 x 3, then 0.03 x 2, then 0.04 x 1 raised to the running maximum 0.06.
    assert adjusted["a"] == pytest.approx(0.03) and adjusted["c"] == pytest.approx(0.06) and adjusted["b"] == pytest.approx(0.06)
    assert np.isnan(adjusted["d"])
    assert holm_adjust({"a": 0.6, "b": 0.9}) == {"a": 1.0, "b": 1.0}


def test_minimum_detectable_effect_is_about_1_43_half_widths():
    from xgan.classifier.metrics import minimum_detectable_effect

    assert minimum_detectable_effect(0.05) == pytest.approx(0.05 * (1.959964 + 0.841621) / 1.959964, rel=1e-5)
    assert minimum_detectable_effect(0.05, family_size=5) == pytest.approx(0.05 * (2.575829 + 0.841621) / 1.959964, rel=1e-5)
    assert np.isnan(minimum_detectable_effect(float("nan")))


def test_paired_bootstrap_re_chooses_thresholds_on_resampled_validation_images():
    from xgan.classifier.threshold import batched_thresholds

    rng = np.random.default_rng(2)
    y_true, validation_true = rng.integers(0, 2, 300), np.array([0, 1] * 15)  # a small validation split: noisy thresholds
    def scores(labels, seeds):
        return np.stack([np.clip(labels * 0.3 + np.random.default_rng(s).normal(0.35, 0.15, len(labels)), 0, 1) for s in seeds])
    arm, baseline = scores(y_true, (1, 2, 3)), scores(y_true, (4, 5, 6))
    arm_validation, baseline_validation = scores(validation_true, (7, 8, 9)), scores(validation_true, (10, 11, 12))
    stored = [batched_thresholds(validation_true, v) for v in (arm_validation, baseline_validation)]
    fixed = paired_bootstrap(y_true, arm, baseline, "balanced_accuracy", num_resamples=400, threshold=stored[0], baseline_threshold=stored[1])
    resampled = paired_bootstrap(y_true, arm, baseline, "balanced_accuracy", num_resamples=400, threshold=stored[0],
                                 baseline_threshold=stored[1], validation=(validation_true, arm_validation, baseline_validation),
                                 choose_thresholds=batched_thresholds)
    assert resampled["difference"] == fixed["difference"]  # the point estimate keeps the stored thresholds
    assert resampled["thresholds_resampled"] and not fixed["thresholds_resampled"]
    assert resampled["high"] - resampled["low"] > 1.2 * (fixed["high"] - fixed["low"])
    assert 0 <= resampled["p_value"] <= 1
    auc = paired_bootstrap(y_true, arm, baseline, "roc_auc", num_resamples=50, validation=(validation_true, arm_validation, baseline_validation),
                           choose_thresholds=batched_thresholds)
    assert not auc["thresholds_resampled"]  # no threshold in ROC-AUC
    with pytest.raises(ValueError, match="argument `choose_thresholds`"):
        paired_bootstrap(y_true, arm, baseline, "f1", validation=(validation_true, arm_validation, baseline_validation))
    with pytest.raises(ValueError, match="argument `validation`. Expected \\(seeds, 30\\)"):
        paired_bootstrap(y_true, arm, baseline, "f1", validation=(validation_true, arm_validation[:2], baseline_validation),
                         choose_thresholds=batched_thresholds)


def _scored_copies_bootstrap(y_true, arm, baseline, metric, num_resamples, seed, thresholds, validation=None, target=None):
    """The bootstrap written the plain way, as xgan did before it counted: every draw's scores copied out and scored
    (one chunk of resamples; arm and baseline (K, N) or (K, copies, N))."""
    from xgan.classifier.threshold import batched_thresholds

    rng = np.random.default_rng(seed)
    num_seeds, num_images = arm.shape[0], arm.shape[-1]
    images = rng.integers(0, num_images, (num_resamples, num_images))
    seeds = rng.integers(0, num_seeds, (num_resamples, num_seeds))
    cuts = [t[seeds] for t in thresholds]
    if validation is not None and metric != "roc_auc":
        draw = rng.integers(0, len(validation[0]), (num_resamples, len(validation[0])))
        for side in (0, 1):
            chosen = batched_thresholds(validation[0][draw][:, None, :], validation[side + 1][seeds[:, :, None], draw[:, None, :]], target)
            cuts[side] = np.where(np.isfinite(chosen), chosen, cuts[side])
    scored = []
    for scores, cut in zip((arm, baseline), cuts):
        if scores.ndim == 2:
            scored.append(batched_metric(metric, y_true[images][:, None, :], scores[seeds[:, :, None], images[:, None, :]], cut[..., None]))
        else:
            copies = np.arange(scores.shape[1])[None, None, :, None]
            drawn = scores[seeds[:, :, None, None], copies, images[:, None, None, :]]
            scored.append(batched_metric(metric, y_true[images][:, None, None, :], drawn, cut[..., None, None]).mean(-1))
    differences = (scored[0] - scored[1]).mean(1)
    defined = differences[np.isfinite(differences)]
    tail = (1 - 0.95) / 2 * 100  # as the library writes it (2.5000000000000022)
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high), len(differences) - len(defined)


@pytest.mark.parametrize("metric", METRICS)
def test_the_counted_bootstrap_equals_scoring_every_drawn_copy(metric):
    """The bootstrap scores binary models from how often each image was drawn: the very intervals of copying every
    draw's scores out, with thresholds stored or re-chosen on drawn validation images, ties, one-class draws, copies."""
    from xgan.classifier.metrics import paired_bootstrap_over_copies
    from xgan.classifier.threshold import ThresholdRule, batched_thresholds

    rng = np.random.default_rng(5)
    for case in range(8):
        num_images, num_seeds, decimals = int(rng.integers(3, 40)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        y_true = (rng.random(num_images) < 0.4).astype(int)
        validation_true = (rng.random(25) < 0.4).astype(int)
        arm, baseline = (np.round(rng.random((num_seeds, num_images)), decimals) for _ in range(2))
        validation = (validation_true, *(np.round(rng.random((num_seeds, 25)), decimals) for _ in range(2)))
        thresholds = [rng.random(num_seeds), rng.random(num_seeds)]
        target = (None, 0.9)[case % 2]
        for rule in (ThresholdRule(target), lambda labels, scores: batched_thresholds(labels, scores, target)):
            result = paired_bootstrap(y_true, arm, baseline, metric, num_resamples=150, seed=case, threshold=thresholds[0],
                                      baseline_threshold=thresholds[1], validation=validation, choose_thresholds=rule)
            expected = _scored_copies_bootstrap(y_true, arm, baseline, metric, 150, case, thresholds, validation, target)
            assert (result["low"], result["high"], result["num_undefined"]) == expected
        copies = (np.round(rng.random((num_seeds, 3, num_images)), decimals) for _ in range(2))
        arm, baseline = copies
        result = paired_bootstrap_over_copies(y_true, arm, baseline, metric, num_resamples=150, seed=case, threshold=thresholds[0],
                                              baseline_threshold=thresholds[1], validation=validation, choose_thresholds=ThresholdRule(target))
        expected = _scored_copies_bootstrap(y_true, arm, baseline, metric, 150, case, thresholds, validation, target)
        assert (result["low"], result["high"], result["num_undefined"]) == expected
