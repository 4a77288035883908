import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from xgan.classifier.calibration import brier_score, calibration_metrics, expected_calibration_error, reliability_bins


def test_binary_ece_and_brier_known_answers():
    y_true = [0, 0, 1, 1]
    probability = [0.05, 0.15, 0.95, 0.15]  # bins [0, 0.1): 0.05 vs 0/1; [0.1, 0.2): 0.15 vs 1/2; [0.9, 1]: 0.95 vs 1/1
    expected = (1 * 0.05 + 2 * abs(0.15 - 0.5) + 1 * 0.05) / 4
    assert expected_calibration_error(y_true, probability) == pytest.approx(expected)
    assert brier_score(y_true, probability) == pytest.approx(brier_score_loss(y_true, probability))


def test_binary_bins_match_scikit_learns_calibration_curve():
    rng = np.random.default_rng(1)
    probability = rng.random(500)
    y_true = (rng.random(500) < probability ** 2).astype(int)
    bins = [b for b in reliability_bins(y_true, probability) if b["count"]]
    observed, predicted = calibration_curve(y_true, probability, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([b["observed"] for b in bins], observed)
    np.testing.assert_allclose([b["mean_probability"] for b in bins], predicted)


def test_a_probability_of_one_falls_in_the_last_bin_and_empty_bins_are_nan():
    bins = reliability_bins([1, 1], [1.0, 0.95], num_bins=4)
    assert [b["count"] for b in bins] == [0, 0, 0, 2]
    assert math.isnan(bins[0]["observed"]) and bins[3]["mean_probability"] == pytest.approx(0.975)


def test_a_perfectly_calibrated_model_has_a_small_ece():
    rng = np.random.default_rng(0)
    probability = rng.random(20000)
    y_true = (rng.random(20000) < probability).astype(int)
    assert expected_calibration_error(y_true, probability) < 0.02
    assert expected_calibration_error(y_true, np.clip(probability + 0.3, 0, 1)) > 0.2


def test_softmax_uses_the_top_label_and_the_multiclass_brier_score():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])
    y_true = [0, 1, 1]  # top labels 0 (right, 0.7), 2 (wrong, 0.8), 1 (right, 0.6)
    assert expected_calibration_error(y_true, probabilities) == pytest.approx((abs(0.7 - 1) + abs(0.8 - 0) + abs(0.6 - 1)) / 3)
    expected_brier = ((0.3 ** 2 + 0.2 ** 2 + 0.1 ** 2) + (0.1 ** 2 + 0.9 ** 2 + 0.8 ** 2) + (0.3 ** 2 + 0.4 ** 2 + 0.1 ** 2)) / 3
    assert brier_score(y_true, probabilities) == pytest.approx(expected_brier)


def test_calibration_metrics_bundles_every_figure():
    record = calibration_metrics([0, 1], [0.2, 0.9], num_bins=5)
    assert set(record) == {"ece", "brier", "num_bins", "bins"} and record["num_bins"] == 5 and len(record["bins"]) == 5


def test_an_empty_set_is_undefined():
    assert math.isnan(expected_calibration_error([], [])) and math.isnan(brier_score([], []))


@pytest.mark.parametrize("y_true, probability, num_bins, match", [
    ([0, 1], [0.5], 10, "Expected one probability per label \\(2\\). Received: 1"),
    ([0, 2], [0.5, 0.5], 10, "Expected 0 \\(negative\\) and 1 \\(positive\\) only"),
    ([0, 3], [[0.5, 0.5], [0.5, 0.5]], 10, "Expected class indices 0 to 1"),
    ([0, 1], [0.5, 0.5], 0, "Expected a positive integer. Received: num_bins=0"),
])
def test_bad_input_is_refused(y_true, probability, num_bins, match):
    with pytest.raises(ValueError, match=match):
        calibration_metrics(y_true, probability, num_bins)
